"""Every server imports where POSIX-only `os` names are missing (Windows), and roots refuse clearly there.

Windows has no `O_DIRECTORY`, `O_NOFOLLOW`, `O_CLOEXEC`, `O_NONBLOCK` and no descriptor-relative calls. A
subprocess removes those from `os` before anything is imported, then imports every server and builds each
that needs no component: importing must work, and a server that serves files must refuse to start with one
line rather than check paths weakly (issue 19). The CI matrix (.github/workflows/ci.yml) runs the real
thing on windows-latest and macos-latest.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from shipping import clean_env, server_names

PROBE = textwrap.dedent(
    """
    import os, sys
    for name in ("O_DIRECTORY", "O_NOFOLLOW", "O_CLOEXEC", "O_NONBLOCK"):
        delattr(os, name)
    os.supports_dir_fd = set()
    for name in ("pwd", "grp", "termios", "resource"):
        sys.modules[name] = None
    import importlib
    for server in sys.argv[1:]:
        importlib.import_module(f"patchbay_{server.replace('-', '_')}.server")
    from patchbay_common.roots import Roots
    try:
        Roots([os.getcwd()])
    except ValueError as exc:
        print("refused:", exc)
    """
)


def test_every_server_imports_without_posix_only_names() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *server_names()],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: file access inside allowed directories needs")


WINDOWS_PROBE = PROBE.split("import importlib")[0] + textwrap.dedent(
    """
    import ntpath
    os.path = ntpath  # as on Windows: the module reads os.path only inside functions
    sys.platform = "win32"  # after the imports that branch on it; roots' Windows branch runs from here on
    import patchbay_common.roots as roots

    assert roots.path_problem("C:\\data\\f.txt::$DATA", ntpath)
    assert roots.unsupported_platform() == roots._windows_problem()
    try:
        roots.Roots(["C:\\data"])
    except ValueError as exc:
        print("refused:", exc)
    """
)


def test_roots_windows_branch_imports_and_refuses_without_kernel32() -> None:
    """With `sys.platform == "win32"` faked, the Windows code path imports and, lacking ctypes.WinDLL
    (here ctypes has no WinDLL, as where kernel32 cannot be loaded), refuses in one line, never weaker."""
    result = subprocess.run(
        [sys.executable, "-c", WINDOWS_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "refused: file access inside allowed directories on Windows needs kernel32's CreateFileW and "
        "GetFinalPathNameByHandleW through ctypes, which cannot be loaded here (AttributeError); patchbay "
        "refuses rather than check paths weakly. Run this server under WSL"
    ]


def test_filesystem_refuses_with_one_line_where_roots_cannot_be_enforced(tmp_path) -> None:
    probe = PROBE.split("import importlib")[0] + textwrap.dedent(
        """
        sys.argv = ["patchbay-filesystem", sys.argv[1]]
        from patchbay_filesystem.server import main
        main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "patchbay-filesystem: error: file access inside allowed directories needs descriptor-relative, "
        "no-follow calls (openat with O_NOFOLLOW) that this platform does not offer; patchbay refuses "
        "rather than check paths weakly. Run this server under WSL (Windows), macOS or Linux"
    ]
