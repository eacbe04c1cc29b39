"""Errors a model can act on, and secrets that never reach a model or a log.

A tool raises `UserError` (or a subclass) for a failure it anticipated: the model sees the message plus a
hint saying what to try next. Anything else is a bug: the model sees a generic line with the request id,
and the traceback goes only to the log. `redact` removes credentials from any text on the way out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = [
    "AccessDenied",
    "NotFound",
    "Partial",
    "UserError",
    "redact",
    "register_secret",
]

T = TypeVar("T")


class UserError(Exception):
    """An anticipated failure, shown to the model as an `isError` result.

    Args:
        message: what went wrong, in one sentence.
        hint: what the model can do next (another tool, another argument, ask the user).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class AccessDenied(UserError):
    """The operator's configuration does not allow this (outside roots, read-only, not allow-listed)."""


class NotFound(UserError):
    """The thing named does not exist."""


# --- redaction -----------------------------------------------------------------------------------------

_REDACTED = "***"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_pattern: re.Pattern[str] | None = None

# Credentials recognisable by their shape, whoever supplied them.
_SHAPES = re.compile(
    r"""
    (?P<url>(?<=[a-z0-9+.\-]://)[^\s/:@]*:)[^\s/@]+(?=@)    # scheme://user:PASSWORD@host
    | (?P<bearer>(?i:bearer|token|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}  # Authorization header values
    | eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*  # JWTs (OAuth access tokens)
    | gh[pousr]_[A-Za-z0-9]{20,}                           # GitHub tokens
    | github_pat_[A-Za-z0-9_]{20,}
    | xox[abposr]-[A-Za-z0-9\-]{10,}                       # Slack tokens
    | xapp-[A-Za-z0-9\-]{10,}
    | (?P<kv>(?i:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)\s*[=:]\s*)
      [^\s&;,'"]+                                          # password=..., api_key: ...
    """,
    re.VERBOSE,
)


def register_secret(value: str | None) -> None:
    """Remember a secret (token, password, key) so `redact` removes it wherever it appears."""
    global _secrets_pattern
    if not value or len(value) < 4:
        return
    with _secrets_lock:
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def _replace_shape(match: re.Match[str]) -> str:
    for group in ("url", "bearer", "kv"):
        prefix = match.group(group)
        if prefix is not None:
            return prefix + _REDACTED
    return _REDACTED


def redact(text: str) -> str:
    """Return `text` with registered secrets and credential-shaped strings replaced by `***`."""
    pattern = _secrets_pattern
    if pattern is not None:
        text = pattern.sub(_REDACTED, text)
    return _SHAPES.sub(_replace_shape, text)


# --- graceful degradation ------------------------------------------------------------------------------


@dataclass
class Partial(Generic[T]):
    """Results gathered from several sources, some of which may have failed.

    Use it when an optional source fails: keep what worked and say what is missing, instead of failing
    the whole call.
    """

    items: list[T] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item: T) -> None:
        """Keep one result."""
        self.items.append(item)

    def extend(self, items: Iterable[T]) -> None:
        """Keep several results."""
        self.items.extend(items)

    def fail(self, source: str, error: BaseException | str) -> None:
        """Record that `source` failed; the message is redacted."""
        self.failures.append((source, redact(str(error))))

    def note(self) -> str:
        """A line for the model saying which sources failed, or "" when none did."""
        if not self.failures:
            return ""
        parts: Sequence[str] = [f"{source} ({message})" for source, message in self.failures]
        return f"Note: partial result; these sources failed and are missing: {'; '.join(parts)}."
