"""Cold start of every server from a clean install of its wheel alone, against a minimal MCPServer.

For each server: `uv build` its wheel and patchbay-common's, install them into a fresh virtual environment
(nothing else from the workspace: no dev tools, no other servers, no optional extras), and start, in turns,
the server and a one-tool MCPServer run by the same environment's Python (so both load the same SDK from the
same site-packages). A start is timed from spawn to the `initialize` answer, over stdio, raw JSON-RPC.
The wheels are installed with their bytecode compiled (as pip does, and as any start after the first finds
it), and PYTHONDONTWRITEBYTECODE is dropped from the started processes' environment: otherwise every start
compiles every module from source, which costs more than the imports themselves and hides what they cost.

Two figures per server, both ratios to the minimal server of the same environment, for a start that finds
the tool schema cache an earlier start wrote (as every start but the first after an install does), and the
same two for a start without it (`PATCHBAY_CACHE_DIR=off`, as the first start after an install):

- wall time to the `initialize` answer (p50), what a user waits for;
- CPU time of the whole process (user + system, from wait4: start, handshake, one tools/list, exit), which
  other jobs on the machine barely disturb, so it is the figure to read on a busy machine.

Then, per server, the modules its start imports that the minimal server does not, with their own import
time (`python -X importtime`), the largest first: where the difference goes.

    uv run python bench/cold_start.py [--runs 9] [--only sqlite,redis] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

from _harness import HANDSHAKE, ROOT, table

MINIMAL_SERVER = textwrap.dedent(
    """
    from mcp.server import MCPServer

    mcp = MCPServer("minimal")

    @mcp.tool()
    def echo(text: str) -> str:
        \"\"\"Return the text.\"\"\"
        return text

    mcp.run()
    """
)

# Arguments and variables a server needs to start with nothing running (placeholders; unreachable ports
# fail fast). A start-up check that finds a problem logs one warning line: part of what is measured.
START = {
    "browser": ([], {}),
    "fetch": ([], {}),
    "filesystem": (["{tmp}"], {}),
    "github": ([], {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_placeholder"}),
    "postgres": (["--dsn", "bench=postgresql://bench@127.0.0.1:9/bench"], {}),
    "redis": (["--url", "redis://127.0.0.1:9/0"], {}),
    "search": ([], {"BRAVE_API_KEY": "placeholder"}),
    "slack": (["--base-url", "http://127.0.0.1:9/api/"], {"SLACK_BOT_TOKEN": ""}),
    "sqlite": ([], {}),
}


def build_wheels(names: list[str], out: Path) -> None:
    """patchbay-common's wheel and each server's, into `out`."""
    for package in ["patchbay-common", *(f"patchbay-{n}" for n in names)]:
        subprocess.run(
            ["uv", "build", "--quiet", "--wheel", "--package", package, "--out-dir", str(out)],
            cwd=ROOT,
            check=True,
        )


def clean_env(name: str, wheels: Path, where: Path) -> Path:
    """A fresh virtual environment with only patchbay-<name> (and what it depends on), bytecode compiled.

    The two wheels built here are taken as built: uv would otherwise install an older build of the same
    version from its cache.
    """
    venv = where / name
    if not (venv / "bin" / "python").exists():  # --keep reuses it (the two wheels reinstalled)
        subprocess.run(
            ["uv", "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, capture_output=True
        )
    python = venv / "bin" / "python"
    subprocess.run(
        ["uv", "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python), "--find-links",
         str(wheels), "--refresh-package", "patchbay-common", "--refresh-package", f"patchbay-{name}",
         "--reinstall-package", "patchbay-common", "--reinstall-package", f"patchbay-{name}",
         f"patchbay-{name}"],
        check=True,
    )  # fmt: skip
    return venv


def start_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(ms from spawn to the initialize answer, CPU ms of the whole process)."""
    began = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert process.stdin and process.stdout
    process.stdin.write(HANDSHAKE.encode())
    process.stdin.flush()
    initialized = 0.0
    for line in process.stdout:
        message = json.loads(line)
        if message.get("id") == 1:
            initialized = (time.perf_counter() - began) * 1000
        if message.get("id") == 2:
            break
    process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if not initialized:
        raise RuntimeError(f"{argv[0]} never answered initialize (exit {process.returncode})")
    return initialized, (usage.ru_utime + usage.ru_stime) * 1000


def imported(python: Path, code: str, env: dict[str, str]) -> dict[str, int]:
    """Module -> own import time in µs, from `python -X importtime -c code`."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, check=False
    )
    found = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, _cumulative, module = line[len("import time:") :].split("|")
            found[module.strip()] = int(own)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="starts of each server (and of its minimal)")
    parser.add_argument("--only", help="comma-separated server names (default: every server)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the environments here and keep them (reused; wheels rebuilt)",
    )
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(START)
    if not shutil.which("uv"):
        raise SystemExit("uv is missing (make setup installs it)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="patchbay-cold-"))
    root.mkdir(parents=True, exist_ok=True)
    load_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    try:
        wheels = root / "wheels"
        build_wheels(names, wheels)  # always: a kept environment gets today's code
        scratch = root / "scratch"
        scratch.mkdir(exist_ok=True)
        minimal = root / "minimal.py"
        minimal.write_text(MINIMAL_SERVER)
        venvs = {}
        for name in names:
            venvs[name] = clean_env(name, wheels, root)
            print(f"  clean environment for patchbay-{name}: {venvs[name]}", file=sys.stderr)
        base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PATCHBAY_", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"))
        }
        commands = {}
        cache = root / "schema-cache"  # the tool schema cache a user's second start finds (tool_cache)
        for name in names:
            extra_args, extra_env = START[name]
            bin_dir = venvs[name] / "bin"
            env = {**base_env, **extra_env, "PATCHBAY_CACHE_DIR": str(cache)}
            ours = [str(bin_dir / f"patchbay-{name}"), *(a.format(tmp=scratch) for a in extra_args)]
            commands[name] = (
                (ours, env),
                ([str(bin_dir / "python"), str(minimal)], base_env),
                (ours, {**env, "PATCHBAY_CACHE_DIR": "off"}),  # what a first start pays: every schema built
            )
        walls: dict[str, tuple[list[float], ...]] = {n: ([], [], []) for n in names}
        cpus: dict[str, tuple[list[float], ...]] = {n: ([], [], []) for n in names}
        for name in names:  # one untimed start each: page cache, .pyc files
            for argv, env in commands[name]:
                start_once(argv, env)
        for run in range(args.runs):  # interleaved: the server, then its minimal, then the next server
            for name in names:
                for side, (argv, env) in enumerate(commands[name]):
                    wall, cpu = start_once(argv, env)
                    walls[name][side].append(wall)
                    cpus[name][side].append(cpu)
            print(f"  run {run + 1}/{args.runs}", file=sys.stderr)
        load_end = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        rows = []
        for name in names:
            ours_w, base_w, built_w = (statistics.median(s) for s in walls[name])
            ours_c, base_c, built_c = (statistics.median(s) for s in cpus[name])
            met = "met" if max(ours_w / base_w, ours_c / base_c) <= 1.05 else "missed"
            rows.append([
                f"patchbay-{name}", f"{ours_w:.0f}", f"{base_w:.0f}", f"{ours_w / base_w:.2f}x",
                f"{ours_c:.0f}", f"{base_c:.0f}", f"{ours_c / base_c:.2f}x", met,
                f"{built_w / base_w:.2f}x / {built_c / base_c:.2f}x",
            ])  # fmt: skip
        table(
            f"cold start from a clean install of each wheel, p50 of {args.runs} interleaved starts "
            f"(load average {load_start} at start, {load_end} at end); the last column is a start without "
            "the tool schema cache (PATCHBAY_CACHE_DIR=off), as the first start after an install or upgrade",
            ["server", "initialize ms", "minimal ms", "wall ratio", "CPU ms", "minimal CPU ms", "CPU ratio",
             "goal 1.05x (both)", "no cache: wall / CPU"],
            rows,
        )  # fmt: skip
        extra_rows = []
        for name in names:
            python = venvs[name] / "bin" / "python"
            env = commands[name][0][1]
            sdk_modules = imported(python, "from mcp.server import MCPServer", env)
            our_modules = imported(python, f"import patchbay_{name}.server", env)
            by_package: Counter[str] = Counter()
            for module, own in our_modules.items():
                if module not in sdk_modules:
                    by_package[module.split(".")[0]] += own
            added = sum(by_package.values()) / 1000
            top = ", ".join(f"{pkg} {us / 1000:.0f}" for pkg, us in by_package.most_common(6))
            extra_rows.append([f"patchbay-{name}", f"{added:.0f}", top])
        table(
            "what a server's import adds to the SDK's (own import time of modules the minimal server does "
            "not load, ms, by top-level package; python -X importtime, one run)",
            ["server", "added ms", "largest"],
            extra_rows,
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
