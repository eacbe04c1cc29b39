"""Times as a model writes them (`2h`, `1d`, `2026-11-20`, a Slack ts) turned into Slack timestamps."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from patchbay_common.errors import UserError

__all__ = ["format_ts", "is_slack_ts", "parse_time", "ts_value"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SLACK_TS = re.compile(r"^\d{9,11}(\.\d{1,6})?$")
_HINT = (
    "Give a relative age (30m, 2h, 1d, 1w), an ISO date or date-time (2026-11-20, 2026-11-20T14:00, "
    "times in UTC unless an offset is given), or a message ts (1700000000.000100)."
)


def parse_time(value: str, *, name: str, now: float | None = None) -> float:
    """Seconds since the epoch for `value`.

    Raises:
        UserError: `value` is none of the accepted forms.
    """
    now = time.time() if now is None else now
    text = value.strip()
    if match := _RELATIVE.match(text):
        return now - float(match.group(1)) * _UNITS[match.group(2).lower()]
    if _SLACK_TS.match(text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name}={value!r} is not a time this server reads.", hint=_HINT) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def is_slack_ts(value: object) -> bool:
    """Whether `value` is a Slack timestamp string (`1700000000.000100`)."""
    return isinstance(value, str) and bool(_SLACK_TS.match(value))


def ts_value(ts: str | float) -> float:
    """A Slack ts (`"1700000000.000100"`) as a float."""
    try:
        return float(ts)
    except (TypeError, ValueError):
        return 0.0


def format_ts(ts: str | float) -> str:
    """A Slack ts as `2026-11-20 14:03` (UTC)."""
    return datetime.fromtimestamp(ts_value(ts), UTC).strftime("%Y-%m-%d %H:%M")


def slack_ts(seconds: float) -> str:
    """Seconds since the epoch as a Slack ts string with six decimals."""
    return f"{seconds:.6f}"
