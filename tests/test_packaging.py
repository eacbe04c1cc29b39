"""Every server installs alone, the way a user would, and runs from that install.

`uv build --all-packages` runs once per session (tests/shipping.py). For each registered server, its wheel and
patchbay-common's are installed into a fresh `python -m venv` with that venv's own pip, from a local
wheelhouse pinned by uv.lock (`--no-index`), and with `uvx --from <wheel>`. Each install must answer
`--help`, a real `initialize` + `tools/list` over stdio, and hold nothing but the server's own dependency
closure (the filesystem server pulls in no asyncpg, no playwright, no PyGithub, ...). The client-config
command is exercised through the installed console script, and the entry it writes is started as a client
would start it. The per-server installs are marked slow; `make test` runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from shipping import (
    ROOT,
    SHIPPED,
    built_dist,
    clean_env,
    direct_dependencies,
    fresh_venv,
    lock_closure,
    pip_install,
    pyproject,
    record_figure,
    run,
    server_names,
    venv_packages,
    wheel,
    wheelhouse,
)

from patchbay_common.testing.clients import Launch, connect
from registry import SPECS, ServerSpec, TestEnv, spec_id

sys.path.insert(0, str(ROOT / "scripts"))

import server_meta

pytestmark = pytest.mark.anyio

WORKSPACE = ["common", *server_names()]


def _distribution(name: str) -> str:
    return f"patchbay-{name}"


def _metadata(whl: Path) -> tuple[dict[str, list[str]], str]:
    """The wheel's METADATA headers (name -> values) and its long description."""
    with zipfile.ZipFile(whl) as archive:
        [path] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(path).decode())
    headers: dict[str, list[str]] = {}
    for key, value in message.items():
        headers.setdefault(key, []).append(value)
    return headers, str(message.get_payload())


# --- build ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKSPACE)
def test_wheel_and_sdist_are_built(name: str) -> None:
    dist = built_dist()
    distribution = _distribution(name)
    whl = wheel(dist, distribution)
    version = pyproject(name)["project"]["version"]
    assert whl.name == f"{distribution.replace('-', '_')}-{version}-py3-none-any.whl"
    sdist = dist / f"{distribution.replace('-', '_')}-{version}.tar.gz"
    assert sdist.exists(), f"no sdist of {distribution} in {dist}"
    with zipfile.ZipFile(whl) as archive:
        files = archive.namelist()
    module = distribution.replace("-", "_")
    assert f"{module}/__init__.py" in files
    assert not [f for f in files if f.startswith("tests/") or "/tests/" in f], (
        "tests must not ship in the wheel"
    )
    if name != "common":
        assert f"{module}/server.py" in files and f"{module}/__main__.py" in files
        with zipfile.ZipFile(whl) as archive:
            [entry_points] = [n for n in files if n.endswith(".dist-info/entry_points.txt")]
            scripts = archive.read(entry_points).decode()
        assert f"{distribution} = {module}.__main__:main" in scripts
    record_figure("wheel_bytes", distribution, whl.stat().st_size)
    record_figure("sdist_bytes", distribution, sdist.stat().st_size)


@pytest.mark.parametrize("name", WORKSPACE)
def test_license_ships_in_the_wheel_and_the_sdist(name: str) -> None:
    """The MIT text is inside every built wheel (.dist-info/licenses/) and sdist, and named in METADATA."""
    dist, text = built_dist(), (ROOT / "LICENSE").read_text()
    distribution = _distribution(name)
    module, version = distribution.replace("-", "_"), pyproject(name)["project"]["version"]
    with zipfile.ZipFile(wheel(dist, distribution)) as archive:
        assert archive.read(f"{module}-{version}.dist-info/licenses/LICENSE").decode() == text
    with tarfile.open(dist / f"{module}-{version}.tar.gz") as archive:
        member = archive.extractfile(f"{module}-{version}/LICENSE")
        assert member is not None and member.read().decode() == text
    assert _metadata(wheel(dist, distribution))[0].get("License-File") == ["LICENSE"]


@pytest.mark.parametrize("name", WORKSPACE)
def test_metadata(name: str) -> None:
    """Every package has a summary, readme, license and Python floor; shipped ones have complete metadata."""
    headers, description = _metadata(wheel(built_dist(), _distribution(name)))
    summary = headers.get("Summary", [""])[0]
    assert 10 <= len(summary) <= 200, f"{name}: description missing or too long: {summary!r}"
    assert headers.get("License-Expression") == ["MIT"], f'{name}: license = "MIT" is missing'
    assert headers.get("Requires-Python"), f"{name}: requires-python is missing"
    assert headers.get("Description-Content-Type") == ["text/markdown"], f"{name}: readme is missing"
    assert description.lstrip().startswith(f"# {_distribution(name)}"), f"{name}: README.md is not the readme"
    if name not in (*SHIPPED, "common"):
        return
    missing = [
        field
        for field in ("Author", "Keywords", "Classifier", "Project-URL")
        if not headers.get(field) and not (field == "Author" and headers.get("Author-email"))
    ]
    assert not missing, f"{name}: pyproject.toml lacks {missing} (authors, keywords, classifiers, urls)"
    urls = {value.split(",")[0].strip().lower() for value in headers["Project-URL"]}
    assert {"homepage", "source", "issues"} <= urls, f"{name}: [project.urls] needs Homepage, Source, Issues"
    classifiers = headers["Classifier"]
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)


# --- install alone ----------------------------------------------------------------------------------------


def _installed_launch(spec: ServerSpec, env: TestEnv, bin_dir: Path) -> Launch:
    """The spec's zero-configuration launch, with its console script taken from `bin_dir`."""
    launch = spec.launch(env)
    return Launch(str(bin_dir / launch.command), launch.args, {**launch.env, "VIRTUAL_ENV": ""})


async def _initialize_and_list(launch: Launch, spec: ServerSpec) -> list[str]:
    async with connect(launch, era="legacy") as client:
        assert client.server_info is not None and client.server_info.name == f"patchbay-{spec.name}"
        tools = (await client.list_tools()).tools
    assert tools, f"patchbay-{spec.name} listed no tools"
    return sorted(tool.name for tool in tools)


def _check_closure(spec: ServerSpec, installed: set[str]) -> None:
    """The environment holds exactly the server's dependency closure from uv.lock, nothing of the others'."""
    distribution = _distribution(spec.name)
    closure = lock_closure(distribution, here=True)
    others = {
        dep: other
        for other in server_names()
        if other != spec.name
        for dep in direct_dependencies(_distribution(other))
    }
    foreign = sorted(f"{dep} (patchbay-{others[dep]})" for dep in (set(others) - closure) & installed)
    assert not foreign, f"{distribution} pulled in other servers' dependencies: {foreign}"
    assert installed == closure, (
        f"{distribution}'s environment differs from its closure in uv.lock: "
        f"extra {sorted(installed - closure)}, missing {sorted(closure - installed)}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
async def test_pip_install_alone(spec: ServerSpec, server_envs: dict[str, TestEnv], tmp_path: Path) -> None:
    dist, house = built_dist(), wheelhouse()
    distribution = _distribution(spec.name)
    started = time.perf_counter()
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, wheel(dist, distribution), wheel(dist, "patchbay-common"), find_links=(house, dist))
    seconds = round(time.perf_counter() - started, 1)
    installed = venv_packages(venv)
    record_figure("pip_install_seconds", distribution, seconds)
    record_figure("venv_packages", distribution, len(installed))
    _check_closure(spec, installed)

    script = venv / "bin" / distribution
    helped = run([str(script), "--help"], env=clean_env())
    assert helped.stdout.startswith(f"usage: {distribution}")
    assert f"PATCHBAY_{spec.name.upper()}_" in helped.stdout

    tools = await _initialize_and_list(_installed_launch(spec, server_envs[spec.name], venv / "bin"), spec)
    record_figure("tools_listed", distribution, len(tools))


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
async def test_uvx_from_wheel(spec: ServerSpec, server_envs: dict[str, TestEnv]) -> None:
    dist, house = built_dist(), wheelhouse()
    distribution = _distribution(spec.name)
    uvx = [
        "uvx", "--no-index", "--find-links", str(house), "--from", str(wheel(dist, distribution)),
        "--with", str(wheel(dist, "patchbay-common")),
    ]  # fmt: skip
    started = time.perf_counter()
    helped = run([*uvx, distribution, "--help"], env=clean_env())
    record_figure("uvx_help_seconds", distribution, round(time.perf_counter() - started, 1))
    assert helped.stdout.startswith(f"usage: {distribution}")
    launch = spec.launch(server_envs[spec.name])
    via_uvx = Launch(uvx[0], [*uvx[1:], launch.command, *launch.args], launch.env)
    await _initialize_and_list(via_uvx, spec)


@pytest.mark.slow
def test_pip_install_from_a_clone_names_both_folders(tmp_path: Path) -> None:
    """The README's pip line from a clone, `pip install ./shared ./servers/X`, works as written; the
    folder alone cannot: pip resolves `patchbay-common` from an index (PyPI), and the packages keep a plain
    name dependency because PyPI refuses uploads whose dependencies are direct references (a
    `patchbay-common @ file://...` would also pin a path of the build machine into the wheel)."""
    house = wheelhouse()
    venv = fresh_venv(tmp_path / "venv")
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", "--no-index", "--find-links"]
    alone = subprocess.run(
        [*pip, str(house), "./servers/sqlite"], cwd=ROOT, capture_output=True, text=True, env=clean_env()
    )
    assert alone.returncode != 0 and "patchbay-common" in alone.stderr
    started = time.perf_counter()
    run([*pip, str(house), "./shared", "./servers/sqlite"], cwd=ROOT, env=clean_env())
    record_figure(
        "pip_install_seconds",
        "from a clone (shared + sqlite folders)",
        round(time.perf_counter() - started, 1),
    )
    helped = run([str(venv / "bin" / "patchbay-sqlite"), "--version"], env=clean_env())
    assert helped.stdout.startswith("patchbay-sqlite")


# --- client config through the installed console script ----------------------------------------------------


@pytest.mark.slow
async def test_config_command_from_an_installed_server(
    server_envs: dict[str, TestEnv], tmp_path: Path
) -> None:
    """`patchbay-<name> config claude-desktop --write` merges an entry; that entry starts the server."""
    spec = next(s for s in SPECS if s.name == "search")  # no component needed; any server would do
    dist, house = built_dist(), wheelhouse()
    venv = fresh_venv(tmp_path / "venv")
    pip_install(venv, wheel(dist, "patchbay-search"), wheel(dist, "patchbay-common"), find_links=(house,))
    home = tmp_path / "home"
    config = home / ".config" / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"mcpServers": {"other": {"command": "other-server"}}, "theme": "dark"}))
    env = clean_env(HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    script = str(venv / "bin" / "patchbay-search")

    printed = json.loads(run([script, "config", "claude-desktop"], env=env).stdout)["mcpServers"]["search"]
    assert printed["command"] == "uvx" and printed["args"] == ["patchbay-search"]
    assert printed["env"] and all(value == f"<{name}>" for name, value in printed["env"].items())
    first = run([script, "config", "claude-desktop", "--write", "--platform", "linux", "--local"], env=env)
    assert "entry 'search' added" in first.stdout and ".bak" in first.stdout
    again = run([script, "config", "claude-desktop", "--write", "--platform", "linux", "--local"], env=env)
    assert "already up to date" in again.stdout
    written = json.loads(config.read_text())
    assert written["theme"] == "dark" and written["mcpServers"]["other"] == {"command": "other-server"}
    entry = written["mcpServers"]["search"]
    assert Path(entry["command"]).parent == venv / "bin" and entry["args"] == ["-m", "patchbay_search"]
    [backup] = config.parent.glob(config.name + ".*.bak")  # timestamped, never overwritten
    assert json.loads(backup.read_text())["mcpServers"].keys() == {"other"}

    # Start the server as the client would from that entry (placeholder key: calls fail, listing works).
    launch = spec.launch(server_envs[spec.name])
    client_launch = Launch(entry["command"], [*entry["args"], *launch.args], {**entry["env"], **launch.env})
    assert len(await _initialize_and_list(client_launch, spec)) >= 1

    broken = home / ".cursor" / "mcp.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    refused = _run_status([script, "config", "cursor", "--write", "--platform", "linux"], env)
    assert refused[0] == 2 and "is not valid JSON" in refused[1]
    assert broken.read_text() == "{not json"


# The variables each shipped server's client config entry writes as `<NAME>` placeholders: what its main()
# passes as `serve(..., secret_env=...)`. Empty for a server that reads no secret.
SECRET_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "browser": (),
    "fetch": (),
    "filesystem": (),
    "github": ("GITHUB_PERSONAL_ACCESS_TOKEN",),
    "postgres": ("PATCHBAY_POSTGRES_DSN",),  # the DSN usually holds the password
    "redis": (),  # the password is optional: written only with --secret PATCHBAY_REDIS_PASSWORD
    "search": ("BRAVE_API_KEY",),
    "slack": ("SLACK_BOT_TOKEN",),
    "sqlite": (),
}


def test_every_shipped_server_declares_its_secret_placeholders() -> None:
    assert set(SECRET_PLACEHOLDERS) == set(SHIPPED), (
        "add each shipped server to SECRET_PLACEHOLDERS with the variables its config entry must name"
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_config_entry_names_the_secret_placeholders(name: str) -> None:
    """`patchbay-<name> config claude-desktop` writes each secret as a placeholder, and only secrets."""
    module = f"patchbay_{name.replace('-', '_')}"
    printed = run([sys.executable, "-m", module, "config", "claude-desktop"], env=clean_env(), timeout=60)
    entry = json.loads(printed.stdout)["mcpServers"][name]
    expected = SECRET_PLACEHOLDERS.get(name, ())
    assert entry.get("env", {}) == {variable: f"<{variable}>" for variable in expected}, (
        f"patchbay-{name} config names {sorted(entry.get('env', {}))} as placeholders, expected "
        f"{sorted(expected)}: check secret_env in its main()"
    )
    flags = server_meta.flags(name)
    documented = {flag.env for flag in flags}
    assert set(expected) <= documented, (
        f"{name}: placeholders {sorted(set(expected) - documented)} are not in the flags table or "
        "server.json (a Settings field or [tool.patchbay.env] entry)"
    )
    required = {flag.env for flag in flags if flag.secret and flag.required}
    assert required <= set(expected), (
        f"{name}: server.json requires secrets {sorted(required - set(expected))} the config entry does not "
        "name (secret_env in its main())"
    )
    secret = {flag.env for flag in flags if flag.secret}
    assert set(expected) <= secret, f"{name}: placeholders {sorted(set(expected) - secret)} not marked secret"


def _run_status(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return done.returncode, done.stderr


# --- every written entry starts, from each source ---------------------------------------------------------


def _index_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """uv resolving only from the built wheels and the wheelhouse: a local stand-in for PyPI."""
    return clean_env(
        UV_NO_INDEX="1",
        UV_FIND_LINKS=f"{built_dist()},{wheelhouse()}",
        UV_TOOL_DIR=str(tmp_path / "tools"),
        **extra,
    )


def _written_entry(name: str, source: list[str], tmp_path: Path) -> dict:
    """The entry `patchbay-<name> config cursor --write` writes, read back from the file."""
    config = tmp_path / "mcp.json"
    module = f"patchbay_{name.replace('-', '_')}"
    argv = [sys.executable, "-m", module, "config", "cursor", "--write", "--config-file", str(config)]
    run([*argv, *source], env=clean_env(), timeout=60)
    return json.loads(config.read_text())["mcpServers"][name]


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
async def test_pypi_entry_starts_from_a_local_index(
    spec: ServerSpec, server_envs: dict[str, TestEnv], tmp_path: Path
) -> None:
    """`--source pypi` writes `uvx patchbay-<name>`; uv resolving from the built wheels starts it."""
    entry = _written_entry(spec.name, ["--source", "pypi"], tmp_path)
    assert entry["command"] == "uvx" and entry["args"] == [f"patchbay-{spec.name}"]
    launch = spec.launch(server_envs[spec.name])
    env = {**_index_env(tmp_path), **entry.get("env", {}), **launch.env}
    started = time.perf_counter()
    tools = await _initialize_and_list(Launch("uvx", [*entry["args"], *launch.args], env), spec)
    record_figure("uvx_pypi_entry_seconds", spec.name, round(time.perf_counter() - started, 1))
    assert tools


@pytest.mark.slow
@pytest.mark.parametrize("source", ["local", "git"])
async def test_local_and_git_entries_start(
    source: str, server_envs: dict[str, TestEnv], tmp_path: Path
) -> None:
    """`--source local` (uvx --from servers/<name>) and `--source git` (this repository's HEAD) start."""
    spec = next(s for s in SPECS if s.name == "search")
    extra = ["--git-url", f"file://{ROOT}"] if source == "git" else []
    entry = _written_entry(spec.name, ["--source", source, *extra], tmp_path)
    expected_from = str(ROOT / "servers" / "search") if source == "local" else f"git+file://{ROOT}"
    assert entry["args"][:2] == ["--from", entry["args"][1]] and entry["args"][1].startswith(expected_from)
    launch = spec.launch(server_envs[spec.name])
    env = {**_index_env(tmp_path), **entry.get("env", {}), **launch.env}
    assert await _initialize_and_list(Launch("uvx", [*entry["args"], *launch.args], env), spec)
