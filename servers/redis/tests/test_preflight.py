"""The start-up check (issue 19): a bad URL, nothing listening, a refused login: one line each, with the fix.

Against real redis-server processes: the session's (no password) and this module's own (with one). Without
--strict the server still starts and logs the line as a warning; with --strict it refuses in one line. The
password never appears.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from patchbay_common.testing.components import RedisInstance, free_port
from patchbay_redis.server import Settings, preflight


def _check(*args: str) -> list[str]:
    return preflight(Settings(_cli_parse_args=list(args)))


def test_a_reachable_redis_with_the_right_password_passes(own_redis, redis_instance: RedisInstance) -> None:  # type: ignore[no-untyped-def]
    assert _check("--url", own_redis.url) == []
    plain = f"redis://127.0.0.1:{own_redis.port}/0"
    assert _check("--url", plain, "--password", own_redis.password) == []
    assert _check("--url", redis_instance.url) == []


@pytest.mark.parametrize("how", ["in the URL", "--password", "--username default"])
def test_a_wrong_password_names_the_login_and_never_the_password(own_redis, how: str) -> None:  # type: ignore[no-untyped-def]
    wrong = "Wrong-" + own_redis.password[::-1]
    plain = f"redis://127.0.0.1:{own_redis.port}/0"
    args = {
        "in the URL": ["--url", own_redis.url.replace(own_redis.password, wrong)],
        "--password": ["--url", plain, "--password", wrong],
        "--username default": ["--url", plain, "--username", "default", "--password", wrong],
    }[how]
    [line] = _check(*args)
    assert f"Redis at redis://127.0.0.1:{own_redis.port}/0 refused the login of user 'default'" in line
    assert "check --username and the password" in line and wrong not in line


def test_no_password_for_a_redis_that_needs_one(own_redis) -> None:  # type: ignore[no-untyped-def]
    [line] = _check("--url", f"redis://127.0.0.1:{own_redis.port}/0")
    assert "needs a password and none was given" in line and "--password-file FILE" in line


def test_a_password_for_a_redis_without_one(redis_instance: RedisInstance) -> None:
    [line] = _check("--url", redis_instance.url, "--password", "not-needed-secret")
    assert "has no password set but one was given" in line and "not-needed-secret" not in line


@pytest.mark.parametrize("scheme", ["redis", "rediss", "unix"])
def test_nothing_listening(scheme: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"unix://{tmp_path}/none.sock" if scheme == "unix" else f"{scheme}://127.0.0.1:{free_port()}/0"
    [line] = _check("--url", url)
    assert "is not reachable" in line and "start Redis there or fix --url" in line


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis:/x"])
def test_a_url_that_is_not_redis(url: str) -> None:
    [line] = _check("--url", url)
    assert "--url must start with redis://, rediss:// or unix://" in line or "not reachable" in line


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchbay_redis", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_strict_refuses_in_one_line(own_redis) -> None:  # type: ignore[no-untyped-def]
    wrong = "Wrong-" + own_redis.password[::-1]
    done = _run("--url", f"redis://:{wrong}@127.0.0.1:{own_redis.port}/0", "--strict")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("patchbay-redis: error: Redis at") and "refused the login" in line
    assert line.endswith("refusing to start (--strict)") and wrong not in done.stderr


def test_without_strict_a_redis_that_is_down_is_a_warning_and_the_server_starts() -> None:
    done = _run("--url", f"redis://127.0.0.1:{free_port()}/0")
    assert done.returncode == 0, done.stderr
    assert "start-up check: Redis at" in done.stderr and "start Redis there or fix --url" in done.stderr
