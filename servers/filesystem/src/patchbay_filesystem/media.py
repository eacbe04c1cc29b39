"""MIME types for media files, and what the size and kind of a file say about it."""

from __future__ import annotations

import mimetypes
import os
import stat
import time

__all__ = ["describe_mode", "kind_of", "mime_type", "timestamp"]

# The official server's table, first: clients rely on these exact types.
_KNOWN = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".pdf": "application/pdf",
}


def mime_type(path: str) -> str:
    """The MIME type from the file's extension (`application/octet-stream` when unknown)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in _KNOWN:
        return _KNOWN[ext]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def kind_of(info: os.stat_result) -> str:
    """`file`, `directory`, `symlink` or `other` from an lstat result."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def describe_mode(info: os.stat_result) -> str:
    """Permission bits as three octal digits, the way the official server shows them."""
    return oct(stat.S_IMODE(info.st_mode))[-3:]


def timestamp(seconds: float) -> str:
    """A UTC ISO-8601 timestamp."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
