"""The ``plugbay`` command line."""

from __future__ import annotations

import logging
import shlex
import sys
import traceback
from typing import Any

import click
import msgspec

from plugbay._plugins import PluginLoadError, PluginManager
from plugbay._registrars import PluginError
from plugbay._settings import ConfigError, Settings, load_settings

log = logging.getLogger("plugbay")


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _load(config: str | None, *, registry_only: bool = False) -> Settings:
    try:
        return load_settings(config, registry_only=registry_only)
    except ConfigError as exc:
        _fail(str(exc))
        raise  # unreachable


def _plugins(settings: Settings) -> PluginManager:
    try:
        return PluginManager.build(settings.plugins)
    except PluginLoadError as exc:
        cause = exc.__cause__
        if cause is not None:
            click.echo("".join(traceback.format_exception(cause)), err=True)
        _fail(str(exc), code=1)
        raise  # unreachable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plugbay")
def cli() -> None:
    """plugbay: a plugin-driven, OpenAI-compatible LLM gateway."""


@cli.command()
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./plugbay.toml when present).",
)
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", "-p", type=int, help="Port to listen on (default 4000).")
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    help="Worker processes sharing the port (default 1).",
)
@click.option("--no-auth", is_flag=True, help="Accept requests without any credential.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(
    config: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    no_auth: bool,
    log_level: str | None,
) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (in-flight requests finish first)."""
    from plugbay import _server

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "no_auth": no_auth,
        "log_level": log_level,
    }
    settings = _server.settings_with(_load(config), overrides)
    _server.configure_logging(settings)
    manager = _plugins(settings)
    try:
        _server.check_config(settings, manager)
        sock = _server.bind(settings)  # before the master key: a start that cannot serve...
        try:
            prepared = _server.prepare_sync(settings, manager)  # ...creates none
        except BaseException:
            sock.close()
            raise
    except ConfigError as exc:
        _fail(str(exc))
        return
    except PluginError as exc:  # a registered object that fails its Protocol
        _fail(str(exc), code=1)
        return
    server = settings.server
    if settings.auth.disabled:
        log.warning(
            "authentication is disabled (--no-auth): anyone who can reach "
            "%s:%d can use every model",
            server.host,
            server.port,
        )
    if prepared.created_key is not None:
        click.echo(_first_start_message(settings, prepared.created_key, prepared.model))
    _server.run(settings, config, overrides, manager, sock)


def _first_start_message(settings: Settings, key: str, model: str | None) -> str:
    host = settings.server.host
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    url = f"http://{host}:{settings.server.port}"
    if model is None:  # nothing to chat with yet: list the models
        try_it = f"    curl {url}/v1/models -H 'Authorization: Bearer {key}'\n"
    else:
        body = msgspec.json.encode(
            {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        ).decode()
        try_it = (
            f"    curl {url}/v1/chat/completions -H 'Authorization: Bearer {key}' \\\n"
            "      -H 'Content-Type: application/json' \\\n"
            f"      -d {shlex.quote(body)}\n"
        )
    return (
        "\nCreated a master key; this is the only time it is shown, so keep it now\n"
        "(`plugbay keys rotate-master` makes a new one and revokes this one):\n\n"
        f"    {key}\n\n"
        f"Try it:\n\n{try_it}"
    )


@cli.command("plugins")
@click.option("--config", "-c", type=click.Path(dir_okay=False), help="Config file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_plugins(config: str | None, as_json: bool) -> None:
    """List loaded plugins: distribution, version and the hooks each implements."""
    manager = _plugins(_load(config, registry_only=True))
    infos = manager.list_plugins()
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(infos)).decode())
        return
    for info in infos:
        origin = "built-in" if info.builtin else f"{info.distribution or '?'} {info.version or ''}"
        click.echo(f"{info.name}  ({origin.strip()})")
        for hook in info.hooks:
            click.echo(f"    {hook}")


def _add_admin_commands() -> None:
    from plugbay._cli_admin import COMMANDS
    from plugbay._scaffold import new

    for command in COMMANDS:
        cli.add_command(command)
    cli.add_command(new)


_add_admin_commands()


def main() -> None:
    settings: Settings | None = None
    words = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if not words or words[0] not in cli.commands:  # maybe a plugin's command: load plugins
        try:
            settings = load_settings(None, registry_only=True)
        except ConfigError:
            pass  # reported by the command that reads it
    if settings is not None:
        try:
            PluginManager.build(settings.plugins).register_commands(cli)
        except PluginLoadError:
            pass  # reported by the command that loads plugins
    cli()


if __name__ == "__main__":
    main()
