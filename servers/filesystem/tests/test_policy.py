"""Operator rules: hidden globs, write-protected globs, read-only subtrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchbay_common.errors import AccessDenied
from patchbay_filesystem.policy import Policy


@pytest.fixture
def policy(allowed: Path) -> Policy:
    return Policy(
        [str(allowed)],
        deny=[".env", "*.pem", "secrets/"],
        deny_write=[".git"],
        read_only=[str(allowed / "docs")],
    )


def test_deny_hides_at_any_depth(policy: Policy, allowed: Path) -> None:
    for path in (".env", "src/.env", "certs/key.pem", "secrets/a.txt", "x/secrets/b"):
        with pytest.raises(AccessDenied, match="deny rule"):
            policy.check_read(f"{allowed}/{path}")
    assert policy.hidden(f"{allowed}/secrets", is_dir=True)
    policy.check_read(f"{allowed}/src/main.py")
    policy.check_read(str(allowed))  # the allowed directory itself is never hidden


def test_deny_write_allows_reading(policy: Policy, allowed: Path) -> None:
    policy.check_read(f"{allowed}/.git/config")
    for path in (".git/config", ".git/hooks/pre-commit", "sub/.git/HEAD"):
        with pytest.raises(AccessDenied, match=r"write-protection rule '.git'"):
            policy.check_write(f"{allowed}/{path}")
    with pytest.raises(AccessDenied):
        policy.check_write(f"{allowed}/.git", is_dir=True)


def test_read_only_subtree(policy: Policy, allowed: Path) -> None:
    with pytest.raises(AccessDenied, match="read-only directory"):
        policy.check_write(f"{allowed}/docs/guide.md")
    with pytest.raises(AccessDenied, match="read-only directory"):
        policy.check_write(f"{allowed}/docs")
    policy.check_write(f"{allowed}/docs-other/x")  # a prefix sibling is not inside
    with pytest.raises(AccessDenied, match="holds the read-only directory"):
        policy.check_tree_write(str(allowed), [])


def test_tree_write_checks_everything_inside(policy: Policy, allowed: Path) -> None:
    with pytest.raises(AccessDenied, match=r"\.git"):
        policy.check_tree_write(f"{allowed}/project", [("README", False), (".git", True)])
    policy.check_tree_write(f"{allowed}/project", [("README", False)])


def test_describe(policy: Policy) -> None:
    text = "\n".join(policy.describe())
    assert ".env" in text and ".git" in text and "docs" in text
