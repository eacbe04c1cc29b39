"""One way to cap any output so that no tool can flood a model's context.

Every cap leaves an explicit marker saying what was cut and how to get the rest (an offset or an opaque
cursor), so a model can page instead of guessing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.principals import principal_digest

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_ROWS",
    "CappedRows",
    "CappedText",
    "cap_rows",
    "cap_text",
    "carried_by",
    "decode_cursor",
    "encode_carrying_cursor",
    "encode_cursor",
    "human_size",
    "set_cursor_scope",
    "truncation_marker",
]

DEFAULT_MAX_CHARS = 25_000
"""About 6k tokens: large enough for real work, small enough to leave room in any model's context."""

DEFAULT_MAX_ROWS = 200


def truncation_marker(shown: str, how: str = "") -> str:
    """The one line every capped output ends with: what is shown, and how to get the rest.

    `shown` says what the answer holds ("characters 0-25000 of 91234", "200 rows (row limit 200)");
    `how` is the continuation ("call again with offset=25000", "call read_more_rows with cursor=…").
    """
    return f"[truncated: showing {shown}; {how or 'ask for less to see the rest'}]"


@dataclass(frozen=True)
class CappedText:
    """A window of a longer text, with the marker a model reads when more remains."""

    text: str
    total_chars: int
    start: int
    end: int

    @property
    def truncated(self) -> bool:
        """Whether characters remain after this window."""
        return self.end < self.total_chars

    @property
    def next_offset(self) -> int | None:
        """The offset to pass to continue, or None when this window reaches the end."""
        return self.end if self.truncated else None

    def render(self, continue_with: str = "offset") -> str:
        """The window followed by a truncation marker when more remains."""
        if not self.truncated:
            return self.text
        shown = f"characters {self.start}-{self.end} of {self.total_chars}"
        return f"{self.text}\n{truncation_marker(shown, f'call again with {continue_with}={self.end}')}"


def cap_text(text: str, max_chars: int = DEFAULT_MAX_CHARS, offset: int = 0) -> CappedText:
    """Return the window `text[offset:offset+max_chars]`.

    Raises:
        UserError: `offset` is past the end of a non-empty text (the model asked for a page that is not
            there) or `max_chars` is not positive.
    """
    if max_chars < 1:
        raise UserError(f"max_chars must be at least 1, got {max_chars}.")
    if offset < 0:
        raise UserError(f"offset must be 0 or more, got {offset}.")
    total = len(text)
    if offset and offset >= total:
        raise UserError(
            f"offset {offset} is past the end of the content ({total} characters).",
            hint="There is no more content to read.",
        )
    end = min(total, offset + max_chars)
    return CappedText(text=text[offset:end], total_chars=total, start=offset, end=end)


@dataclass(frozen=True)
class CappedRows:
    """The rows that fit, whether more exist, and how to ask for them."""

    rows: list[Any]
    truncated: bool
    next_offset: int | None
    reason: str | None = None

    def marker(self, continue_with: str = "offset") -> str:
        """The line a model reads when rows were cut, or "" when none were."""
        if not self.truncated:
            return ""
        how = f"call again with {continue_with}={self.next_offset}" if self.next_offset else ""
        return truncation_marker(f"{len(self.rows)} rows ({self.reason})", how)


def cap_rows(
    rows: Sequence[Any],
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_chars: int = DEFAULT_MAX_CHARS,
    offset: int = 0,
    more_available: bool = False,
) -> CappedRows:
    """Keep the rows that fit both a row budget and a character budget (measured as JSON).

    `rows` are the rows from `offset` on; `more_available` says the source holds rows beyond `rows`.
    """
    kept: list[Any] = []
    used = 0
    for row in rows:
        if len(kept) >= max_rows:
            return CappedRows(kept, True, offset + len(kept), f"row limit {max_rows}")
        size = len(json.dumps(row, default=str, ensure_ascii=False))
        if kept and used + size > max_chars:
            return CappedRows(kept, True, offset + len(kept), f"character limit {max_chars}")
        kept.append(row)
        used += size
    if more_available:
        return CappedRows(kept, True, offset + len(kept), f"row limit {max_rows}")
    return CappedRows(kept, False, None)


_CURSOR_KEY_ENV = "PATCHBAY_CURSOR_KEY"
_cursor_key: bytes | None = None
_cursor_scope = "patchbay"


def set_cursor_scope(scope: str) -> None:
    """Bind cursors to one server (its name), so a cursor from another server is refused."""
    global _cursor_scope
    _cursor_scope = scope


def _key() -> bytes:
    """The key cursors are signed with: `$PATCHBAY_CURSOR_KEY`, else a per-user key file, else per process.

    A per-user file (created once, mode 0600) keeps a cursor valid in the next process of the same user,
    which matters for clients that start a new stdio server for every call.
    """
    global _cursor_key
    if _cursor_key is not None:
        return _cursor_key
    given = os.environ.get(_CURSOR_KEY_ENV, "")
    if given:
        _cursor_key = hashlib.sha256(given.encode()).digest()
        return _cursor_key
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = os.path.join(base, "patchbay", "cursor.key")
    try:
        with open(path, "rb") as handle:
            key = handle.read()
        if len(key) < 32:
            raise OSError("short key")
    except OSError:
        key = secrets.token_bytes(32)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            temporary = f"{path}.{os.getpid()}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
            try:
                os.link(temporary, path)  # the first writer wins; everyone then reads the same key
            except FileExistsError:
                with open(path, "rb") as handle:
                    key = handle.read() or key
            finally:
                os.unlink(temporary)
        except OSError:
            pass  # no writable home: the key lives as long as this process
    _cursor_key = key
    return key


_OWNER = "_principal"  # the cursor state field naming its user; removed again by decode_cursor


def _mac(payload: bytes) -> bytes:
    return hmac.new(_key(), _cursor_scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque, signed, URL-safe cursor a model passes back unchanged to continue a listing.

    The state is signed with a key the model never sees and bound to this server, so a forged, edited or
    borrowed cursor is refused by `decode_cursor`; the fields in it still need checking against the server's
    own limits, since a cursor may be old. With authentication on, it is also bound to the user it was made
    for (a digest of the token's identity, `principals.principal_digest`): another user's call refuses it.
    """
    owner = principal_digest()
    if owner:
        state = {**state, _OWNER: owner}
    payload = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Read a cursor made by `encode_cursor` (by this server, with this key).

    Raises:
        UserError: the cursor was not made by this server (edited, truncated, forged or from another tool).
    """
    state: Any = None
    body, _, signature = cursor.strip().partition(".")
    try:
        payload = _unb64(body)
        if len(cursor) <= 4096 and hmac.compare_digest(_unb64(signature), _mac(payload)):
            state = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        state = None
    if not isinstance(state, dict):
        raise UserError(
            "The cursor is not valid: it was changed, cut short, or made by another server.",
            hint="Pass the cursor exactly as the previous result gave it, or omit it to start over.",
        )
    if state.pop(_OWNER, "") != principal_digest():
        raise UserError(
            "That cursor was given to another user: a cursor works only for the user (access token identity) "
            "it was made for.",
            hint="Omit the cursor and make the call again to get your own.",
        )
    return state


_CARRY_INLINE_BELOW = 256  # characters of carried JSON from which compressing pays
_MAX_UNPACKED = 4_000_000  # a signed cursor never holds more; the cap guards the decompressor all the same


def encode_carrying_cursor(state: dict[str, Any], carried: Any) -> str | None:
    """A signed cursor whose state also carries `carried` (e.g. a query and its params), compressed if long.

    A cursor that carries what is needed to go on works in any server process, including the new one some
    clients start for every call. Returns None when it cannot fit even compressed (the caller then makes a
    cursor without it, or none).
    """
    text = json.dumps(carried, separators=(",", ":"), ensure_ascii=False, default=str)
    candidates = []
    if len(text) < _CARRY_INLINE_BELOW:
        candidates.append({**state, "c": json.loads(text)})
    packed = base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")
    candidates.append({**state, "z": packed})
    for candidate in candidates:
        cursor = encode_cursor(candidate)
        try:  # keep the first form decode_cursor reads back (it refuses over-long cursors)
            if decode_cursor(cursor) == candidate:
                return cursor
        except UserError:
            continue
    return None


def carried_by(state: dict[str, Any]) -> Any:
    """What `encode_carrying_cursor` put in a decoded cursor's state (None when it carries nothing)."""
    if "c" in state:
        return state["c"]
    packed = state.get("z")
    if packed is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(str(packed) + "=" * (-len(str(packed)) % 4))
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, _MAX_UNPACKED)
        if inflater.unconsumed_tail:
            raise ValueError("too long")
        return json.loads(data)
    except (ValueError, TypeError, zlib.error):
        return None


def human_size(size: float) -> str:
    """A size in bytes as a short human-readable string (`1.50 KB`)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
