"""Make text from a web site safe to show outside the untrusted-data frame, and in errors.

`wrap_untrusted` cleans what goes inside a frame. What a site controls and this server still prints
outside one (the final URL after redirects, a redirect target, a content type in an error) goes through
`clean` here: invisible, bidi-control and tag characters removed (`strip_invisible`), other control
characters dropped, anything shaped like a frame boundary escaped the way `wrap_untrusted` escapes it
(`patchbay_common.untrusted.sanitize`), and the text kept to one bounded line.
"""

from __future__ import annotations

import re

from patchbay_common.errors import UserError
from patchbay_common.untrusted import sanitize

__all__ = ["clean", "clean_error", "clean_url"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean(text: str, limit: int = 2000) -> str:
    """`text` as one line: no invisible or control characters, forged boundaries escaped, at most `limit`."""
    escaped = sanitize(_CONTROL.sub(" ", str(text)).strip())
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def clean_url(url: str, limit: int = 2000) -> str:
    """A URL for a header line or a frame's source label: cleaned, no raw angle brackets, quotes or spaces."""
    return clean(url, limit).replace("<", "%3C").replace(">", "%3E").replace('"', "%22").replace(" ", "%20")


def clean_error(exc: UserError) -> UserError:
    """The same error (same class) with its message and hint cleaned: they quote URLs and headers."""
    cleaned = type(exc).__new__(type(exc))
    UserError.__init__(cleaned, clean(exc.message, 4000), hint=clean(exc.hint, 2000) if exc.hint else None)
    return cleaned
