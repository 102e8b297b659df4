"""Build every distribution and check what PyPI would get: ``tox -e build``.

``python -m tests.distcheck [OUT]`` builds the sdist and the wheel of core and of each plugin
with ``uv build --no-sources`` (the wheel from the sdist, so a file missing from the sdist
breaks the wheel), runs ``twine check --strict``, then checks each artefact against the
release policy (docs/release.md): the LICENSE and README in both, ``py.typed`` in the wheel,
the project URLs and classifiers, and the version policy of docs/plugins.md. Only the
standard library and ``packaging`` are needed here; the packaging tests reuse these checks.
"""

from __future__ import annotations

import email.message
import email.parser
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LICENSE = (ROOT / "LICENSE").read_bytes()
PYTHONS = ("3.11", "3.12", "3.13")
URLS = ("Homepage", "Documentation", "Source", "Changelog", "Issues")
REPOSITORY = "https://github.com/plugbay/plugbay"
# Dependencies without a ceiling, and why (docs/plugins.md, "Versions and publishing"): every
# cryptography feature release is a new major and security fixes land only in the newest.
UNCAPPED = {"cryptography"}
ARTEFACTS = (".whl", ".tar.gz")
# Markdown links, images and link definitions whose target is neither absolute nor an
# anchor: PyPI shows the README alone, so they would be broken there.
RELATIVE_LINK = re.compile(
    r"(?:\]\(|^\[[^\]]+\]:[ \t]*)(?!https?://|#|mailto:)([^)\s]+)", re.MULTILINE
)


@dataclass(frozen=True)
class Project:
    """One distribution of the workspace, as its pyproject.toml declares it."""

    path: Path
    name: str
    version: str
    package: str

    @property
    def is_core(self) -> bool:
        return self.name == "plugbay"

    @property
    def readme(self) -> str:
        return (self.path / "README.md").read_text(encoding="utf-8")


def projects() -> list[Project]:
    found = []
    for pyproject in [
        ROOT / "core" / "pyproject.toml",
        *sorted(ROOT.glob("plugins/*/pyproject.toml")),
    ]:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        (package,) = data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        found.append(
            Project(
                path=pyproject.parent,
                name=data["project"]["name"],
                version=data["project"]["version"],
                package=Path(package).name,
            )
        )
    return found


def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("distcheck: `uv` is not on PATH (it builds the distributions)")
    return found


def build(out: Path, *only: Project, wheel_only: bool = False) -> list[Path]:
    """Build ``only`` (default: every distribution) into ``out``; return the new files."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    command = [uv(), "build", "--no-sources", "--out-dir", str(out)]
    if wheel_only:
        command.append("--wheel")
    if only:  # at once: each is mostly waiting on its build environment
        running = [subprocess.Popen([*command, str(p.path)], cwd=ROOT) for p in only]
        failed = [process for process in running if process.wait() != 0]
        if failed:
            raise subprocess.CalledProcessError(failed[0].returncode, failed[0].args)
    else:
        subprocess.run([*command, "--all-packages"], check=True, cwd=ROOT)
    # uv also writes a .gitignore into the output directory: keep only the artefacts
    return sorted(p for p in set(out.iterdir()) - before if p.name.endswith(ARTEFACTS))


def _metadata(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


def check_metadata(project: Project, meta: email.message.Message, where: str) -> list[str]:
    """The problems of one artefact's core metadata (PKG-INFO or METADATA)."""
    problems = []
    if meta.get("License-Expression") != "Apache-2.0":
        problems.append(f"{where}: License-Expression is {meta.get('License-Expression')!r}")
    if "LICENSE" not in meta.get_all("License-File", []):
        problems.append(f"{where}: no License-File: LICENSE")
    classifiers = meta.get_all("Classifier", [])
    if any(c.startswith("License ::") for c in classifiers):
        problems.append(f"{where}: a License classifier beside License-Expression (PEP 639)")
    wanted = [
        "Framework :: AsyncIO",
        "Typing :: Typed",
        *(f"Programming Language :: Python :: {version}" for version in PYTHONS),
    ]
    problems += [f"{where}: no classifier {c!r}" for c in wanted if c not in classifiers]
    if not any(c.startswith("Development Status ::") for c in classifiers):
        problems.append(f"{where}: no Development Status classifier")
    if not any(c.startswith("Topic ::") for c in classifiers):
        problems.append(f"{where}: no Topic classifier")
    if not meta.get("Keywords"):
        problems.append(f"{where}: no Keywords")
    urls = {
        label.strip(): url.strip()
        for label, url in (entry.split(",", 1) for entry in meta.get_all("Project-URL", []))
    }
    for label in URLS:
        if not urls.get(label, "").startswith(REPOSITORY):
            problems.append(f"{where}: Project-URL {label} is {urls.get(label)!r}")
    if meta.get("Description-Content-Type") != "text/markdown":
        problems.append(f"{where}: Description-Content-Type is not text/markdown")
    description = meta.get_payload()
    if not isinstance(description, str) or description.strip() != project.readme.strip():
        problems.append(f"{where}: the long description is not {project.path.name}/README.md")
    problems += [
        f"{where}: relative link {link!r} in the README (broken on PyPI)"
        for link in RELATIVE_LINK.findall(project.readme)
    ]
    for line in meta.get_all("Requires-Dist", []):
        problems += check_requirement(project, Requirement(line), where)
    return problems


def core_pin() -> SpecifierSet:
    """``>=0.N,<0.N+1`` for core 0.N.x: a 0.x minor may change the plugin API."""
    core = Version(next(p.version for p in projects() if p.is_core))
    assert core.major == 0, "from 1.0 the pin is >=1.N,<2: update docs/plugins.md and this"
    return SpecifierSet(f">=0.{core.minor},<0.{core.minor + 1}")


def check_requirement(project: Project, requirement: Requirement, where: str) -> list[str]:
    """The version policy (docs/plugins.md): plugbay pinned to its 0.x minor, ceilings."""
    name = canonicalize_name(requirement.name)
    specifier = requirement.specifier
    if name.startswith("plugbay"):
        if specifier != core_pin():
            return [f"{where}: {requirement} is not pinned to {core_pin()}"]
        return []
    if name in UNCAPPED:
        return []
    if not any(spec.operator in ("<", "<=", "~=", "==") for spec in specifier):
        return [f"{where}: {requirement} has no upper bound"]
    return []


def check_sdist(project: Project, path: Path) -> list[str]:
    where = path.name
    top = f"{project.name.replace('-', '_')}-{project.version}"
    with tarfile.open(path) as archive:
        names = set(archive.getnames())
        problems = [
            f"{where}: no {top}/{member}"
            for member in ("LICENSE", "README.md", "PKG-INFO", "pyproject.toml")
            if f"{top}/{member}" not in names
        ]
        if f"{top}/LICENSE" in names and _read_tar(archive, f"{top}/LICENSE") != LICENSE:
            problems.append(f"{where}: LICENSE is not the repository's Apache-2.0 text")
        if f"{top}/src/{project.package}/py.typed" not in names:
            problems.append(f"{where}: no src/{project.package}/py.typed")
        if f"{top}/PKG-INFO" in names:
            meta = _metadata(_read_tar(archive, f"{top}/PKG-INFO").decode("utf-8"))
            problems += check_metadata(project, meta, where)
    return problems


def _read_tar(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    assert member is not None, name
    return member.read()


def check_wheel(project: Project, path: Path) -> list[str]:
    where = path.name
    info = f"{project.name.replace('-', '_')}-{project.version}.dist-info"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        problems = []
        license_path = f"{info}/licenses/LICENSE"
        if license_path not in names:
            problems.append(f"{where}: no {license_path}")
        elif archive.read(license_path) != LICENSE:
            problems.append(f"{where}: LICENSE is not the repository's Apache-2.0 text")
        if f"{project.package}/py.typed" not in names:
            problems.append(f"{where}: no {project.package}/py.typed")
        if f"{info}/METADATA" not in names:
            return [*problems, f"{where}: no {info}/METADATA"]
        meta = _metadata(archive.read(f"{info}/METADATA").decode("utf-8"))
        problems += check_metadata(project, meta, where)
        if not project.is_core:
            entry_points = archive.read(f"{info}/entry_points.txt").decode("utf-8")
            short = project.name.removeprefix("plugbay-")
            if f"[plugbay]\n{short} = {project.package}\n" not in entry_points:
                problems.append(f"{where}: no `{short} = {project.package}` in [plugbay]")
    return problems


def check(
    paths: list[Path], wanted: list[Project], kinds: tuple[str, ...] = ("sdist", "wheel")
) -> list[str]:
    """Every problem of the artefacts ``paths``: one of each of ``kinds`` for each of
    ``wanted``, and nothing else."""
    by_name = {canonicalize_name(p.name): p for p in wanted}
    seen: set[tuple[str, str]] = set()
    problems = []
    for path in paths:
        if path.name.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(path.name)
            kind = "wheel"
        elif path.name.endswith(".tar.gz"):
            name, version = parse_sdist_filename(path.name)
            kind = "sdist"
        else:
            problems.append(f"{path.name}: not a wheel or an sdist")
            continue
        if kind not in kinds:
            problems.append(f"{path.name}: a {kind}, where only {', '.join(kinds)} were built")
            continue
        project = by_name.get(name)
        if project is None or str(version) != project.version:
            problems.append(f"{path.name}: not a distribution of this workspace")
            continue
        seen.add((name, kind))
        checker = check_wheel if kind == "wheel" else check_sdist
        problems += checker(project, path)
    for name in by_name:
        problems += [f"{name}: no {kind} built" for kind in kinds if (name, kind) not in seen]
    return problems


def twine_check(paths: list[Path]) -> None:
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, paths)], check=True
    )


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="plugbay-dist-"))
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"distcheck: {out} is not empty (stale artefacts would be checked)")
    wanted = projects()
    try:
        paths = build(out)
        twine_check(paths)
    except subprocess.CalledProcessError as exc:
        print(f"distcheck: {exc}", file=sys.stderr)
        return 1
    problems = check(paths, wanted)
    for path in paths:
        print(f"built {path.name}")
    for problem in problems:
        print(f"distcheck: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"distcheck: {len(paths)} artefacts of {len(wanted)} distributions are publishable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
