"""The container, compose and Kubernetes files, and each server's MCP registry entry (server.json).

Docker cannot run on the test machines, so the image's two scripts run here for real instead: the build
stage's deploy/build-env.sh makes an environment, and the entry command deploy/entrypoint.sh serves from it
with the same arguments and environment the image uses. The Dockerfile is linted with hadolint, the compose
file validated against the compose-spec schema, the manifests with kubernetes-validate, and server.json
against the registry's published schema (deploy/registry/server.schema.json).
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from jsonschema import Draft7Validator, FormatChecker
from shipping import ROOT, SHIPPED, clean_env, lock_closure, run, server_names, venv_packages

from patchbay_common.testing.clients import HttpServer, connect
from patchbay_common.testing.components import free_port
from registry import SPECS, ServerSpec, TestEnv, spec_id

sys.path.insert(0, str(ROOT / "scripts"))

import gen_server_json
import server_meta

DEPLOY = ROOT / "deploy"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
BIN = Path(sys.executable).parent  # the workspace environment's scripts (hadolint, kubernetes-validate, ...)

pytestmark = pytest.mark.anyio


# --- Dockerfile -------------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_dockerfile_shape() -> None:
    """Multi-stage, slim, non-root, one server by build argument, healthcheck on /healthz, our entrypoint."""
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:\$\{PYTHON_VERSION\}-slim$", text, re.MULTILINE)
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(stages) >= 3 and stages[-1] == stages[-2] == "${BASE_IMAGE}"
    final = text.rsplit("\nFROM ", 1)[1]
    user = re.search(r"^USER (\d+)(?::\d+)?$", final, re.MULTILINE)
    assert user and int(user.group(1)) >= 1000, "the final stage must run as a numeric non-root user"
    assert "ARG SERVER" in text and "PATCHBAY_SERVER=${SERVER}" in final
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", final, re.MULTILINE)
    assert 'ENTRYPOINT ["patchbay-entrypoint"]' in final
    assert "deploy/entrypoint.sh /usr/local/bin/patchbay-entrypoint" in final
    assert 'sh deploy/build-env.sh "${SERVER}" /opt/patchbay' in text
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"**/.venv", ".git", "tests", "**/.cache"} <= set(ignored)


def _build_steps() -> list[tuple[str, str]]:
    """The build stage's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    build = text.split(" AS build\n", 1)[1].split("\nFROM ", 1)[0]
    lines = [line.strip() for line in build.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_installs_dependencies_before_copying_sources() -> None:
    """A source change must not reinstall dependencies: the lockfile and every member's pyproject.toml are
    copied first, the dependencies installed from them alone (--no-install-workspace), then the sources."""
    steps = _build_steps()
    copies = [(i, args) for i, (op, args) in enumerate(steps) if op == "COPY" and "--from=" not in args]
    runs = [(i, args) for i, (op, args) in enumerate(steps) if op == "RUN"]
    [(deps_at, deps)] = [(i, a) for i, a in runs if "--no-install-workspace" in a]
    assert "uv sync --frozen" in deps and '--package "patchbay-${SERVER}"' in deps
    before = [args.split()[:-1] for i, args in copies if i < deps_at]
    after = [args.split()[:-1] for i, args in copies if i > deps_at]
    copied_before = {source for sources in before for source in sources}
    members = {"pyproject.toml", "shared/pyproject.toml"} | {
        f"servers/{name}/pyproject.toml" for name in server_names()
    }
    assert copied_before == members | {"uv.lock"}, (
        f"copy exactly uv.lock and every pyproject.toml before the dependencies: {sorted(copied_before)}"
    )
    assert {"shared/", "servers/"} <= {source for sources in after for source in sources}
    [(install_at, _)] = [(i, a) for i, a in runs if "build-env.sh" in a]
    assert install_at > max(i for i, _ in copies), "the sources are installed after every COPY"
    # The dependency step runs the same sync as build-env.sh, minus the workspace packages.
    flags = re.search(r"uv sync (.*?) --package", (DEPLOY / "build-env.sh").read_text().replace("\\\n", " "))
    assert flags and all(flag in deps for flag in flags.group(1).split())


def test_browser_image_installs_chromium_by_itself() -> None:
    """SERVER=browser gets Debian's Chromium in the run stage (no hand edit), before the environment is
    copied in, so a source change does not reinstall it; other servers skip the step."""
    final = (DEPLOY / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    step = re.search(r'^RUN if \[ "\$\{SERVER\}" = browser \]; then (.*?) fi$', final, re.MULTILINE)
    assert step and "apt-get install -y --no-install-recommends chromium" in step.group(1)
    assert final.index(step.group(0)) < final.index("COPY --from=build /opt/patchbay")


# --- the entry command, for real --------------------------------------------------------------------------


@contextmanager
def entry_command(
    server: str, args: list[str], env: dict[str, str], path: Path | None = None
) -> Iterator[HttpServer]:
    """Run deploy/entrypoint.sh as the container would (PORT, PATCHBAY_SERVER, token in the environment)."""
    port = free_port()
    environment = clean_env(PATCHBAY_SERVER=server, PORT=str(port), **env)
    if path is not None:
        environment["PATH"] = f"{path}{os.pathsep}{environment['PATH']}"
    process = subprocess.Popen(
        [str(ENTRYPOINT), *args],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    running = HttpServer(process, port, "streamable-http")
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"entrypoint exited {process.returncode}: {process.communicate()[1][-3000:]!r}"
                )
            try:
                if httpx2.get(f"{running.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the entry command did not answer /healthz within 30 s"
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stderr = process.communicate()[1]
    assert process.returncode == 0, f"the server did not stop cleanly on SIGTERM: {stderr[-3000:]!r}"


def _initialize(base_url: str, token: str | None, host: str | None = None) -> httpx2.Response:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if host:
        headers["Host"] = host
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    return httpx2.post(f"{base_url}/mcp", json=body, headers=headers, timeout=10)


@pytest.mark.slow
async def test_image_build_step_and_entry_command_outside_docker(tmp_path: Path) -> None:
    """build-env.sh makes an environment of one server; entrypoint.sh serves it on 0.0.0.0 with a token."""
    env_dir = tmp_path / "opt-patchbay"
    run(["sh", str(DEPLOY / "build-env.sh"), "search", str(env_dir)], env=clean_env())
    assert venv_packages(env_dir) == lock_closure("patchbay-search", here=True)

    token = secrets.token_hex(16)
    env = {
        "PATCHBAY_AUTH_TOKEN": token,
        "PATCHBAY_ALLOWED_HOST": '["patchbay-search:*"]',
        "BRAVE_API_KEY": "",
    }
    with entry_command("search", ["--base-url", "http://127.0.0.1:9"], env, env_dir / "bin") as server:
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")  # noqa: ASYNC240
        assert cmdline[1].endswith(b"patchbay-search") and str(env_dir).encode() in cmdline[1]
        assert b"0.0.0.0" in cmdline and token.encode() not in b" ".join(cmdline)
        # The health check needs no token and accepts any Host (a kubelet probes by pod IP).
        assert (
            httpx2.get(f"{server.base_url}/healthz", headers={"Host": "10.1.2.3:8000"}).json()["status"]
            == "ok"
        )
        assert _initialize(server.base_url, None).status_code == 401
        assert _initialize(server.base_url, "wrong").status_code == 401
        assert _initialize(server.base_url, token, host="patchbay-search:80").status_code == 200
        assert _initialize(server.base_url, token, host="evil.example:80").status_code in (403, 421)
        async with connect(server, era="legacy", headers={"Authorization": f"Bearer {token}"}) as client:
            assert len((await client.list_tools()).tools) == 5


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
async def test_entry_command_serves_every_server_stateless(
    spec: ServerSpec, server_envs: dict[str, TestEnv]
) -> None:
    """The Kubernetes configuration (stateless, JSON responses) of each server, through the entry command."""
    launch = spec.launch(server_envs[spec.name])
    token = secrets.token_hex(16)
    env = {
        **launch.env,
        "PATCHBAY_AUTH_TOKEN": token,
        "PATCHBAY_STATELESS": "true",
        "PATCHBAY_JSON_RESPONSE": "true",
    }
    with entry_command(spec.name, list(launch.args), env) as server:
        headers = {"Authorization": f"Bearer {token}"}
        for era in ("legacy", "modern"):
            async with connect(server, era=era, headers=headers) as client:  # type: ignore[arg-type]
                assert (await client.list_tools()).tools


@pytest.mark.parametrize(
    ("server", "env", "message"),
    [
        ("search", {}, "set PATCHBAY_AUTH_TOKEN"),
        ("", {"PATCHBAY_AUTH_TOKEN": "x"}, "set PATCHBAY_SERVER"),
        ("../search", {"PATCHBAY_AUTH_TOKEN": "x"}, "set PATCHBAY_SERVER"),
    ],
)
def test_entry_command_refuses_to_start_unsafely(server: str, env: dict[str, str], message: str) -> None:
    done = subprocess.run(
        [str(ENTRYPOINT)], env=clean_env(PATCHBAY_SERVER=server, PORT=str(free_port()), **env),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2 and message in done.stderr


# --- compose ----------------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_is_valid() -> None:
    done = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_services_match_the_servers() -> None:
    """Each patchbay service builds an existing server and sets only variables that server reads."""
    services = _compose()["services"]
    built = {name: s for name, s in services.items() if "build" in s}
    assert {s["build"]["args"]["SERVER"] for s in built.values()} == {"postgres", "redis"}
    assert {"postgres", "redis"} <= set(services)
    generic = set(
        re.findall(r"\b([A-Z_]+)\b", ENTRYPOINT.read_text().split("for flag in", 1)[1].split("; do")[0])
    )
    for name, service in built.items():
        server = service["build"]["args"]["SERVER"]
        assert (ROOT / "servers" / server / "pyproject.toml").exists()
        assert (
            DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]
        ).resolve() == DEPLOY / "Dockerfile"
        own = {flag.env for flag in server_meta.flags(server)}
        for variable in service["environment"]:
            assert variable in own or variable.removeprefix("PATCHBAY_") in generic, (
                f"{name}: {variable} is unused"
            )
        assert "PATCHBAY_AUTH_TOKEN" in service["environment"]
        assert all(port.startswith("127.0.0.1:") for port in service["ports"]), "publish on loopback only"
        assert set(service["depends_on"]) & {"postgres", "redis"}


def test_compose_reader_role_reads_and_cannot_write(postgres_instance: Any) -> None:
    """compose/initdb/10-reader.sh, run on a real PostgreSQL, makes a role that reads and cannot write."""
    pg = postgres_instance
    database = f"compose_{secrets.token_hex(4)}"
    psql = [_psql(), "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-v", "ON_ERROR_STOP=1", "-qAt"]
    subprocess.run(
        [*psql, "-d", pg.dbname, "-c", f"CREATE DATABASE {database}"], check=True, capture_output=True
    )
    try:
        subprocess.run(
            [*psql, "-d", database, "-c", "CREATE TABLE t (x int); INSERT INTO t VALUES (7)"], check=True
        )
        env = clean_env(
            PGHOST=pg.host, PGPORT=str(pg.port), POSTGRES_USER=pg.user, POSTGRES_DB=database,
            PATCHBAY_READER_PASSWORD="secret", PATH=f"{Path(_psql()).parent}{os.pathsep}{os.environ['PATH']}",
        )  # fmt: skip
        done = subprocess.run(
            ["sh", str(DEPLOY / "compose" / "initdb" / "10-reader.sh")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        reader = [_psql(), "-h", pg.host, "-p", str(pg.port), "-U", "patchbay_reader", "-d", database, "-qAt"]
        assert (
            subprocess.run([*reader, "-c", "SELECT x FROM t"], capture_output=True, text=True).stdout.strip()
            == "7"
        )
        refused = subprocess.run([*reader, "-c", "INSERT INTO t VALUES (8)"], capture_output=True, text=True)
        assert "read-only transaction" in refused.stderr
    finally:
        subprocess.run(
            [*psql, "-d", pg.dbname, "-c", f"DROP DATABASE IF EXISTS {database}"], capture_output=True
        )
        subprocess.run(
            [*psql, "-d", pg.dbname, "-c", "DROP ROLE IF EXISTS patchbay_reader"], capture_output=True
        )


def _psql() -> str:
    for candidate in ("/usr/lib/postgresql/15/bin/psql", "/usr/bin/psql"):
        if Path(candidate).exists():
            return candidate
    raise AssertionError("psql is not installed: run make setup")


# --- Kubernetes -------------------------------------------------------------------------------------------


def _manifests() -> dict[str, dict[str, Any]]:
    return {
        doc["kind"]: doc
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    }


def test_kubernetes_manifests_validate() -> None:
    files = sorted(str(p) for p in (DEPLOY / "k8s").rglob("*.yaml"))
    assert any("/browser/" in f for f in files), "the browser variant is validated too"
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", *files], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(files)


def test_kubernetes_manifests_fit_together() -> None:
    docs = _manifests()
    deployment, service, hpa, secret = (
        docs[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "Secret")
    )
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    port = container["ports"][0]
    assert port["name"] == "http" and str(port["containerPort"]) == env["PORT"]["value"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert env["PATCHBAY_STATELESS"]["value"] == "true", "several replicas need the stateless mode"
    assert env["PATCHBAY_SERVER"]["value"] in server_names()
    refs = [
        e["valueFrom"]["secretKeyRef"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert {"name": secret["metadata"]["name"], "key": "auth-token"} in refs
    assert all(ref["key"] in secret["stringData"] for ref in refs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    dockerfile_user = re.search(r"^USER (\d+)", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert dockerfile_user and pod["securityContext"]["runAsUser"] == int(dockerfile_user.group(1))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert (
        service["spec"]["selector"].items() <= labels.items()
        and service["spec"]["ports"][0]["targetPort"] == "http"
    )
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2


def _pod_env(deployment: dict[str, Any], namespace: str) -> dict[str, str]:
    """The container's environment as the kubelet makes it in `namespace`: the downward API's namespace,
    and `$(VAR)` references to variables defined before them expanded (secrets left out)."""
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = namespace
    return env


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "k8s" / "deployment.yaml", DEPLOY / "k8s" / "browser" / "deployment.yaml"],
    ids=lambda p: p.parent.name,
)
def test_kubernetes_manifests_name_no_namespace(path: Path) -> None:
    """Applied with `kubectl apply -n <any>`: no manifest names a namespace, and the allowed Host names come
    from the pod's own namespace (downward API), never a hard-coded `default`."""
    text = path.read_text()
    assert "namespace:" not in text.replace("metadata.namespace", "") and ".default." not in text
    for namespace in ("team-a", "default"):
        hosts = json.loads(_pod_env(yaml.safe_load(text), namespace)["PATCHBAY_ALLOWED_HOST"])
        assert (
            f"patchbay-{path.parent.name if path.parent.name == 'browser' else 'search'}.{namespace}.svc:*"
            in hosts
        )


async def test_another_namespace_is_not_refused_with_421() -> None:
    """The search Deployment's environment, expanded for namespace team-a, served by the entry command: the
    Service's names in team-a pass the Host check, another namespace's do not."""
    deployment = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    env = _pod_env(deployment, "team-a")
    token = secrets.token_hex(16)
    env.update({"PATCHBAY_AUTH_TOKEN": token, "BRAVE_API_KEY": ""})
    env.pop("PORT")
    env.pop("PATCHBAY_SERVER")
    with entry_command("search", [], env, BIN) as server:
        port = server.port
        for host, expected in [
            ("patchbay-search", 200),
            (f"patchbay-search:{port}", 200),
            ("patchbay-search.team-a.svc", 200),
            ("patchbay-search.team-a.svc.cluster.local:80", 200),
            ("patchbay-search.default.svc:80", 421),
            ("patchbay-search.team-b.svc.cluster.local", 421),
        ]:
            assert _initialize(server.base_url, token, host=host).status_code == expected, host


# --- server.json ------------------------------------------------------------------------------------------

SCHEMA = json.loads((DEPLOY / "registry" / "server.schema.json").read_text())
WITH_SERVER_JSON = sorted(
    set(SHIPPED) | {n for n in server_names() if (ROOT / "servers" / n / "server.json").exists()}
)


def _schema_errors(document: Any) -> list[str]:
    validator = Draft7Validator(SCHEMA, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_committed_schema_is_the_registry_one() -> None:
    assert SCHEMA["$id"] == server_meta.REGISTRY_SCHEMA
    assert "a9ba437d9fbbe92076a24b20d56449ac7c7786ac" in (DEPLOY / "registry" / "SOURCE.md").read_text()


@pytest.mark.parametrize("name", WITH_SERVER_JSON)
def test_server_json_is_valid_and_current(name: str) -> None:
    path = ROOT / "servers" / name / "server.json"
    assert path.exists(), f"{path} is missing: run uv run python scripts/gen_server_json.py {name}"
    document = json.loads(path.read_text())
    assert not _schema_errors(document), _schema_errors(document)
    assert path.read_text() == gen_server_json.render(name), (
        f"{path} is stale: run uv run python scripts/gen_server_json.py {name}"
    )
    [package] = document["packages"]
    assert package["identifier"] == f"patchbay-{name}" and package["registryType"] == "pypi"
    assert package["transport"] == {"type": "stdio"}
    variables = {v["name"]: v for v in package.get("environmentVariables", [])}
    assert all(v["description"] for v in variables.values())
    for flag in server_meta.flags(name):
        if not flag.positional:
            assert variables[flag.env].get("isSecret", False) == flag.secret


@pytest.mark.parametrize("name", server_names())
def test_the_generator_makes_a_valid_entry_for_every_server(name: str) -> None:
    """Servers not yet listed get a valid server.json from the generator, or one clear line on what to fix."""
    try:
        document = gen_server_json.server_json(name)
    except ValueError as exc:
        assert name not in SHIPPED and "Shorten it" in str(exc)
        return
    assert not _schema_errors(document), _schema_errors(document)


def test_check_jsonschema_accepts_every_server_json() -> None:
    files = [str(ROOT / "servers" / n / "server.json") for n in WITH_SERVER_JSON]
    done = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--schemafile",
            str(DEPLOY / "registry" / "server.schema.json"),
            *files,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_catches_a_bad_server_json() -> None:
    document = json.loads((ROOT / "servers" / SHIPPED[0] / "server.json").read_text())
    bad = copy.deepcopy(document)
    bad["description"] = "x" * 101
    bad["packages"][0]["version"] = "latest"
    del bad["name"]
    errors = "\n".join(_schema_errors(bad))
    assert (
        "'name' is a required property" in errors and "too long" in errors and "packages/0/version" in errors
    )
