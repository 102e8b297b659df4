"""The project's former name is gone from every file of the repository but the changelog."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORMER = "plug" + "board"  # spelled in two parts so that this file passes its own test
EXEMPT = {"CHANGELOG.md"}  # history keeps the old name on purpose
# Without git (an unpacked archive), walk the tree, minus what .gitignore keeps out of git.
SKIP_DIRS = {
    ".git",
    ".venv",
    ".tox",
    ".nox",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "dist",
    "build",
}
SKIP_SUFFIXES = (".pyc", ".pyo", ".db", ".db-shm", ".db-wal", ".egg-info")


def repository_files(root: Path) -> list[str]:
    """Tracked files and new ones git does not ignore (so a file not yet added counts)."""
    git = shutil.which("git")
    if git is not None and (root / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=False,
        )
        if listed.returncode == 0:  # else (git refuses the checkout's owner...): walk
            return [name for name in listed.stdout.decode().split("\0") if name]
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(SKIP_SUFFIXES)]
        found += [
            Path(top, name).relative_to(root).as_posix()
            for name in files
            if not name.endswith(SKIP_SUFFIXES)
        ]
    return found


def offenders(root: Path, names: Iterable[str]) -> list[str]:
    found = []
    former = FORMER.encode()
    for name in names:
        if name in EXEMPT:
            continue
        if FORMER in name.lower():
            found.append(f"{name} (its path)")
            continue
        path = root / name
        if path.is_file() and former in path.read_bytes().lower():
            found.append(name)
    return found


def test_the_listing_covers_the_repository():
    files = set(repository_files(ROOT))
    assert {
        "uv.lock",
        "pyproject.toml",
        "core/pyproject.toml",
        "core/src/plugbay/__init__.py",
        "tests/core/test_project_name.py",
    } <= files
    assert not any(name.startswith((".venv/", ".git/")) for name in files)


def test_no_file_names_the_former_project():
    found = offenders(ROOT, repository_files(ROOT))
    assert not found, "the former project name is still in: " + ", ".join(found)


def test_the_search_finds_the_name_in_any_case_in_contents_and_paths(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(f"see {FORMER.title()}'s docs\n")
    (tmp_path / "b.toml").write_bytes(b"\x00\x01" + FORMER.upper().encode())
    (tmp_path / f"{FORMER}_old.py").write_text("")
    (tmp_path / "CHANGELOG.md").write_text(f"renamed from {FORMER}\n")
    (tmp_path / "clean.py").write_text("import plugbay\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x.py").write_text(FORMER)
    names = repository_files(tmp_path)
    assert ".venv/x.py" not in names
    assert sorted(offenders(tmp_path, names)) == [
        "b.toml",
        "docs/a.md",
        f"{FORMER}_old.py (its path)",
    ]
