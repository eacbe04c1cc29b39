"""What a release tag publishes, after checking that every version agrees.

    python scripts/release.py v0.1.0                 # every package at 0.1.0; prints servers=<names>
    python scripts/release.py patchbay-fetch-v0.1.1  # one package
    python scripts/release.py v0.1.0 --prune dist    # remove from dist/ what the tag does not release

A package's version lives in its pyproject.toml; `__version__`, server.json (both places) and a CHANGELOG
section must say the same, and the tag must name it. Exit 1 with one line per disagreement.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def packages() -> dict[str, Path]:
    """Distribution name -> folder, for patchbay-common and every server."""
    found = {"patchbay-common": ROOT / "shared"}
    for project in sorted((ROOT / "servers").glob("*/pyproject.toml")):
        found[f"patchbay-{project.parent.name}"] = project.parent
    return found


def version_problems(name: str, folder: Path) -> tuple[str, list[str]]:
    """The package's version and every place that disagrees with it."""
    version = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["version"]
    problems = []
    module = folder / "src" / name.replace("-", "_") / "__init__.py"
    declared = re.search(r'^__version__ = "([^"]+)"', module.read_text(), re.M) if module.exists() else None
    if declared and declared.group(1) != version:
        problems.append(f"{module.relative_to(ROOT)}: __version__ {declared.group(1)} != {version}")
    server_json = folder / "server.json"
    if server_json.exists():
        document = json.loads(server_json.read_text())
        found = {document["version"], *(package["version"] for package in document["packages"])}
        if found != {version}:
            problems.append(f"{server_json.relative_to(ROOT)}: versions {sorted(found)} != {version}")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    if (
        not re.search(rf"^## {re.escape(version)}\b", changelog, re.M)
        or f"- {name} {version}" not in changelog
    ):
        problems.append(f"CHANGELOG.md: no '## {version}' section listing '- {name} {version}'")
    return version, problems


def released(tag: str) -> dict[str, str]:
    """Distribution -> version that `tag` releases (exit 1 when the tag and the versions disagree)."""
    every = packages()
    single = re.fullmatch(r"(patchbay-[a-z0-9-]+?)-v(\d+\.\d+\.\d+\S*)", tag)
    whole = re.fullmatch(r"v(\d+\.\d+\.\d+\S*)", tag)
    if single and single.group(1) in every:
        chosen = {single.group(1): single.group(2)}
    elif whole:
        chosen = dict.fromkeys(every, whole.group(1))
    else:
        sys.exit(f"tag {tag!r} is neither v<version> nor <package>-v<version> of a package here")
    problems = []
    for name, wanted in chosen.items():
        version, found = version_problems(name, every[name])
        problems += found
        if version != wanted:
            problems.append(f"{name} is at {version}, the tag says {wanted}")
    if problems:
        sys.exit("\n".join(problems))
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Check the tag; print `servers=...` or prune a dist folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag")
    parser.add_argument("--prune", type=Path, metavar="DIST")
    options = parser.parse_args(argv)
    chosen = released(options.tag)
    if options.prune:
        stems = {name.replace("-", "_") + "-" + version for name, version in chosen.items()}
        for path in options.prune.iterdir():
            if not any(path.name.startswith(stem + "-") or path.name == stem + ".tar.gz" for stem in stems):
                path.unlink()
        return 0
    servers = [name.removeprefix("patchbay-") for name in chosen if name != "patchbay-common"]
    sys.stdout.write(f"servers={' '.join(servers)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
