"""Every finished server's README has the standard sections in order, and its tables match the code.

The flags and tools tables live between `<!-- BEGIN generated:flags -->` / `<!-- END generated:flags -->`
(and the same for `tools`) and are written by scripts/readme_tables.py from the Settings class and the tools
`build()` registers. The markers are required for the servers in `shipping.SHIPPED` (the lead adds a server
there when it lands); any other README that already has them must be current too. A README without them is
reported by the script (`uv run python scripts/readme_tables.py`), not failed here.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from shipping import README_SECTIONS as SECTIONS
from shipping import ROOT, SHIPPED, server_names

sys.path.insert(0, str(ROOT / "scripts"))

import readme_tables


def _readme(name: str) -> str:
    return (ROOT / "servers" / name / "README.md").read_text()


def _has_markers(name: str) -> bool:
    return "<!-- BEGIN generated:" in _readme(name)


CHECKED = sorted(set(SHIPPED) | {name for name in server_names() if _has_markers(name)})


@pytest.mark.parametrize("name", SHIPPED)
def test_standard_sections_in_order(name: str) -> None:
    headings = re.findall(r"^## (.+)$", _readme(name), re.MULTILINE)
    positions = []
    for section in SECTIONS:
        found = [i for i, heading in enumerate(headings) if heading.lower().startswith(section.lower())]
        assert found, f"servers/{name}/README.md has no '## {section}' section (sections: {headings})"
        positions.append(found[0])
    assert positions == sorted(positions), (
        f"servers/{name}/README.md: sections must come in the order {SECTIONS}; found {headings}"
    )
    assert _readme(name).startswith(f"# patchbay-{name}\n")


@pytest.mark.parametrize("name", CHECKED)
def test_generated_tables_are_current(name: str) -> None:
    current = _readme(name)
    updated, missing = readme_tables.regenerate(name, current)
    assert not missing, (
        f"servers/{name}/README.md lacks the <!-- BEGIN generated:{missing[0]} --> ... <!-- END generated:"
        f"{missing[0]} --> markers; add them where the table goes, then run "
        "uv run python scripts/readme_tables.py"
    )
    assert updated == current, (
        f"servers/{name}/README.md is stale: its tables differ from the code. "
        f"Run: uv run python scripts/readme_tables.py {name}"
    )


def test_a_stale_table_is_caught_and_fixed() -> None:
    """Change one generated row by hand: regenerate() restores it, so the check above would have failed."""
    name = SHIPPED[0]
    current = _readme(name)
    first_row = re.search(r"<!-- BEGIN generated:flags -->\n(?:.*\n){2}(.*)\n", current)
    assert first_row is not None
    tampered = current.replace(first_row.group(1), "| `--made-up` | `NOPE` | unset | not in the code |")
    assert tampered != current
    restored, _ = readme_tables.regenerate(name, tampered)
    assert restored == current


def test_the_script_checks_and_reports() -> None:
    """`readme_tables.py --check` exits 0 on current READMEs and names those without markers."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check", *SHIPPED],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    without = [name for name in server_names() if not _has_markers(name)]
    if without:
        report = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check", without[0]],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert report.returncode == 0
        assert f"servers/{without[0]}/README.md: no generated:flags/tools markers (skipped)" in report.stdout


def test_the_readme_headline_is_the_benchmark_reports() -> None:
    """README.md's headline table is bench/REPORT.md's, as `make bench` (bench/report.py) writes both."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- bench:headline", 1)[1].split("<!-- /bench:headline -->", 1)[0]
    report = (ROOT / "bench" / "REPORT.md").read_text().split("## Headline", 1)[1]
    table = report.split("\n\n")[2].strip()
    assert table.startswith("| server |") and table in block, (
        "README.md's headline differs from bench/REPORT.md's: uv run python bench/report.py --readme"
    )
