"""`make bench`: every side-by-side benchmark in one run, and bench/REPORT.md with ratios and a chart.

1. The headline, measured here the same way for every server and the official server it replaces
   (both over stdio, raw JSON-RPC on the pipes, no client library in between): cold start (spawn ->
   initialize answered, p50), warm request latency (`tools/list`, p50 and p99), idle RSS after the
   handshake, and the size of the `tools/list` answer (what every conversation pays in context).
2. Every bench/*_compare.py, *_vs_official.py (http_vs_official.py: wrk against stateless HTTP) and
   *_quality.py script, then bench/filesystem_search.py (search_content against ripgrep),
   overhead.py, overhead_inprocess.py, first_call.py and cold_start.py, one after the
   other (each runs its two servers side by side in one process); their tables, with each server's own
   workload figures, are copied into the report.
3. bench/REPORT.md, bench/report.png (ratios patchbay / official), the headline as Markdown on stdout, and
   the same headline in README.md (between its `bench:headline` markers; `--readme` rewrites only that).

    uv run python bench/report.py [--only redis,sqlite] [--skip-scripts] [--runs 7]

A script that fails is reported with its exit status and the end of its output; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _harness import OFFICIAL, ROOT, percentile, rss_kib

BENCH = Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"
NODE = "node"


def _js(short: str, package: str) -> str:
    return str(OFFICIAL / short / "node_modules" / "@modelcontextprotocol" / package / "dist" / "index.js")


@dataclass
class Pair:
    """One comparison: our command line and the official one, given the running components."""

    name: str
    official_name: str
    ours: Callable[[dict[str, str]], tuple[list[str], dict[str, str]]]
    official: Callable[[dict[str, str]], tuple[list[str], dict[str, str]]]
    components: tuple[str, ...] = ()


Command = Callable[[dict[str, str]], tuple[list[str], dict[str, str]]]  # components -> argv, env


def _ours(name: str, *args: str, **env: str) -> Command:
    return lambda c: ([str(VENV_BIN / f"patchbay-{name}"), *(a.format(**c) for a in args)], dict(env))


def _node(script: str, *args: str, **env: str) -> Command:
    return lambda c: ([NODE, script, *(a.format(**c) for a in args)], dict(env))


def _bin(path: Path, *args: str, **env: str) -> Command:
    return lambda c: ([str(path), *(a.format(**c) for a in args)], dict(env))


PAIRS = [
    Pair("browser", "@playwright/mcp", _ours("browser"),
         _node(str(OFFICIAL / "playwright-mcp/node_modules/@playwright/mcp/cli.js"), "--headless",
               "--executable-path", "{chromium}"), ("chromium",)),
    Pair("fetch", "mcp-server-fetch", _ours("fetch"), _bin(OFFICIAL / "fetch/bin/mcp-server-fetch")),
    Pair("filesystem", "@modelcontextprotocol/server-filesystem", _ours("filesystem", "{tmp}"),
         _node(_js("filesystem", "server-filesystem"), "{tmp}")),
    Pair("github", "@modelcontextprotocol/server-github",
         _ours("github", GITHUB_PERSONAL_ACCESS_TOKEN="ghp_placeholder"),
         _node(_js("github", "server-github"), GITHUB_PERSONAL_ACCESS_TOKEN="ghp_placeholder")),
    Pair("postgres", "@modelcontextprotocol/server-postgres", _ours("postgres", "--dsn", "bench={postgres}"),
         _node(_js("postgres", "server-postgres"), "{postgres}"), ("postgres",)),
    Pair("redis", "@modelcontextprotocol/server-redis", _ours("redis", "--url", "{redis}"),
         _node(_js("redis", "server-redis"), "{redis}"), ("redis",)),
    Pair("search", "@modelcontextprotocol/server-brave-search", _ours("search", BRAVE_API_KEY="placeholder"),
         _node(_js("brave-search", "server-brave-search"), BRAVE_API_KEY="placeholder")),
    Pair("slack", "@modelcontextprotocol/server-slack",
         _ours("slack", "--base-url", "http://127.0.0.1:9/api/", SLACK_BOT_TOKEN=""),
         _node(_js("slack", "server-slack"), SLACK_BOT_TOKEN="xoxb-placeholder", SLACK_TEAM_ID="T0")),
    Pair("sqlite", "mcp-server-sqlite", _ours("sqlite", "--db", "bench={sqlite}"),
         _bin(OFFICIAL / "sqlite/bin/mcp-server-sqlite", "--db-path", "{sqlite}")),
]  # fmt: skip


# --- the headline: raw JSON-RPC over stdio ----------------------------------------------------------------


# Servers start as a user's would, from bytecode: with PYTHONDONTWRITEBYTECODE (set in some shells and
# CI images) every Python start would compile every module again, ours and the official Python servers'.
_STARTS_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class Stdio:
    """A server process spoken to in JSON-RPC lines."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**_STARTS_ENV, **env},
        )  # fmt: skip
        self.buffer = b""
        self.next_id = 0

    def request(self, method: str, params: dict[str, object] | None = None, timeout: float = 60) -> bytes:
        """Send one request; the raw answer line."""
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if f'"id":{self.next_id}'.encode() in line.replace(b" ", b""):
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                raise TimeoutError(f"no answer to {method}")
            chunk = self.process.stdout.read1(1 << 20)  # type: ignore[attr-defined]
            if not chunk:
                raise RuntimeError(f"the server exited ({self.process.poll()}) before answering {method}")
            self.buffer += chunk

    def handshake(self) -> None:
        self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {},
             "clientInfo": {"name": "patchbay-bench", "version": "0"}},
        )  # fmt: skip
        assert self.process.stdin
        self.process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def headline(argv: list[str], env: dict[str, str], runs: int, calls: int) -> dict[str, float]:
    """Cold start p50, warm tools/list p50/p99, idle RSS (MiB) and tools/list size (bytes) of one server."""
    starts = []
    for _ in range(runs):
        began = time.perf_counter()
        server = Stdio(argv, env)
        try:
            server.handshake()
            starts.append((time.perf_counter() - began) * 1000)
        finally:
            server.close()
    server = Stdio(argv, env)
    try:
        server.handshake()
        listing = server.request("tools/list")
        size = len(json.dumps(json.loads(listing)["result"], separators=(",", ":")))
        warm = []
        for _ in range(calls):
            began = time.perf_counter()
            server.request("tools/list")
            warm.append((time.perf_counter() - began) * 1000)
        time.sleep(0.5)
        rss = rss_kib(server.process.pid) / 1024
    finally:
        server.close()
    return {
        "cold": statistics.median(starts), "warm50": percentile(warm, 50), "warm99": percentile(warm, 99),
        "rss": rss, "bytes": size,
    }  # fmt: skip


@contextmanager
def components(needed: set[str]) -> Iterator[dict[str, str]]:
    """Running components by name: a scratch folder and a SQLite file always; Redis, PostgreSQL on demand."""
    import sqlite3

    from patchbay_common.testing import components as real

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="patchbay-report-") as tmp:
        Path(tmp, "hello.txt").write_text("hello\n")
        db = Path(tmp, "bench.db")
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
            connection.executemany("INSERT INTO t (name) VALUES (?)", [(f"row {i}",) for i in range(100)])
        urls = {"tmp": tmp, "sqlite": str(db)}
        if "redis" in needed:
            urls["redis"] = str(stack.enter_context(real.redis_server()).url)
        if "postgres" in needed:
            urls["postgres"] = str(stack.enter_context(real.postgres_server()).dsn)
        if "chromium" in needed:
            urls["chromium"] = real.chromium_executable()
        yield urls


def measure_headline(pairs: list[Pair], runs: int, calls: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with components({c for p in pairs for c in p.components}) as urls:
        for pair in pairs:
            row: dict[str, object] = {"server": pair.name, "official": pair.official_name}
            for side, build in (("ours", pair.ours), ("theirs", pair.official)):
                argv, env = build(urls)
                missing = (argv[0] != NODE and not Path(argv[0]).exists()) or (
                    argv[0] == NODE and not Path(argv[1]).exists()
                )
                if missing:
                    row[side] = f"not installed ({argv[1] if argv[0] == NODE else argv[0]})"
                    continue
                try:
                    row[side] = headline(argv, env, runs, calls)
                except Exception as exc:
                    row[side] = f"failed: {exc}"
            print(f"  headline: {pair.name}", file=sys.stderr)
            rows.append(row)
    return rows


# --- the per-server scripts -------------------------------------------------------------------------------


def scripts(only: set[str] | None) -> list[Path]:
    paired = {*BENCH.glob("*_compare.py"), *BENCH.glob("*_vs_official.py"), *BENCH.glob("*_quality.py")}
    # The issue 22 figures: content search against rg, per-call overhead, the first call after start-up,
    # cold start of clean installs.
    found = [
        *sorted(paired),
        BENCH / "filesystem_search.py",
        BENCH / "overhead.py",
        BENCH / "overhead_inprocess.py",
        BENCH / "first_call.py",
        BENCH / "cold_start.py",
    ]
    if only:
        found = [p for p in found if p.stem.split("_")[0] in only]
    return found


def load() -> str:
    """The machine's load averages (1, 5, 15 min): every figure is read against them."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_script(path: Path, timeout: float) -> dict[str, object]:
    began = time.perf_counter()
    load_before = load()
    try:
        done = subprocess.run(
            [sys.executable, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
        status, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        status, out, err = "timeout", str(exc.stdout or ""), str(exc.stderr or "")
    return {
        "script": path.name,
        "status": status,
        "seconds": time.perf_counter() - began,
        "load": f"{load_before} at start, {load()} at end",
        "out": out,
        "err": err,
    }


def parse_tables(text: str) -> list[tuple[str, list[list[str]]]]:
    """The tables `_harness.table` printed: title, header, a dashes line giving the column widths, rows."""
    lines = text.splitlines()
    tables = []
    for index, line in enumerate(lines):
        if index < 2 or not re.fullmatch(r"-+(  -+)*", line):
            continue
        spans, position = [], 0
        for dashes in line.split("  "):
            spans.append((position, position + len(dashes)))
            position += len(dashes) + 2
        spans[-1] = (spans[-1][0], 10_000)
        rows = [[lines[index - 1][a:b].strip() for a, b in spans]]
        for row in lines[index + 1 :]:
            if not row.strip():
                break
            rows.append([row[a:b].strip() for a, b in spans])
        tables.append((lines[index - 2].strip(), rows))
    return tables


def markdown_table(rows: list[list[str]]) -> str:
    escape = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    out = ["| " + " | ".join(escape[0]) + " |", "|" + "---|" * len(escape[0])]
    out += ["| " + " | ".join(row) + " |" for row in escape[1:]]
    return "\n".join(out)


# --- the report -------------------------------------------------------------------------------------------

FIGURES = (("cold", "cold start p50 (ms)"), ("warm50", "warm p50 (ms)"), ("warm99", "warm p99 (ms)"),
           ("rss", "idle RSS (MiB)"), ("bytes", "tools/list (bytes)"))  # fmt: skip


def ratio(ours: object, theirs: object, key: str) -> str:
    if isinstance(ours, dict) and isinstance(theirs, dict) and theirs[key]:
        return f"{ours[key] / theirs[key]:.2f}x"
    return "-"


def headline_markdown(rows: list[dict[str, object]]) -> str:
    header = ["server", "replaces", *[f"{label}: patchbay / official" for _, label in FIGURES]]
    body = []
    for row in rows:
        ours, theirs = row.get("ours"), row.get("theirs")
        cells = [f"patchbay-{row['server']}", str(row["official"])]
        for key, _ in FIGURES:
            if isinstance(ours, dict) and isinstance(theirs, dict):
                fmt = "{:.0f}" if key == "bytes" else "{:.1f}"
                cells.append(
                    f"{fmt.format(ours[key])} / {fmt.format(theirs[key])} ({ratio(ours, theirs, key)})"
                )
            else:
                cells.append(f"{_short(ours)} / {_short(theirs)}")
        body.append(cells)
    return markdown_table([header, *body])


def _short(value: object) -> str:
    if isinstance(value, dict):
        return "ok"
    return str(value)[:60]


def chart(rows: list[dict[str, object]], path: Path) -> bool:
    """Grouped bars of patchbay / official per figure and server (log scale; 1.0 = same as official)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    measured = [r for r in rows if isinstance(r.get("ours"), dict) and isinstance(r.get("theirs"), dict)]
    if not measured:
        return False
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(FIGURES)
    for offset, (key, label) in enumerate(FIGURES):
        values = [r["ours"][key] / r["theirs"][key] for r in measured]  # type: ignore[index]
        ax.bar([i + offset * width for i in range(len(measured))], values, width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks([i + width * (len(FIGURES) - 1) / 2 for i in range(len(measured))])
    ax.set_xticklabels([f"patchbay-{r['server']}" for r in measured], rotation=20)
    ax.set_ylabel("patchbay / official (lower is better)")
    ax.set_title("patchbay against the official servers, same machine, same run")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def old_sections(report: Path, *titles: str) -> list[str]:
    """The old report's `## ` sections whose titles start with one of `titles`, to carry over unchanged."""
    if not report.exists():
        return []
    kept: list[str] = []
    keeping = False
    for line in report.read_text().splitlines():
        if line.startswith("## "):
            keeping = line.startswith(titles)
        if keeping:
            kept.append(line)
    return [*kept, ""] if kept else []


README = ROOT / "README.md"
_README_START = "<!-- bench:headline"
_README_END = "<!-- /bench:headline -->"


def readme_headline(report: str) -> str:
    """The README's headline block from bench/REPORT.md: its date line and its headline table."""
    generated = re.search(
        r"^Generated by .*? on (.+?), (\d+) CPUs, .*?load average (.+?) at start", report, re.M
    )
    table_lines = report.split("## Headline", 1)[1].split("\n\n")[2].strip()
    when, cpus, load_start = generated.groups() if generated else ("?", "?", "?")
    return (
        f"Headline, patchbay / official (below 1.00x is better), stdio, raw JSON-RPC, both in the same run "
        f"(`make bench`, {when}, {cpus} CPUs, load average {load_start} at start):\n\n{table_lines}\n"
    )


def update_readme(report: str) -> None:
    """Replace the README's headline block (between its two markers) with the one in `report`."""
    text = README.read_text()
    start = text.index(_README_START)
    start = text.index("\n", start) + 1
    end = text.index(_README_END)
    README.write_text(text[:start] + readme_headline(report) + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated server names (default: all)")
    parser.add_argument("--skip-scripts", action="store_true", help="the headline only")
    parser.add_argument("--runs", type=int, default=7, help="cold starts per server")
    parser.add_argument("--calls", type=int, default=200, help="warm requests per server")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one script may take")
    parser.add_argument(
        "--readme", action="store_true", help="only rewrite README.md's headline from bench/REPORT.md"
    )
    args = parser.parse_args()
    if args.readme:
        update_readme((BENCH / "REPORT.md").read_text())
        return
    only = set(args.only.split(",")) if args.only else None
    pairs = [p for p in PAIRS if not only or p.name in only]

    started = time.time()
    load_at_start = load()
    rows = measure_headline(pairs, args.runs, args.calls)
    results = []
    if not args.skip_scripts:
        for path in scripts(only):
            print(f"== {path.name}", file=sys.stderr)
            results.append(run_script(path, args.timeout))
            print(f"   {results[-1]['status']} in {results[-1]['seconds']:.0f} s", file=sys.stderr)

    has_chart = chart(rows, BENCH / "report.png")
    head = headline_markdown(rows)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    minutes = (time.time() - started) / 60
    parts = [
        "# patchbay benchmark report",
        "",
        f"Generated by `make bench` (bench/report.py) on {when}, {os.cpu_count()} CPUs, {minutes:.0f} min, "
        f"load average {load_at_start} at start and {load()} at end.",
        "Every comparison runs both servers on the same machine in the same run; ratios are patchbay /",
        "official (below 1 is better for cold start, latency, memory and tools/list size).",
        "",
        "## Headline",
        "",
        "Measured by bench/report.py the same way for every pair: raw JSON-RPC over stdio, cold start = "
        f"spawn to initialize answered (p50 of {args.runs}), warm = `tools/list` round trip "
        f"({args.calls} calls), "
        "idle RSS after the handshake, tools/list = bytes of the answer (context every conversation pays).",
        "",
        head,
        "",
    ]
    if has_chart:
        parts += ["![patchbay / official per figure](report.png)", ""]
    if args.skip_scripts:  # the headline only: the scripts' figures of the last full run stay
        parts += old_sections(BENCH / "REPORT.md", "## Each server's own figures")
    else:
        parts += ["## Each server's own figures", ""]
    for result in results:
        parts += [f"### {result['script']}", ""]
        if result["status"] != 0:
            tail = (str(result["err"]) or str(result["out"]))[-1500:]
            parts += [f"**Did not finish** (exit {result['status']}):", "", "```", tail, "```", ""]
        tables = parse_tables(str(result["out"]))
        for title, table_rows in tables:
            parts += [f"**{title}**", "", markdown_table(table_rows), ""]
        if not tables and result["out"]:
            parts += ["```", str(result["out"]).strip()[-4000:], "```", ""]
        parts += [f"({result['seconds']:.0f} s, load average {result['load']})", ""]
    parts += old_sections(BENCH / "REPORT.md", "## Issue")  # written by hand, kept below
    (BENCH / "REPORT.md").write_text("\n".join(parts))
    update_readme("\n".join(parts))
    print(head)
    print(f"\nwrote {BENCH / 'REPORT.md'}")


if __name__ == "__main__":
    main()
