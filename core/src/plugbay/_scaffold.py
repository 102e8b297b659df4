"""``plugbay new plugin NAME --kind adapter|policy``: a working, tested plugin distribution.

What it writes passes its own tests right after ``pip install -e .``: the adapter's
``tests/test_conformance.py`` runs :class:`plugbay.testing.ProviderConformance` against a
scripted upstream; the policy's ``tests/test_policy.py`` runs it in an in-process gateway.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import click

from plugbay._scaffold_templates import (
    ADAPTER_INIT,
    ADAPTER_PROVIDER,
    ADAPTER_TEST,
    GITIGNORE,
    LICENSE,
    POLICY_INIT,
    POLICY_MODULE,
    POLICY_TEST,
    PYPROJECT,
    README_ADAPTER,
    README_POLICY,
)

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

VERSION_POLICY = "plugbay>=0.1,<0.2"
"""What a plugin depends on: the minor series it was written against (docs/release.md)."""


def _names(name: str) -> dict[str, str]:
    short = name.removeprefix("plugbay-")
    words = short.split("-")
    return {
        "__SHORT__": short,
        "__DIST__": f"plugbay-{short}",
        "__PKG__": "plugbay_" + "_".join(words),
        "__CLASS__": "".join(word.capitalize() for word in words),
        "__ENV__": "_".join(words).upper(),
        "__YEAR__": str(datetime.date.today().year),
        "__VERSION_POLICY__": VERSION_POLICY,
    }


def _fill(template: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        template = template.replace(key, value)
    return template.lstrip("\n")


def scaffold(name: str, kind: str, directory: Path) -> Path:
    """Write the distribution for plugin ``name`` into ``directory / plugbay-<name>``."""
    if not _NAME.match(name):
        raise click.BadParameter(
            "lower-case letters, digits and single hyphens, starting with a letter (acme-ai)",
            param_hint="NAME",
        )
    names = _names(name)
    root = directory / names["__DIST__"]
    if root.exists():
        raise click.ClickException(f"{root} exists already")
    package = root / "src" / names["__PKG__"]
    files: dict[Path, str] = {
        root / "pyproject.toml": PYPROJECT,
        root / "README.md": README_ADAPTER if kind == "adapter" else README_POLICY,
        root / "LICENSE": LICENSE,
        root / ".gitignore": GITIGNORE,
        package / "py.typed": "",
    }
    if kind == "adapter":
        files[package / "__init__.py"] = ADAPTER_INIT
        files[package / "provider.py"] = ADAPTER_PROVIDER
        files[root / "tests" / "test_conformance.py"] = ADAPTER_TEST
    else:
        files[package / "__init__.py"] = POLICY_INIT
        files[package / "policy.py"] = POLICY_MODULE
        files[root / "tests" / "test_policy.py"] = POLICY_TEST
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(template, names), encoding="utf-8")
    return root


@click.group("new")
def new() -> None:
    """Start something new: a plugin distribution."""


@new.command("plugin")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["adapter", "policy"]),
    default="adapter",
    show_default=True,
    help="An adapter type (a provider for an upstream) or a policy (a rate limiter).",
)
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Where to create the plugbay-NAME folder (default: here).",
)
def new_plugin(name: str, kind: str, directory: Path) -> None:
    """Write a working, tested plugin distribution plugbay-NAME."""
    root = scaffold(name, kind, directory)
    click.echo(f"Created {root}. Next:\n")
    click.echo(f"    cd {root}")
    click.echo("    pip install -e . pytest openai   # or: uv pip install -e . pytest openai")
    click.echo("    pytest")
