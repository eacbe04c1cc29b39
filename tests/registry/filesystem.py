"""patchbay-filesystem in the cross-cutting tests: it serves the scratch folder, read-only, unconfigured."""

from __future__ import annotations

from patchbay_common.testing.clients import Launch
from registry import ServerSpec, TestEnv


def _prepare(env: TestEnv) -> None:
    (env.tmp / "hello.txt").write_text("hello from patchbay-filesystem\n")
    (env.tmp / "notes").mkdir(exist_ok=True)
    (env.tmp / "notes" / "todo.md").write_text("# TODO\n\n- write tests\n")


SPEC = ServerSpec(
    name="filesystem",
    launch=lambda env: Launch("patchbay-filesystem", [str(env.tmp)]),
    prepare=_prepare,
)
