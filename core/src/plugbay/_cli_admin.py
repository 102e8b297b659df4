"""``plugbay keys|providers|models|usage``: the admin API from the command line.

Against a running gateway with ``--url``/``--key``; otherwise straight on the registry: the
same admin routes are served in-process (no port opened), so both ways behave identically.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import click

Options = Callable[[Callable[..., Any]], Callable[..., Any]]


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--url",
                envvar="PLUGBAY_URL",
                help="A running gateway (default: work on the registry directly).",
            ),
            click.option("--key", envvar="PLUGBAY_KEY", help="Admin key for --url."),
            click.option(
                "--config",
                "-c",
                type=click.Path(dir_okay=False),
                help="Config file, for the registry's location (without --url).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        ]
    ):
        function = option(function)
    return function


@contextlib.contextmanager
def admin_client(url: str | None, key: str | None, config: str | None) -> Iterator[Any]:
    if url:
        import httpx  # only here: every CLI start builds these commands

        headers = {"authorization": f"Bearer {key}"} if key else {}
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as client:
            yield client
        return
    from litestar.testing import TestClient

    from plugbay._app import create_app
    from plugbay._cli import _load

    # Only the registry is needed: `${VAR}`s of [auth] and the providers need not be set,
    # and the config is not imported (that is `serve`'s job).
    settings = _load(config, registry_only=True)
    settings.auth.disabled = True  # in-process: nobody else can reach this app
    with TestClient(create_app(settings, import_config=False)) as client:
        yield client


def call(ctx: click.Context, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    params = ctx.obj
    with admin_client(params["url"], params["key"], params["config"]) as client:
        try:
            answer = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {params['url']}: {exc}") from None
    data = answer.json() if answer.content else {}
    if answer.status_code >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        raise click.ClickException(f"{answer.status_code}: {error.get('message', answer.text)}")
    return data


def show(data: Any, as_json: bool, columns: list[str] | None = None) -> None:
    if as_json or columns is None:
        click.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    rows = data["data"] if isinstance(data, dict) and "data" in data else [data]
    table = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in table]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    if isinstance(data, dict) and "total" in data:
        more = " (more: --after " + str(data["last_id"]) + ")" if data.get("has_more") else ""
        click.echo(f"{len(table)} of {data['total']}{more}")


def _quote(name: str) -> str:
    """A provider or model name as a URL path (model names keep their slashes)."""
    return urllib.parse.quote(name, safe="/")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value) if value else "-"
    return str(value)


def _group(name: str, help: str) -> click.Group:
    @click.group(name=name, help=help)
    @connection_options
    @click.pass_context
    def group(
        ctx: click.Context, url: str | None, key: str | None, config: str | None, as_json: bool
    ) -> None:
        ctx.obj = {
            "url": url,
            "key": key or os.environ.get("PLUGBAY_MASTER_KEY"),
            "config": config,
            "json": as_json,
        }

    return group


def _limits(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--model",
                "models",
                multiple=True,
                help="Allowed model (repeat; `prefix*` patterns work). Default: all.",
            ),
            click.option(
                "--scope",
                "scopes",
                multiple=True,
                help="chat, embeddings, models, admin, pin (repeat).",
            ),
            click.option("--rpm", type=int, help="Requests per minute."),
            click.option("--tpm", type=int, help="Tokens per minute."),
            click.option("--max-parallel", type=int, help="Concurrent requests."),
            click.option("--max-budget", type=float, help="Budget in USD."),
            click.option("--expires-at", help="Expiry: epoch seconds or ISO 8601."),
            click.option("--metadata", help="JSON object of your own."),
        ]
    ):
        function = option(function)
    return function


def _key_body(**values: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field, value in values.items():
        if value is None or value == ():
            continue
        if field == "metadata":
            try:
                value = json.loads(value)
            except ValueError:
                raise click.BadParameter("must be a JSON object", param_hint="--metadata") from None
        if field == "expires_at":
            with contextlib.suppress(ValueError):
                value = float(value)
        body[field] = list(value) if isinstance(value, tuple) else value
    return body


KEY_COLUMNS = [
    "id",
    "name",
    "key_hint",
    "models",
    "scopes",
    "rpm",
    "tpm",
    "max_budget",
    "spend",
    "enabled",
    "revoked",
]

keys = _group("keys", "Virtual API keys.")


@keys.command("create")
@click.argument("name")
@_limits
@click.pass_context
def keys_create(ctx: click.Context, /, name: str, **values: Any) -> None:
    """Create a key; it is printed once, here, and never again."""
    data = call(ctx, "POST", "/admin/keys", json={"name": name, **_key_body(**values)})
    if ctx.obj["json"]:
        show(data, True)
        return
    click.echo(
        f"Created {data['id']} ({data['name']}). The key, shown only now:\n\n    {data['key']}\n"
    )


@keys.command("rotate-master")
@click.pass_context
def keys_rotate_master(ctx: click.Context) -> None:
    """Make a new master key (printed once) and revoke the current one."""
    data = call(ctx, "POST", "/admin/master-key/rotate")
    if ctx.obj["json"]:
        show(data, True)
        return
    click.echo(
        "A new master key, shown only now (the previous one no longer works):\n\n"
        f"    {data['key']}\n"
    )


@keys.command("update")
@click.argument("key_id")
@_limits
@click.option("--name")
@click.option("--enable/--disable", "enabled", default=None)
@click.pass_context
def keys_update(ctx: click.Context, /, key_id: str, **values: Any) -> None:
    show(call(ctx, "PATCH", f"/admin/keys/{_quote(key_id)}", json=_key_body(**values)), True)


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    data = call(ctx, "DELETE", f"/admin/keys/{_quote(key_id)}")
    click.echo(json.dumps(data, indent=2) if ctx.obj["json"] else f"Revoked {key_id}.")


def _entry(values: tuple[str, ...], json_body: str | None) -> dict[str, Any]:
    """``key=value`` pairs (values parsed as JSON when they are) and/or a JSON object."""
    body: dict[str, Any] = {}
    if json_body:
        try:
            body.update(json.loads(json_body))
        except ValueError:
            raise click.BadParameter("must be a JSON object", param_hint="--json-body") from None
    for item in values:
        field, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected key=value, got {item!r}")
        try:
            body[field] = json.loads(raw)
        except ValueError:
            body[field] = raw
    return body


def _readers(group: click.Group, path: str, columns: list[str]) -> None:
    """``list`` and ``show`` for the resource at ``path``."""

    @group.command("list")
    @click.option("--limit", type=int, default=100)
    @click.option("--after")
    @click.pass_context
    def list_(ctx: click.Context, limit: int, after: str | None) -> None:
        params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        show(call(ctx, "GET", path, params=params), ctx.obj["json"], columns)

    @group.command("show")
    @click.argument("name")
    @click.pass_context
    def show_(ctx: click.Context, name: str) -> None:
        show(call(ctx, "GET", f"{path}/{_quote(name)}"), True)


def _crud(group: click.Group, path: str, columns: list[str]) -> None:
    _readers(group, path, columns)

    @group.command("create")
    @click.argument("fields", nargs=-1)
    @click.option("--json-body", help="The entry as a JSON object.")
    @click.pass_context
    def create(ctx: click.Context, fields: tuple[str, ...], json_body: str | None) -> None:
        """Create from key=value pairs, shaped like the config file's entries."""
        show(call(ctx, "POST", path, json=_entry(fields, json_body)), True)

    @group.command("update")
    @click.argument("name")
    @click.argument("fields", nargs=-1)
    @click.option("--json-body", help="The changes as a JSON object.")
    @click.pass_context
    def update(
        ctx: click.Context, name: str, fields: tuple[str, ...], json_body: str | None
    ) -> None:
        show(call(ctx, "PATCH", f"{path}/{_quote(name)}", json=_entry(fields, json_body)), True)

    @group.command("delete")
    @click.argument("name")
    @click.pass_context
    def delete(ctx: click.Context, name: str) -> None:
        call(ctx, "DELETE", f"{path}/{_quote(name)}")
        click.echo(f"Deleted {name}.")


_readers(keys, "/admin/keys", KEY_COLUMNS)

providers = _group("providers", "Upstream providers.")
_crud(providers, "/admin/providers", ["name", "type", "base_url", "api_key", "source"])


@providers.command("test")
@click.argument("name")
@click.option("--model", help="Upstream model to try (default: one the provider serves).")
@click.pass_context
def providers_test(ctx: click.Context, name: str, model: str | None) -> None:
    """Send one tiny real request; print latency and the answer or the error."""
    data = call(
        ctx, "POST", f"/admin/providers/{_quote(name)}/test", json={"model": model} if model else {}
    )
    show(data, True)
    if not data.get("ok"):
        ctx.exit(1)


models = _group("models", "Public model names and the providers serving them.")
_crud(models, "/admin/models", ["name", "provider", "upstream_model", "price", "source"])

USAGE_COLUMNS = [
    "requests",
    "errors",
    "error_rate",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
]


@click.command("usage")
@connection_options
@click.option("--start", help="From (epoch seconds or ISO 8601; default: 24 hours ago).")
@click.option("--end", help="Until (default: now).")
@click.option(
    "--group-by",
    default="key,model",
    help="Any of key, model, provider, deployment, day, hour (comma-separated).",
)
@click.option("--key-id", help="Only this key.")
@click.option("--model", help="Only this model.")
@click.pass_context
def usage(
    ctx: click.Context,
    /,
    url: str | None,
    key: str | None,
    config: str | None,
    as_json: bool,
    **query: Any,
) -> None:
    """Requests, tokens, cost and error rate, grouped."""
    ctx.obj = {
        "url": url,
        "key": key or os.environ.get("PLUGBAY_MASTER_KEY"),
        "config": config,
        "json": as_json,
    }
    params = {k: v for k, v in query.items() if v}
    data = call(ctx, "GET", "/admin/usage", params=params)
    if as_json:
        show(data, True)
        return
    groups = [{"key": "key_id"}.get(g, g) for g in data["group_by"]]
    rows = [*data["data"], {**data["totals"], **dict.fromkeys(groups[:1], "TOTAL")}]
    show({"data": rows}, False, [*groups, *USAGE_COLUMNS])


COMMANDS = [keys, providers, models, usage]
