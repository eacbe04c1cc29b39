"""Helpers for the shipping tests: which servers exist, built distributions, a wheelhouse, lock closures.

Servers are found by scanning servers/*/pyproject.toml, so a new server joins every shipping check when its
folder lands. `SHIPPED` is the allow-list of servers declared finished: only those must already have complete
package metadata, a generated-tables README with the standard sections, and a server.json. The lead adds a
name to it when a server lands.

Everything expensive happens once per test session and is cached under .cache/shipping/ (gitignored):
`built_dist()` runs `uv build --all-packages` once; `wheelhouse()` downloads the third-party wheels the
servers need (pinned by uv.lock) only when the lock changes, so later runs install with `--no-index`.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "shipping"
FIGURES = CACHE / "figures.json"

# Servers declared finished (the lead extends this as servers land).
SHIPPED: tuple[str, ...] = (
    "browser", "fetch", "filesystem", "github", "postgres", "redis", "search", "slack", "sqlite",
)  # fmt: skip

# The sections every server README has, in this order (other sections may sit between them).
README_SECTIONS = (
    "Install",
    "Client config",
    "Flags",
    "Tools",
    "Resources and prompts",
    "Security",
    "Measured figures",
)

# What the standalone fork test and template test need on top of a server's own closure.
TEST_TOOLS = ("pytest", "iniconfig", "pluggy", "packaging", "pygments")


def normalize(name: str) -> str:
    """A distribution name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def server_names() -> list[str]:
    """Every server folder with a pyproject.toml, by name."""
    return sorted(p.parent.name for p in (ROOT / "servers").glob("*/pyproject.toml"))


def pyproject(name: str) -> dict:
    """The parsed pyproject.toml of server `name` (or of `shared` for patchbay-common)."""
    folder = ROOT / "shared" if name == "common" else ROOT / "servers" / name
    return tomllib.loads((folder / "pyproject.toml").read_text())


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without pip/uv/venv settings that would leak into a fresh install."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "PATCHBAY_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if "UV_CACHE_DIR" in os.environ:  # share the uv cache (that is what keeps uvx fast)
        env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
    env.update(extra)
    return env


def run(argv: list[str], *, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise AssertionError with its output (the test shows what went wrong)."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        command = " ".join(map(str, argv))
        raise AssertionError(
            f"{command} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def record_figure(section: str, key: str, value: object) -> None:
    """Keep a measured figure in .cache/shipping/figures.json (the numbers the README and reports quote)."""
    with _locked("figures"):
        data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        data.setdefault(section, {})[key] = value
        FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@functools.cache
def session_dir() -> Path:
    """A folder of this test process under .cache/shipping/ (several test runs may share the checkout)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="session-", dir=CACHE))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock between test processes, for the shared wheelhouse and figures file."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@functools.cache
def built_dist() -> Path:
    """Wheels and sdists of patchbay-common and every server, built once per test session."""
    dist = session_dir() / "dist"
    started = time.perf_counter()
    run(["uv", "build", "--all-packages", "--out-dir", str(dist), "--quiet"], cwd=ROOT, env=clean_env())
    record_figure("build", "all_packages_seconds", round(time.perf_counter() - started, 1))
    return dist


def wheel(dist: Path, distribution: str) -> Path:
    """The one wheel of `distribution` (e.g. patchbay-search) in `dist`."""
    found = sorted(dist.glob(f"{distribution.replace('-', '_')}-*.whl"))
    assert len(found) == 1, f"expected one wheel of {distribution} in {dist}, found {found}"
    return found[0]


def _export(*args: str) -> list[str]:
    done = run(
        [
            "uv",
            "export",
            "--frozen",
            "--no-hashes",
            "--no-header",
            "--no-annotate",
            "--no-emit-workspace",
            *args,
        ],
        cwd=ROOT,
        env=clean_env(),
    )
    return [line for line in done.stdout.splitlines() if line and not line.startswith(("#", "-e", "."))]


@functools.cache
def wheelhouse() -> Path:
    """Wheels of every third-party package the servers (and pytest) need, at the versions uv.lock pins.

    Downloaded with pip once, then reused while uv.lock is unchanged; installs from it use `--no-index`.
    """
    requirements = _export("--all-packages", "--no-default-groups")
    requirements += [
        line
        for line in _export("--all-packages", "--only-group", "dev")
        if normalize(line.split("==")[0]) in TEST_TOOLS
    ]
    text = "\n".join(sorted(set(requirements))) + "\n"
    build_backend = "hatchling>=1.25"  # to build a source folder (a fork, a generated server) with pip
    stamp = hashlib.sha256((text + build_backend).encode()).hexdigest()
    house = CACHE / "wheelhouse"
    with _locked("wheelhouse"):
        if (house / ".stamp").exists() and (house / ".stamp").read_text() == stamp:
            return house
        shutil.rmtree(house, ignore_errors=True)
        house.mkdir(parents=True)
        listing = house / "requirements.txt"
        listing.write_text(text)
        env = clean_env()
        if os.environ.get("PIP_CERT"):
            env["PIP_CERT"] = os.environ["PIP_CERT"]
        started = time.perf_counter()
        pip = fresh_venv(session_dir() / "pip-venv") / "bin" / "pip"
        download = [str(pip), "download", "--quiet", "--only-binary=:all:", "-d", str(house)]
        run([*download, "--no-deps", "-r", str(listing)], env=env, timeout=600)
        run([*download, build_backend], env=env, timeout=600)  # with its own dependencies
        (house / ".stamp").write_text(stamp)
    record_figure("wheelhouse", "download_seconds", round(time.perf_counter() - started, 1))
    return house


def pip_install(venv: Path, *requirements: Path | str, find_links: tuple[Path, ...] = ()) -> None:
    """Install wheels, folders or names with the venv's own pip, offline: everything from `find_links`."""
    links = [arg for folder in find_links for arg in ("--find-links", str(folder))]
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", "--no-index"]
    run([*pip, *links, *map(str, requirements)], env=clean_env())


def fresh_venv(path: Path) -> Path:
    """A new virtual environment at `path` made the way a user would (`python -m venv`, so it has pip)."""
    shutil.rmtree(path, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(path)], env=clean_env())
    return path


@functools.cache
def _lock() -> dict[str, dict]:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return {normalize(p["name"]): p for p in packages}


def lock_closure(distribution: str, *, here: bool = False) -> set[str]:
    """Every package `distribution` needs per uv.lock, itself included; extras it names are followed.

    With `here`, only what this interpreter installs: dependencies whose environment marker is false here
    (another OS, an older Python) are left out.
    """
    lock = _lock()
    seen: set[str] = set()
    todo = [normalize(distribution)]
    extras_seen: set[tuple[str, str]] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _edges(lock[name].get("dependencies", []), extras_seen, here)
    return seen


def _edges(deps: list[dict], extras_seen: set[tuple[str, str]], here: bool) -> list[str]:
    """Names a dependency list leads to, following `pkg[extra]` into that package's optional dependencies."""
    from packaging.markers import Marker

    lock = _lock()
    names = []
    for dep in deps:
        if here and dep.get("marker") and not Marker(dep["marker"]).evaluate():
            continue
        name = normalize(dep["name"])
        names.append(name)
        for extra in dep.get("extra", []):
            if (name, extra) not in extras_seen:
                extras_seen.add((name, extra))
                optional = lock[name].get("optional-dependencies", {}).get(extra, [])
                names += _edges(optional, extras_seen, here)
    return names


def direct_dependencies(distribution: str) -> set[str]:
    """The packages `distribution` names itself in uv.lock (no extras)."""
    return {normalize(dep["name"]) for dep in _lock()[normalize(distribution)].get("dependencies", [])}


def venv_packages(venv: Path) -> set[str]:
    """Distributions installed in `venv` (pip, setuptools and wheel aside), from its dist-info folders."""
    found = set()
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        found.add(normalize(info.name[: -len(".dist-info")].rsplit("-", 1)[0]))
    return found - {"pip", "setuptools", "wheel"}
