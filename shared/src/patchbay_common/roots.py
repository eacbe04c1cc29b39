"""The one place that decides whether a path may be touched, and touches it safely.

Operator directories are the outer bound. Client roots can narrow them (`Roots.narrowed`) but never widen
them. Every operation here walks from an already-open root directory descriptor one component at a time
with `O_NOFOLLOW`, resolving symbolic links itself and checking each target against the roots again, so a
directory swapped for a link between check and use cannot lead outside (the TOCTOU races of the official
server's advisories). Callers get paths as strings from a model and hand them straight to these methods:
there is no "check" function whose result could be ignored.

Refused: `..` out of a root, absolute paths elsewhere, prefix siblings (`/data-evil` for `/data`), links
to outside (file, directory, dangling), NUL bytes, URIs other than `file://` on this host, FIFOs, sockets
and devices (refused before opening, never blocking). Names that differ only in Unicode normalisation
(NFC/NFD) resolve to the entry on disk; when two entries would match, the name is refused as ambiguous.
"""

from __future__ import annotations

import errno
import ntpath
import os
import re
import secrets
import shutil
import stat
import sys
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import ModuleType
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from patchbay_common.errors import AccessDenied, NotFound, UserError

__all__ = [
    "Copied",
    "DirScan",
    "Entry",
    "Located",
    "Roots",
    "final_path_within",
    "path_from_uri",
    "path_problem",
    "same_path",
    "unsupported_platform",
    "windows_final_path",
    "windows_resolve",
]

_MAX_SYMLINKS = 40
_MAX_WALK_DEPTH = 256
# Windows has none of O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC nor descriptor-relative calls: the module must still
# import there (every server imports it), and `Roots` refuses to start rather than enforce roots weakly.
_POSIX_NAMES = ("O_DIRECTORY", "O_NOFOLLOW", "O_CLOEXEC", "O_NONBLOCK")
_DIR_FLAGS = os.O_RDONLY
for _name in _POSIX_NAMES[:3]:
    _DIR_FLAGS |= getattr(os, _name, 0)
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class _Root:
    """One allowed directory: its canonical path, the spelling it was given, and an open descriptor."""

    def __init__(self, real: str, given: str, fd: int) -> None:
        self.real = real
        self.spellings = (real,) if given == real else (real, given)
        self.fd = fd

    def __del__(self) -> None:
        with suppress(OSError):
            os.close(self.fd)


@dataclass(frozen=True)
class Located:
    """A path inside the roots, held by an open descriptor of its parent directory.

    `name` is the final component relative to `parent_fd` ("." for a root itself); `path` is the
    canonical absolute path, for messages; `stat` is the `lstat` of the final component, or None when
    nothing is there yet.
    """

    path: str
    parent_fd: int
    name: str
    stat: os.stat_result | None

    @property
    def exists(self) -> bool:
        """Whether something is at this path."""
        return self.stat is not None

    @property
    def is_dir(self) -> bool:
        """Whether the path is a directory."""
        return self.stat is not None and stat.S_ISDIR(self.stat.st_mode)


@dataclass(frozen=True)
class Entry:
    """One entry of a directory listing (a symbolic link is reported as such, not followed)."""

    name: str
    kind: str  # "file" | "directory" | "symlink" | "other"
    size: int
    mtime: float


@dataclass(frozen=True)
class DirScan:
    """One directory met by `Roots.walk`: where it is, what it holds, and a descriptor to open its files.

    `rel` is the directory relative to the walked path ("" for the walked path itself), `path` its canonical
    absolute path, `entries` its `(name, kind)` pairs sorted by name (kinds as in `Entry`; links are never
    followed). `fd` is valid only until the walk moves to the next directory.
    """

    rel: str
    path: str
    depth: int
    fd: int
    entries: list[tuple[str, str]]

    def open_file(self, name: str) -> BinaryIO:
        """Open the regular file `name` of this directory for reading, never following a link."""
        path = os.path.join(self.path, name)
        try:
            return _open_regular(Located(path, self.fd, name, None), os.O_RDONLY)
        except AccessDenied as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.ELOOP:
                raise AccessDenied(f"{path} is a symbolic link; a walk does not follow links.") from None
            raise


@dataclass(frozen=True)
class Copied:
    """What `Roots.copy` did: canonical source and destination, files copied, entries skipped (links etc.)."""

    source: str
    destination: str
    files: int
    skipped: int


def unsupported_platform() -> str | None:
    """Why roots cannot be enforced with full strength on this platform, or None when they can.

    Enforcement needs descriptor-relative, no-follow calls (`openat`/`fstatat`/`readlinkat` with
    `O_NOFOLLOW`, `O_DIRECTORY`); Windows offers none of them through `os`, so a server that would serve
    files refuses to start there with this line instead of running with weaker checks.
    """
    if sys.platform == "win32":
        return _windows_problem()
    missing = [name for name in _POSIX_NAMES if not hasattr(os, name)]
    needs_dir_fd = (os.open, os.stat, os.mkdir, os.unlink, os.rename, os.readlink, os.rmdir, os.link)
    safe_rmtree = getattr(shutil.rmtree, "avoids_symlink_attacks", False)
    if not missing and safe_rmtree and all(call in os.supports_dir_fd for call in needs_dir_fd):
        return None
    return (
        "file access inside allowed directories needs descriptor-relative, no-follow calls (openat with "
        "O_NOFOLLOW) that this platform does not offer; patchbay refuses rather than check paths weakly. "
        "Run this server under WSL (Windows), macOS or Linux"
    )


# --- Windows path policy ---------------------------------------------------------------------------------
#
# Win32 rewrites a path before the file system sees it: it strips trailing dots and spaces, maps device
# names in any folder to the device, reads `name:stream` as an alternate data stream, accepts 8.3 short
# aliases for long names, and passes `\\?\`, `\\.\` and UNC prefixes to other namespaces. A check of the
# text then no longer describes what is opened. The functions below are pure (the path module is a
# parameter, so they are tested on Linux with `ntpath`); at run time the opened handle's final path is
# compared with the root again (`final_path_within`), which also resolves the aliases the text cannot.

_WIN_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)
_WIN_WILDCARDS = frozenset('<>"|?*')  # `?` `*` and the DOS wildcards `<` `>` `"`: a pattern, not a name
_SHORT_ALIAS = re.compile(r"~[0-9]")
_URI_DRIVE = re.compile(r"/[A-Za-z]:(?:[/\\]|\Z)")
_MAX_NAME = 255


def path_problem(
    path: str, pathmod: ModuleType = os.path, *, short_names_verified: bool = False
) -> str | None:
    r"""Why `path` cannot be used as written on the platform of `pathmod` (one phrase), or None.

    With `posixpath` only a NUL byte is refused: every other name (`CON`, `a:b`, `name.`) is an ordinary
    file name on POSIX. With `ntpath` also refused: control characters and wildcards; `\\\\?\\`, `\\\\.\\`,
    `\\??\\` and UNC (`\\\\server\\share`) paths; drive-relative (`C:foo`) and drive-less rooted (`\\foo`)
    paths; alternate data streams (`file.txt:s`, `file.txt::$DATA`); device names in any component, with
    any extension, trailing dots or spaces (`CON`, `nul.txt`, `COM1 .log`, `CONIN$`); names ending in a dot
    or a space (Windows strips them, so `a.txt.` opens `a.txt`); names over 255 characters; and 8.3 short
    aliases (`PROGRA~1`) unless `short_names_verified` (the caller compares the opened handle's final path).
    """
    if "\x00" in path:
        return "the path contains a NUL byte, which no file name can hold"
    if pathmod is not ntpath:
        return None
    if any(ord(char) < 32 for char in path):
        return "the path contains a control character, which Windows file names cannot hold"
    text = path.replace("/", "\\")
    if text.startswith("\\\\"):
        if text[2:4] in ("?\\", ".\\"):
            return (
                "\\\\?\\ and \\\\.\\ paths reach devices and other namespaces; give a plain path such as "
                "C:\\data\\file.txt"
            )
        return "UNC (network) paths are refused; give a path on a local drive such as C:\\data\\file.txt"
    if text.startswith("\\??\\"):
        return "NT object paths (\\??\\) are refused; give a plain path such as C:\\data\\file.txt"
    drive, rest = ntpath.splitdrive(text)
    if drive and not rest.startswith("\\"):
        return (
            f"{drive}{rest} is relative to the current folder of drive {drive}; give a full path such as "
            f"{drive}\\{rest}"
        )
    if not drive and text.startswith("\\"):
        return "a path starting with \\ depends on the current drive; give the drive, such as C:\\"
    for part in rest.split("\\"):
        if part in ("", ".", ".."):
            continue
        problem = _name_problem(part, short_names_verified)
        if problem:
            return problem
    return None


def _name_problem(part: str, short_names_verified: bool) -> str | None:
    """Why one Windows path component is refused, or None."""
    if len(part) > _MAX_NAME:
        return f"a name in the path is longer than {_MAX_NAME} characters"
    if ":" in part:
        return f"{part!r} names an alternate data stream (name:stream); only a file's main content is served"
    if _WIN_WILDCARDS & set(part):
        return (
            f'{part!r} holds a wildcard character (one of < > " | ? *), which Windows file names cannot hold'
        )
    if part.endswith((".", " ")):
        return f"{part!r} ends with a dot or a space, which Windows strips (it would open another name)"
    if part.split(".", 1)[0].rstrip(" ").upper() in _WIN_DEVICES:
        return (
            f"{part!r} is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9, CONIN$, ...)"
        )
    if _SHORT_ALIAS.search(part) and not short_names_verified:
        return (
            f"{part!r} looks like an 8.3 short alias (~digit), which could name another entry; "
            "use the long name"
        )
    return None


def _fold(part: str, case_insensitive: bool, *, nfc: bool = True) -> str:
    """A name as the volume compares it: NFC (unless `nfc` is False), upper-cased on case-insensitive volumes.

    Upper case one character at a time (a character whose upper case is longer stays as it is), as
    NTFS's upcase table does. Not `str.casefold`: it maps `ß` to `ss` and `ﬁ` to `fi`, which the volume
    keeps apart, so a sibling (`straße` next to a root `strasse`) would pass for the root. A final path
    from the volume is compared without NFC: NTFS does not normalise either, and the Kelvin sign's NFC is
    `K`.
    """
    name = unicodedata.normalize("NFC", part) if nfc else part
    if not case_insensitive:
        return name
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in name)


def _components(path: str, pathmod: ModuleType) -> list[str]:
    if pathmod is ntpath:
        drive, rest = ntpath.splitdrive(path.replace("/", "\\"))
        return [drive, *(part for part in rest.split("\\") if part)]
    return [part for part in path.split("/") if part]


def same_path(a: str, b: str, pathmod: ModuleType = os.path, *, case_insensitive: bool | None = None) -> bool:
    """Whether two absolute, normalised paths name the same entry (per component, NFC, case per volume)."""
    return _below(a, b, pathmod, case_insensitive) == []


def _below(
    path: str, root: str, pathmod: ModuleType, case_insensitive: bool | None, *, nfc: bool = True
) -> list[str] | None:
    """The components of `path` below `root`, or None when `path` is not `root` or inside it."""
    fold = pathmod is ntpath if case_insensitive is None else case_insensitive
    have, want = _components(path, pathmod), _components(root, pathmod)
    if len(want) > len(have):
        return None
    if any(_fold(a, fold, nfc=nfc) != _fold(b, fold, nfc=nfc) for a, b in zip(want, have, strict=False)):
        return None
    return have[len(want) :]


def windows_final_path(raw: str) -> str:
    r"""A path as `GetFinalPathNameByHandleW` gives it (`\\\\?\\C:\\x`, `\\\\?\\UNC\\s\\x`) in plain form."""
    if raw.startswith("\\\\?\\UNC\\"):
        return "\\\\" + raw[8:]
    if raw.startswith("\\\\?\\"):
        return raw[4:]
    return raw


def final_path_within(final: str, roots: Iterable[str], *, case_insensitive: bool = True) -> bool:
    """Whether the final path of an opened handle lies in one of `roots` (their own final paths)."""
    path = windows_final_path(final)
    if path.startswith("\\\\") or path_problem(path, ntpath, short_names_verified=True):
        return False  # still a device or network path after the prefix: never inside a local root
    return any(
        _below(path, windows_final_path(root), ntpath, case_insensitive, nfc=False) is not None
        for root in roots
    )


def windows_resolve(
    roots: Iterable[str],
    path: str,
    *,
    case_insensitive: bool = True,
    exists: Callable[[str], bool] | None = None,
) -> tuple[str, list[str]]:
    r"""The root holding a model-given Windows path, and the components below it (pure `ntpath` logic).

    A relative path is taken inside the first root where `exists` finds it (else the first root);
    a `file:///C:/...` path (as `path_from_uri` leaves it) is read as `C:\\...`. Roots are compared per
    component and case-insensitively unless `case_insensitive` is False, so `C:\\Data-evil` is not inside
    `C:\\Data`, and `..` cannot climb out.

    Raises:
        AccessDenied: the path is refused by `path_problem`, or lies outside every root.
    """
    roots = list(roots)
    raw = path_from_uri(path)
    if _URI_DRIVE.match(raw):
        raw = raw[1:]
    problem = path_problem(raw, ntpath)
    if problem:
        raise AccessDenied(f"Access denied: {path}: {problem}.")
    drive, _ = ntpath.splitdrive(raw.replace("/", "\\"))
    if drive:
        candidates = [ntpath.normpath(raw)]
    else:
        candidates = [ntpath.normpath(ntpath.join(root, raw)) for root in roots]
        found = [c for c in candidates if exists is not None and exists(c)]
        candidates = found[:1] or candidates[:1]
    best: tuple[str, list[str]] | None = None
    for candidate in candidates:
        for root in roots:
            rest = _below(candidate, ntpath.normpath(root), ntpath, case_insensitive)
            if rest is not None and (best is None or len(rest) < len(best[1])):
                best = (root, rest)
    if best is None:
        raise AccessDenied(f"Access denied: {path} is outside the allowed directories.")
    return best


class _Win32:
    """The kernel32 calls Windows enforcement needs, through ctypes (loaded on Windows only).

    `open_no_follow` opens with `FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS` (a symbolic
    link or junction is opened itself, never followed; directories open too) and without
    `FILE_SHARE_DELETE` (nothing can rename or delete the entry while it is held); `final_path` is
    `GetFinalPathNameByHandleW` (long names, the volume's spelling), `is_reparse_point` reads the handle's
    attributes.
    """

    GENERIC_READ = 0x80000000
    FILE_READ_ATTRIBUTES = 0x80
    SHARE_READ_WRITE = 0x1 | 0x2
    OPEN_EXISTING = 3
    FLAGS = 0x02000000 | 0x00200000  # FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT
    ATTRIBUTE_REPARSE_POINT = 0x400
    INVALID_HANDLE = -1

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes = ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._create = kernel32.CreateFileW
        self._create.argtypes = [
            wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, ctypes.c_void_p,
            wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE,
        ]  # fmt: skip
        self._create.restype = wintypes.HANDLE
        self._final = kernel32.GetFinalPathNameByHandleW
        self._final.argtypes = [wintypes.HANDLE, wintypes.LPWSTR, wintypes.DWORD, wintypes.DWORD]
        self._final.restype = wintypes.DWORD
        self._info = kernel32.GetFileInformationByHandle
        self._info.argtypes = [wintypes.HANDLE, ctypes.c_void_p]
        self._info.restype = wintypes.BOOL
        self._close = kernel32.CloseHandle
        self._close.argtypes = [wintypes.HANDLE]
        self._close.restype = wintypes.BOOL

    def _error(self, what: str, path: str) -> OSError:
        code = self._ctypes.get_last_error()  # type: ignore[attr-defined,unused-ignore]
        return OSError(errno.EACCES, f"{what} failed (Windows error {code})", path)

    def open_no_follow(self, path: str) -> Any:
        """A handle on `path` itself (a link or junction is not followed), held against rename and delete."""
        handle = self._create(
            path, self.FILE_READ_ATTRIBUTES, self.SHARE_READ_WRITE, None, self.OPEN_EXISTING, self.FLAGS, None
        )
        if handle in (None, self.INVALID_HANDLE, self._ctypes.c_void_p(-1).value):
            raise self._error("CreateFileW", path)
        return handle

    def close(self, handle: Any) -> None:
        """Close a handle from `open_no_follow`."""
        self._close(handle)

    def final_path(self, handle: Any) -> str:
        """The handle's final path (`GetFinalPathNameByHandleW`, normalised, DOS volume name)."""
        size = 512
        while True:
            buffer = self._ctypes.create_unicode_buffer(size)
            length = self._final(handle, buffer, size, 0)
            if length == 0:
                raise self._error("GetFinalPathNameByHandleW", "")
            if length < size:
                return windows_final_path(buffer.value)
            size = length + 1

    def is_reparse_point(self, handle: Any) -> bool:
        """Whether the opened entry is a reparse point (symbolic link, junction, mount point)."""
        info = (self._ctypes.c_uint32 * 13)()  # BY_HANDLE_FILE_INFORMATION; attributes come first
        if not self._info(handle, info):
            raise self._error("GetFileInformationByHandle", "")
        return bool(info[0] & self.ATTRIBUTE_REPARSE_POINT)

    def verified(self, path: str, roots: Iterable[str]) -> str:
        """The final path of `path`, checked: opened without following, no reparse point, inside `roots`.

        `roots` are final paths too. The final path spells long names (never an 8.3 alias) as the volume
        does. Raises `AccessDenied` otherwise.
        """
        handle = self.open_no_follow(path)
        try:
            if self.is_reparse_point(handle):
                raise AccessDenied(f"{path} is a link or junction; links are not followed on Windows.")
            final = self.final_path(handle)
        finally:
            self.close(handle)
        if not final_path_within(final, roots):
            raise AccessDenied(f"Access denied: {path} is outside the allowed directories.")
        return final


def _windows_problem() -> str:
    """Why roots cannot be served on this Windows machine (one line).

    Either the kernel32 calls are missing, or (for now) the file operations are not yet ported from
    descriptors to handles (see the filesystem README).
    """
    try:
        _Win32()
    except (ImportError, AttributeError, OSError, ValueError) as exc:
        return (
            "file access inside allowed directories on Windows needs kernel32's CreateFileW and "
            f"GetFinalPathNameByHandleW through ctypes, which cannot be loaded here ({type(exc).__name__}); "
            "patchbay refuses rather than check paths weakly. Run this server under WSL"
        )
    return (
        "on Windows, file operations through handles that never follow links are not ported yet (the path "
        "policy is: no alternate data streams, device names, UNC or 8.3 aliases); patchbay refuses rather "
        "than check paths weakly. Run this server under WSL"
    )


def path_from_uri(value: str) -> str:
    """A filesystem path from a `file://` URI or a plain path; other schemes are refused."""
    if "\x00" in value:
        raise AccessDenied("The path contains a NUL byte, which no file name can hold.")
    if "://" not in value[:16]:
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() != "file":
        raise AccessDenied(f"Only file:// URIs name files here, not {parts.scheme}://.")
    if parts.netloc not in ("", "localhost"):
        raise AccessDenied(f"file:// URIs must name this machine, not {parts.netloc!r}.")
    path = unquote(parts.path)
    if "\x00" in path:
        raise AccessDenied("The path contains a NUL byte, which no file name can hold.")
    return path


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


class Roots:
    """The directories a server may touch, and every file operation it may perform inside them."""

    def __init__(self, directories: Iterable[str | os.PathLike[str]]) -> None:
        """Open each operator directory; raise `ValueError` naming any that is missing or not a directory."""
        unsupported = unsupported_platform()
        if unsupported:
            raise ValueError(unsupported)
        self._roots: list[_Root] = []
        for directory in directories:
            given = os.path.abspath(os.path.expanduser(os.fspath(directory)))
            real = os.path.realpath(given)
            try:
                fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise ValueError(f"allowed directory {given!r} cannot be used: {exc.strerror}") from exc
            if all(root.real != real for root in self._roots):
                self._roots.append(_Root(real, given, fd))
            else:
                os.close(fd)
        self._narrowed_by_client = False

    @classmethod
    def _from(cls, roots: list[_Root], narrowed_by_client: bool) -> Roots:
        instance = cls.__new__(cls)
        instance._roots = roots
        instance._narrowed_by_client = narrowed_by_client
        return instance

    @property
    def directories(self) -> list[str]:
        """The canonical paths of the allowed directories."""
        return [root.real for root in self._roots]

    def narrowed(self, client_roots: Iterable[str]) -> Roots:
        """The part of these roots that also lies inside the client's roots (URIs or paths).

        A client root inside an allowed directory becomes an allowed directory; an allowed directory
        inside a client root stays; anything else is dropped. The result is never wider than `self`.
        """
        kept: list[_Root] = []

        def keep(candidate: _Root) -> None:
            if all(root.real != candidate.real for root in kept):
                kept.append(candidate)

        for uri in client_roots:
            try:
                wanted = os.path.normpath(os.path.expanduser(path_from_uri(uri)))
            except AccessDenied:
                continue
            if not os.path.isabs(wanted):
                continue
            if self._match(wanted) is not None:
                try:
                    with self.locate(wanted) as loc:
                        if loc.is_dir:
                            fd = os.open(loc.name, _DIR_FLAGS, dir_fd=loc.parent_fd)
                            keep(_Root(loc.path, loc.path, fd))
                except UserError:
                    continue
                continue
            for root in self._roots:
                real_wanted = os.path.realpath(wanted)
                if root.real == real_wanted or root.real.startswith(real_wanted.rstrip("/") + "/"):
                    keep(root)
        return Roots._from(kept, narrowed_by_client=True)

    # --- resolution -------------------------------------------------------------------------------

    def _denied(self, shown: str) -> AccessDenied:
        if not self._roots:
            where = (
                "no directory is allowed: the client's roots do not overlap the server's allowed directories"
                if self._narrowed_by_client
                else "no directory is allowed"
            )
            return AccessDenied(f"Access denied: {shown} is outside the allowed directories ({where}).")
        return AccessDenied(
            f"Access denied: {shown} is outside the allowed directories.",
            hint=f"Allowed: {', '.join(self.directories)}.",
        )

    def _absolute(self, path: str) -> str:
        """A model-given path (plain, `~`, or `file://`) as a normalised absolute path string."""
        if not isinstance(path, str) or not path.strip():
            raise UserError("The path is empty.", hint="Give a path inside the allowed directories.")
        raw = os.path.expanduser(path_from_uri(path))
        if os.path.isabs(raw):
            return os.path.normpath(raw)
        candidates = [os.path.normpath(os.path.join(root.real, raw)) for root in self._roots]
        for candidate in candidates:
            if os.path.lexists(candidate):
                return candidate
        if candidates:
            return candidates[0]
        raise self._denied(path)

    def _match(self, absolute: str) -> tuple[_Root, list[str]] | None:
        """The deepest root containing `absolute` (compared per component, NFC), and the rest of it."""
        parts = _split(absolute)
        best: tuple[_Root, list[str]] | None = None
        best_depth = -1
        for root in self._roots:
            for spelling in root.spellings:
                prefix = _split(spelling)
                if len(prefix) > len(parts) or len(prefix) <= best_depth:
                    continue
                if all(_nfc(a) == _nfc(b) for a, b in zip(prefix, parts, strict=False)):
                    best, best_depth = (root, parts[len(prefix) :]), len(prefix)
        return best

    @contextmanager
    def locate(
        self,
        path: str,
        *,
        follow_final: bool = True,
        missing_ok: bool = False,
        make_parents: bool = False,
    ) -> Iterator[Located]:
        """Resolve a model-given path inside the roots and hold its parent directory open.

        Raises:
            AccessDenied: the path, or a link along it, leads outside the roots; or it names a FIFO,
                socket or device.
            NotFound: nothing is at the path (unless `missing_ok`) or a parent directory is missing
                (unless `make_parents`).
        """
        located = self._resolve(self._absolute(path), path, follow_final, missing_ok, make_parents, 0)
        try:
            yield located
        finally:
            os.close(located.parent_fd)

    def _resolve(
        self, absolute: str, shown: str, follow_final: bool, missing_ok: bool, make_parents: bool, hops: int
    ) -> Located:
        if hops > _MAX_SYMLINKS:
            raise AccessDenied(f"{shown} goes through too many symbolic links.")
        matched = self._match(absolute)
        if matched is None:
            if hops:  # never say where the link leads: that would describe what lies outside
                raise AccessDenied(
                    f"Access denied: {shown} is a symbolic link (or goes through one) that points "
                    "outside the allowed directories."
                )
            raise self._denied(shown)
        root, parts = matched
        fd = os.dup(root.fd)
        current = root.real
        try:
            for index, part in enumerate(parts):
                name = self._entry_name(fd, part, shown)
                is_last = index == len(parts) - 1
                try:
                    info: os.stat_result | None = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    info = None
                if info is not None and stat.S_ISLNK(info.st_mode) and (follow_final or not is_last):
                    target = os.readlink(name, dir_fd=fd)
                    rest = "/".join(parts[index + 1 :])
                    joined = os.path.join(current, target, rest) if rest else os.path.join(current, target)
                    os.close(fd)
                    fd = -1
                    return self._resolve(
                        os.path.normpath(joined), shown, follow_final, missing_ok, make_parents, hops + 1
                    )
                if is_last:
                    if info is None and not missing_ok:
                        raise NotFound(f"{shown} does not exist.", hint="Check the name with list_directory.")
                    if info is not None and stat.S_IFMT(info.st_mode) in _KINDS:
                        raise AccessDenied(
                            f"{shown} is {_KINDS[stat.S_IFMT(info.st_mode)]}; only regular files and "
                            "directories can be used."
                        )
                    located = Located(os.path.join(current, name), fd, name, info)
                    fd = -1
                    return located
                if info is None:
                    if not make_parents:
                        raise NotFound(
                            f"The parent directory {os.path.join(current, name)} of {shown} does not exist.",
                            hint="Create it first with create_directory.",
                        )
                    with suppress(FileExistsError):
                        os.mkdir(name, dir_fd=fd)
                try:
                    next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOTDIR:
                        raise UserError(f"{os.path.join(current, name)} is not a directory.") from exc
                    if exc.errno == errno.ELOOP:
                        raise AccessDenied(f"{shown} changed while it was being opened; try again.") from exc
                    raise
                os.close(fd)
                fd = next_fd
                current = os.path.join(current, name)
            # The path is a root itself.
            located = Located(current, fd, ".", os.stat(".", dir_fd=fd, follow_symlinks=False))
            fd = -1
            return located
        finally:
            if fd >= 0:
                os.close(fd)

    @staticmethod
    def _entry_name(dir_fd: int, part: str, shown: str) -> str:
        """The on-disk name for `part`: itself if present, else its single NFC-equivalent sibling."""
        if part in (".", ".."):  # normpath removed these; a symlink target cannot reintroduce them
            raise AccessDenied(f"{shown} contains {part!r} after resolution.")
        try:
            os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
            return part
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise UserError(f"A name in {shown} is too long.") from exc
            raise
        wanted = _nfc(part)
        matches = [name for name in os.listdir(dir_fd) if _nfc(name) == wanted]
        if len(matches) > 1:
            raise AccessDenied(
                f"{shown} is ambiguous: {len(matches)} entries have names that differ only in Unicode "
                "normalisation.",
                hint="Rename one of them.",
            )
        return matches[0] if matches else part

    # --- operations -------------------------------------------------------------------------------

    def open_read(self, path: str) -> BinaryIO:
        """Open a regular file for reading."""
        with self.locate(path) as loc:
            if loc.is_dir:
                raise UserError(f"{path} is a directory, not a file.", hint="List it with list_directory.")
            return _open_regular(loc, os.O_RDONLY)

    def open_read_with_path(self, path: str) -> tuple[str, BinaryIO]:
        """Open a regular file for reading; return its canonical path too (one resolution, not two)."""
        with self.locate(path) as loc:
            if loc.is_dir:
                raise UserError(f"{path} is a directory, not a file.", hint="List it with list_directory.")
            return loc.path, _open_regular(loc, os.O_RDONLY)

    def read_bytes(self, path: str, max_bytes: int | None = None) -> bytes:
        """The bytes of a regular file, at most `max_bytes` of them when given."""
        with self.open_read(path) as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes)

    def write_bytes(
        self, path: str, data: bytes, *, exclusive: bool = False, make_parents: bool = False
    ) -> str:
        """Write a file atomically (temporary file, then rename); return its canonical path.

        An existing file keeps its permission bits. With `exclusive`, an existing file is an error.
        A symbolic link at `path` is followed, and its target must lie inside the roots.
        """
        with self.locate(path, missing_ok=True, make_parents=make_parents) as loc:
            if loc.is_dir:
                raise UserError(f"{path} is a directory; give a file path.")
            if exclusive and loc.exists:
                raise UserError(f"{path} already exists.", hint="Choose another name or edit the file.")
            mode = stat.S_IMODE(loc.stat.st_mode) if loc.stat else 0o644
            temp = f".{loc.name[:200]}.{secrets.token_hex(4)}.tmp"
            fd = os.open(
                temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=loc.parent_fd,
            )
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fchmod(handle.fileno(), mode)
                    os.fsync(handle.fileno())
                if exclusive:
                    try:
                        os.link(temp, loc.name, src_dir_fd=loc.parent_fd, dst_dir_fd=loc.parent_fd)
                    except FileExistsError as exc:
                        raise UserError(f"{path} already exists.") from exc
                else:
                    os.rename(temp, loc.name, src_dir_fd=loc.parent_fd, dst_dir_fd=loc.parent_fd)
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=loc.parent_fd)
            return loc.path

    def mkdir(self, path: str) -> str:
        """Create a directory and any missing parents (no error if it exists); return its path."""
        with self.locate(path, missing_ok=True, make_parents=True) as loc:
            if not loc.exists:
                with suppress(FileExistsError):
                    os.mkdir(loc.name, 0o755, dir_fd=loc.parent_fd)
            elif not loc.is_dir:
                raise UserError(f"{path} exists and is not a directory.")
            return loc.path

    def stat(self, path: str, *, follow_final: bool = True) -> tuple[str, os.stat_result]:
        """The canonical path and `lstat` result of an existing path."""
        with self.locate(path, follow_final=follow_final) as loc:
            assert loc.stat is not None
            return loc.path, loc.stat

    def list_dir(self, path: str) -> tuple[str, list[Entry]]:
        """The canonical path of a directory and its entries (links not followed), sorted by name."""
        with self.locate(path) as loc:
            if not loc.is_dir:
                raise UserError(f"{path} is not a directory.", hint="Read it as a file instead.")
            fd = os.open(loc.name, _DIR_FLAGS, dir_fd=loc.parent_fd)
            try:
                entries = [_entry(item) for item in os.scandir(fd)]
            finally:
                os.close(fd)
        return loc.path, sorted(entries, key=lambda e: e.name)

    @contextmanager
    def open_dir(self, path: str) -> Iterator[tuple[str, int]]:
        """Hold a directory open; yield its canonical path and descriptor (for `os.fwalk`, `os.scandir`)."""
        with self.locate(path) as loc:
            if not loc.is_dir:
                raise UserError(f"{path} is not a directory.")
            fd = os.open(loc.name, _DIR_FLAGS, dir_fd=loc.parent_fd)
        try:
            yield loc.path, fd
        finally:
            os.close(fd)

    def move(self, source: str, destination: str) -> tuple[str, str]:
        """Rename `source` to `destination` (which must not exist); both inside the roots."""
        with (
            self.locate(source, follow_final=False) as src,
            self.locate(destination, follow_final=False, missing_ok=True) as dst,
        ):
            if src.name == ".":
                raise AccessDenied(f"{source} is an allowed directory itself and cannot be moved.")
            if dst.exists:
                raise UserError(f"Destination {destination} already exists.", hint="Choose another name.")
            assert src.stat is not None
            if stat.S_ISDIR(src.stat.st_mode):
                os.rename(src.name, dst.name, src_dir_fd=src.parent_fd, dst_dir_fd=dst.parent_fd)
            else:  # link + unlink never replaces a file that appeared at the destination meanwhile
                try:
                    os.link(
                        src.name,
                        dst.name,
                        src_dir_fd=src.parent_fd,
                        dst_dir_fd=dst.parent_fd,
                        follow_symlinks=False,
                    )
                except FileExistsError as exc:
                    raise UserError(f"Destination {destination} already exists.") from exc
                os.unlink(src.name, dir_fd=src.parent_fd)
            return src.path, dst.path

    def is_allowed(self, path: str) -> bool:
        """Whether `path` resolves inside the roots (it need not exist)."""
        try:
            with self.locate(path, missing_ok=True):
                return True
        except UserError:
            return False

    # --- walking, copying, deleting (added for the filesystem server) ----------------------------

    def walk(
        self,
        path: str,
        *,
        descend: Callable[[str, int], bool] | None = None,
        max_depth: int | None = None,
        breadth_first: bool = False,
    ) -> Iterator[DirScan]:
        """Yield every directory under `path` (itself first) without ever following a symbolic link.

        Each directory is reopened from the walked directory's descriptor one component at a time with
        `O_NOFOLLOW`, so a subdirectory swapped for a link mid-walk is skipped, never followed. Order is
        depth-first by name, or level by level with `breadth_first`. `descend(rel, depth)` can refuse to
        enter a subdirectory; `max_depth` (1 = the walked directory only) bounds the depth.
        """
        limit = _MAX_WALK_DEPTH if max_depth is None else min(max_depth, _MAX_WALK_DEPTH)
        with self.open_dir(path) as (top_path, top_fd):
            pending: deque[tuple[str, ...]] = deque([()])
            while pending:
                parts = pending.popleft() if breadth_first else pending.pop()
                fd = _open_chain(top_fd, parts)
                if fd is None:  # vanished, or swapped for something that is not a directory
                    continue
                try:
                    entries = _scan(fd)
                    rel = "/".join(parts)
                    yield DirScan(rel, os.path.join(top_path, *parts), len(parts), fd, list(entries))
                finally:
                    os.close(fd)
                if len(parts) + 1 >= limit:
                    continue
                children = [
                    (*parts, name)
                    for name, kind in entries
                    if kind == "directory"
                    and (descend is None or descend(f"{rel}/{name}" if rel else name, len(parts) + 1))
                ]
                pending.extend(children if breadth_first else reversed(children))

    def copy(self, source: str, destination: str) -> Copied:
        """Copy a file, or a directory recursively, to `destination`, which must not exist.

        The copy is built under a temporary name beside the destination and renamed into place, so a
        failure leaves nothing at `destination`. Links and special files inside a copied directory are
        skipped (and counted), never followed.
        """
        with (
            self.locate(source) as src,
            self.locate(destination, follow_final=False, missing_ok=True) as dst,
        ):
            if dst.exists:
                raise UserError(f"Destination {destination} already exists.", hint="Choose another name.")
            if src.is_dir and (dst.path == src.path or dst.path.startswith(src.path.rstrip("/") + "/")):
                raise UserError(
                    f"Cannot copy the directory {src.path} into itself ({dst.path}).",
                    hint="Choose a destination outside it.",
                )
            temp = f".{dst.name[:200]}.{secrets.token_hex(4)}.tmp"
            try:
                if src.is_dir:
                    files, skipped = _copy_tree(src.parent_fd, src.name, dst.parent_fd, temp)
                else:
                    with _open_regular(src, os.O_RDONLY) as handle:
                        _copy_file(handle, dst.parent_fd, temp)
                    files, skipped = 1, 0
                _place(dst.parent_fd, temp, dst.name, destination, is_dir=src.is_dir)
            except BaseException:
                _remove(dst.parent_fd, temp)
                raise
            return Copied(src.path, dst.path, files, skipped)

    def delete(self, path: str, *, recursive: bool = False) -> tuple[str, str]:
        """Delete a file, a link (not its target) or a directory; return its canonical path and kind.

        A non-empty directory needs `recursive`. An allowed directory itself cannot be deleted.
        """
        with self.locate(path, follow_final=False) as loc:
            assert loc.stat is not None
            if loc.name == ".":
                raise AccessDenied(f"{path} is an allowed directory itself and cannot be deleted.")
            if stat.S_ISDIR(loc.stat.st_mode):
                if recursive:
                    shutil.rmtree(loc.name, dir_fd=loc.parent_fd)
                else:
                    try:
                        os.rmdir(loc.name, dir_fd=loc.parent_fd)
                    except OSError as exc:
                        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                            raise UserError(
                                f"{path} is a directory that is not empty.",
                                hint="Pass recursive=true to delete it with everything inside.",
                            ) from exc
                        raise
                return loc.path, "directory"
            os.unlink(loc.name, dir_fd=loc.parent_fd)
            return loc.path, "symlink" if stat.S_ISLNK(loc.stat.st_mode) else "file"


def _open_regular(loc: Located, flags: int) -> BinaryIO:
    """Open the located entry without following links or blocking, and insist it is a regular file."""
    try:
        fd = os.open(loc.name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=loc.parent_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AccessDenied(f"{loc.path} changed while it was being opened; try again.") from exc
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise AccessDenied(f"{loc.path} is {kind}; only regular files can be read.")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _entry(item: os.DirEntry[str]) -> Entry:
    info = item.stat(follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    else:
        kind = "other"
    return Entry(item.name, kind, info.st_size, info.st_mtime)


def _open_chain(top_fd: int, parts: tuple[str, ...]) -> int | None:
    """Open `parts` below `top_fd` one directory at a time without following links; None if that fails."""
    fd = os.dup(top_fd)
    for part in parts:
        try:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = next_fd
    return fd


def _scan(fd: int) -> list[tuple[str, str]]:
    """The `(name, kind)` entries of an open directory, sorted by name, from `d_type` where possible."""
    found: list[tuple[str, str]] = []
    with os.scandir(fd) as items:
        for item in items:
            try:  # without following links, a link is neither a file nor a directory
                if item.is_file(follow_symlinks=False):
                    kind = "file"
                elif item.is_dir(follow_symlinks=False):
                    kind = "directory"
                elif item.is_symlink():
                    kind = "symlink"
                else:
                    kind = "other"
            except OSError:  # vanished between readdir and stat
                continue
            found.append((item.name, kind))
    found.sort()
    return found


def _copy_file(handle: BinaryIO, dir_fd: int, name: str) -> None:
    """Copy an open regular file to a new file `name` in `dir_fd`, keeping its permission bits."""
    mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(handle, out, 1 << 20)
        out.flush()
        os.fchmod(out.fileno(), mode)


def _copy_tree(src_parent: int, src_name: str, dst_parent: int, dst_name: str) -> tuple[int, int]:
    """Copy a directory recursively by descriptors (links and special files skipped); (files, skipped)."""
    os.mkdir(dst_name, 0o700, dir_fd=dst_parent)
    src_fd = os.open(src_name, _DIR_FLAGS, dir_fd=src_parent)
    try:
        dst_fd = os.open(dst_name, _DIR_FLAGS, dir_fd=dst_parent)
        try:
            files = skipped = 0
            for name, kind in _scan(src_fd):
                if kind == "directory":
                    sub_files, sub_skipped = _copy_tree(src_fd, name, dst_fd, name)
                    files, skipped = files + sub_files, skipped + sub_skipped
                elif kind == "file":
                    located = Located(name, src_fd, name, None)
                    try:
                        handle = _open_regular(located, os.O_RDONLY)
                    except AccessDenied:  # swapped for a link or a FIFO meanwhile
                        skipped += 1
                        continue
                    with handle:
                        _copy_file(handle, dst_fd, name)
                    files += 1
                else:
                    skipped += 1
            os.fchmod(dst_fd, stat.S_IMODE(os.fstat(src_fd).st_mode))
            return files, skipped
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def _place(dir_fd: int, temp: str, name: str, shown: str, *, is_dir: bool) -> None:
    """Give the finished copy `temp` its final `name`, never replacing anything that appeared there."""
    if is_dir:
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return
        raise UserError(f"Destination {shown} already exists.", hint="Choose another name.")
    try:
        os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError as exc:
        raise UserError(f"Destination {shown} already exists.", hint="Choose another name.") from exc
    os.unlink(temp, dir_fd=dir_fd)


def _remove(dir_fd: int, name: str) -> None:
    """Remove a leftover temporary file or directory, if it is there."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
