# ruff: noqa: ASYNC221, ASYNC251 - one test drives podman step by step; nothing else runs meanwhile
"""deploy/Dockerfile built with buildah and run with podman, for real (marker `image`: `make stress` runs it).

No container registry is reachable from the project's machines, so the two images the Dockerfile starts from
are made here first by deploy/local-images.sh (a Debian 12 base from debootstrap with python3, and the uv
binary as an image); the build itself is the Dockerfile's, with buildah's chroot isolation. The run uses
podman with runc and cgroupfs, lowered ulimits and the host network: deploy/README.md says why each is needed
in these sandboxes. A fresh machine spends ~2-5 minutes here (debootstrap, then the dependency download),
which is why `make test` leaves it to `make stress`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from shipping import ROOT

from patchbay_common.testing.clients import HttpServer, connect
from patchbay_common.testing.components import free_port

pytestmark = [pytest.mark.image, pytest.mark.anyio]

BASE = "localhost/patchbay-base:bookworm"
UV = "localhost/patchbay-uv:latest"
# The sandbox's limits: crun refuses cgroup v1/v2 hybrids, and podman's default rlimits for root are above
# the hard limits here (no CAP_SYS_RESOURCE to raise them).
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
RUN_LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", "--network", "host"]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def build_args(context: Path, server: str, tag: str) -> list[str]:
    """The documented buildah command for a machine without registries (deploy/README.md)."""
    args = [
        "buildah", "bud", "--layers", "--format", "docker", "--isolation", "chroot", "--network", "host",
        "-f", "deploy/Dockerfile", "--ignorefile", "deploy/Dockerfile.dockerignore",
        "--build-arg", f"BASE_IMAGE={BASE}", "--build-arg", "PYTHON=/usr/bin/python3",
        "--build-arg", f"UV_IMAGE={UV}", "--build-arg", f"SERVER={server}", "-t", tag,
    ]  # fmt: skip
    if Path(CA_BUNDLE).exists():  # a TLS-intercepting proxy's CA, as a build secret
        args += ["--secret", f"id=ca-certificates,src={CA_BUNDLE}"]
    return [*args, str(context)]


@pytest.fixture(scope="module")
def context() -> Iterator[Path]:
    """A copy of the tracked files (the build context), so the test can change a source file in it."""
    for tool in ("buildah", "podman", "runc", "debootstrap"):
        assert shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists(), (
            f"{tool} is missing: apt-get install -y --no-install-recommends buildah podman runc debootstrap"
        )
    subprocess.run([str(ROOT / "deploy" / "local-images.sh")], check=True)
    with tempfile.TemporaryDirectory(prefix="patchbay-context-") as tmp:
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.split(b"\0")  # fmt: skip
        for name in filter(None, files):
            source = ROOT / name.decode()
            if source.is_file():
                target = Path(tmp, name.decode())
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        yield Path(tmp)


def build(context: Path, server: str, tag: str) -> tuple[str, float]:
    began = time.monotonic()
    done = subprocess.run(build_args(context, server, tag), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout + done.stderr, time.monotonic() - began


def step_cached(log: str, marker: str) -> bool:
    """Whether the build step whose instruction contains `marker` was taken from the layer cache."""
    steps = re.split(r"\n(?=\[\d/\d\] STEP )", log)
    [step] = [s for s in steps if marker in s.split("\n", 1)[0]]
    return "Using cache" in step


@pytest.fixture(scope="module")
def search_image(context: Path) -> Iterator[str]:
    tag = f"localhost/patchbay-search:test-{secrets.token_hex(3)}"
    _, took = build(context, "search", tag)
    print(f"built {tag} in {took:.0f} s")
    yield tag
    subprocess.run(["buildah", "rmi", tag], capture_output=True)


def test_a_source_change_reuses_the_dependency_layer(context: Path, search_image: str) -> None:
    """Rebuilt after a change to a server's source: the dependency layer comes from the cache; only the
    workspace packages are installed again."""
    changed = context / "servers" / "search" / "src" / "patchbay_search" / "__init__.py"
    changed.write_text(changed.read_text() + f"\n# changed by tests/test_image.py {secrets.token_hex(4)}\n")
    tag = f"{search_image}-changed"
    log, took = build(context, "search", tag)
    try:
        assert step_cached(log, "--no-install-workspace"), "the dependency layer was rebuilt"
        assert not step_cached(log, "sh deploy/build-env.sh"), "the changed source was not installed"
        print(f"rebuilt after a source change in {took:.0f} s")
    finally:
        subprocess.run(["buildah", "rmi", tag], capture_output=True)


async def test_the_image_serves_with_a_token_and_stops_on_sigterm(search_image: str) -> None:
    """podman run: /healthz without a token, a tool call with it, 401 without, and SIGTERM ends it with 0."""
    token, port, name = secrets.token_hex(16), free_port(), f"patchbay-test-{secrets.token_hex(3)}"
    env = {"PATCHBAY_AUTH_TOKEN": token, "PORT": str(port), "BRAVE_API_KEY": ""}
    run = [*PODMAN, "run", "-d", "--name", name, *RUN_LIMITS, "--read-only", "--tmpfs", "/tmp"]
    for key in env:
        run += ["-e", key]
    started = subprocess.run(
        [*run, search_image, "--base-url", "http://127.0.0.1:9"],
        env={**os.environ, **env}, capture_output=True, text=True,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx2.get(f"{base}/healthz", timeout=1)
                if health.status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, _logs(name)
            time.sleep(0.2)
        assert health.json()["server"] == "patchbay-search"
        top = subprocess.run([*PODMAN, "top", name, "user", "args"], capture_output=True, text=True).stdout
        assert "patchbay" in top.splitlines()[1] and token not in top, top  # user 10001, no token in argv
        assert httpx2.post(f"{base}/mcp", json={}).status_code == 401
        server = HttpServer(None, port, "streamable-http")  # type: ignore[arg-type]
        async with connect(server, era="legacy", headers={"Authorization": f"Bearer {token}"}) as client:
            result = await client.call_tool("brave_web_search", {"query": "patchbay"})
            text = result.content[0].text  # type: ignore[union-attr]
            assert result.is_error and "BRAVE_API_KEY" in text, (
                text
            )  # the server's own answer, from the image

        began = time.monotonic()
        subprocess.run([*PODMAN, "kill", "--signal", "TERM", name], check=True, capture_output=True)
        waited = subprocess.run([*PODMAN, "wait", name], capture_output=True, text=True, timeout=60)
        assert waited.stdout.strip() == "0", f"exit status {waited.stdout!r}: {_logs(name)}"
        assert time.monotonic() - began < 15
        assert "server stopped" in _logs(name)
    finally:
        subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True)


def _logs(name: str) -> str:
    return subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True).stderr[-3000:]
