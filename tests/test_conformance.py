"""The official MCP conformance suite (`@modelcontextprotocol/conformance`) against every registered server.

Over streamable HTTP, every scenario that applies to a server that is not the suite's own fixture server
(tests/CONFORMANCE.md says which apply and why the others do not). The whole suite runs once per
server (one Node process) against the server's long-lived HTTP server from the pool.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import node_tools
import pytest
from hardening import HttpPool

from registry import SPECS, ServerSpec, spec_id

# Keep in step with tests/CONFORMANCE.md.
APPLICABLE = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
    "logging-set-level",
)

Results = dict[str, list[dict[str, Any]]]  # scenario -> its checks


def run_suite(url: str) -> Results:
    """Every check of every server scenario, by scenario (the suite's own checks.json files).

    One Node process runs the whole suite (about 4 s): much cheaper than one process per scenario.
    """
    with tempfile.TemporaryDirectory(prefix="conformance-") as out:
        run = subprocess.run(
            [
                node_tools.node(),
                str(node_tools.require(node_tools.CONFORMANCE)),
                "server",
                "--url",
                url,
                "--suite",
                "all",
                "-o",
                out,
            ],
            capture_output=True,
            env=node_tools.node_env(),
            timeout=120,
            check=False,
        )
        results: Results = {}
        for path in sorted(Path(out).glob("server-*/checks.json")):
            scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", path.parent.name)
            results[scenario] = json.loads(path.read_text())
        missing = [name for name in APPLICABLE if not results.get(name)]
        assert not missing, f"no results for {missing}:\n{run.stdout.decode()[-3000:]}"
        return results


@pytest.fixture(scope="module")
def suite_results() -> dict[str, Results]:
    """The suite's results per server, filled by `results_for` (run once per server for both tests)."""
    return {}


def results_for(spec: ServerSpec, http_pool: HttpPool, cache: dict[str, Results]) -> Results:
    if spec.name not in cache:
        cache[spec.name] = run_suite(http_pool.get(spec).url)
    return cache[spec.name]


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_official_conformance_suite(
    spec: ServerSpec, http_pool: HttpPool, suite_results: dict[str, Results]
) -> None:
    results = results_for(spec, http_pool, suite_results)
    failures = [
        f"{scenario}/{check['id']}: {check.get('errorMessage')}"
        for scenario in APPLICABLE
        for check in results[scenario]
        if check["status"] == "FAILURE"
    ]
    assert not failures, f"patchbay-{spec.name} fails conformance checks:\n" + "\n".join(failures)
