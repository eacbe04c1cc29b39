"""Main-content extraction quality on the saved real pages: patchbay-fetch against the alternatives.

For each page in servers/fetch/tests/pages/manifest.json, every extractor's output is checked for the
phrases a reader needs (`must`, recall) and the page furniture that should be gone (`must_not`, noise).
Compared, in the same run:

- patchbay-fetch (lxml, this repository);
- the official server's pipeline: readabilipy (pure Python, as when Node is absent) + markdownify;
- the official server's pipeline with Readability.js (Node), when `node` and its modules are present;
- trafilatura (Markdown output) and readability-lxml (+ markdownify).

The others run in the official server's venv (.cache/official/fetch, with trafilatura and readability-lxml
installed beside it):

    uv pip install -p .cache/official/fetch mcp-server-fetch trafilatura readability-lxml
    uv run python bench/fetch_quality.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from _harness import OFFICIAL, ROOT, table

PAGES = ROOT / "servers/fetch/tests/pages"
PYTHON = OFFICIAL / "fetch" / "bin" / "python"

OTHERS = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import markdownify, trafilatura
from readability import Document
from readabilipy import simple_json_from_html_string
from readabilipy.simple_json import have_node
manifest = json.load(open(sys.argv[1]))
out = {}
node = have_node()
for entry in manifest["pages"]:
    html = open(sys.argv[2] + "/" + entry["file"], "rb").read()
    utf8 = b"charset=utf-8" in html.lower() or b'charset="utf-8"' in html.lower()
    text = html.decode("utf-8" if utf8 else "cp1252", "replace")
    row = {}
    def md(fragment):
        return markdownify.markdownify(fragment or "", heading_style="ATX")
    t = time.perf_counter()
    simple = simple_json_from_html_string(text, use_readability=False)
    row["official (no Node)"] = (md(simple["content"]), time.perf_counter() - t)
    if node:
        t = time.perf_counter()
        simple = simple_json_from_html_string(text, use_readability=True)
        row["official (Node)"] = (md(simple["content"]), time.perf_counter() - t)
    t = time.perf_counter()
    found = trafilatura.extract(text, output_format="markdown", include_tables=True, include_links=True)
    row["trafilatura"] = (found or "", time.perf_counter() - t)
    t = time.perf_counter()
    row["readability-lxml"] = (md(Document(text).summary()), time.perf_counter() - t)
    out[entry["file"]] = row
print(json.dumps(out))
"""


def normalise(text: str) -> str:
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"[*_\\`#\[\]]", "", text)
    return re.sub(r"\s+", " ", text)


def main() -> None:
    from patchbay_fetch import extract

    manifest = json.loads((PAGES / "manifest.json").read_text())
    results: dict[str, dict[str, tuple[str, float]]] = {}
    for entry in manifest["pages"]:
        started = time.perf_counter()
        text, _ = extract.decode_body((PAGES / entry["file"]).read_bytes(), None, html=True)
        markdown = extract.parse_html(text, entry["url"]).markdown()
        results[entry["file"]] = {"patchbay-fetch": (markdown, time.perf_counter() - started)}
    if PYTHON.exists():
        done = subprocess.run(
            [str(PYTHON), "-c", OTHERS, str(PAGES / "manifest.json"), str(PAGES)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        for file, row in json.loads(done.stdout).items():
            results[file].update({name: (md, seconds) for name, (md, seconds) in row.items()})
    else:
        print(f"(official venv missing at {PYTHON}: only patchbay-fetch is scored)", file=sys.stderr)

    extractors = list(next(iter(results.values())))
    totals = {name: [0, 0, 0, 0, 0.0] for name in extractors}  # found, must, noise, must_not, seconds
    per_page = []
    for entry in manifest["pages"]:
        row: list[object] = [entry["file"]]
        for name in extractors:
            markdown, seconds = results[entry["file"]].get(name, ("", 0.0))
            flat = normalise(markdown)
            found = sum(normalise(p) in flat for p in entry["must"])
            noise = sum(normalise(p) in flat for p in entry["must_not"])
            total = totals[name]
            total[0] += found
            total[1] += len(entry["must"])
            total[2] += noise
            total[3] += len(entry["must_not"])
            total[4] += seconds
            row.append(f"{found}/{len(entry['must'])} +{noise}")
        per_page.append(row)
    title = "Per page: needed phrases found / total, +furniture phrases left in"
    table(title, ["page", *extractors], per_page)
    summary = [
        [
            name,
            f"{t[0]}/{t[1]} ({100 * t[0] / t[1]:.0f}%)",
            f"{t[2]}/{t[3]} ({100 * t[2] / max(1, t[3]):.0f}%)",
            t[4] * 1000,
        ]
        for name, t in totals.items()
    ]
    table("All pages", ["extractor", "content recall", "furniture left", "total ms"], summary)


if __name__ == "__main__":
    main()
