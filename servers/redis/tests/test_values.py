"""Value display on its own: text, binary, control characters, caps."""

from __future__ import annotations

import base64

from patchbay_redis.values import Budget, decode_key, show


def test_text_numbers_and_none_pass_through() -> None:
    assert show(b"hello") == "hello"
    assert show("tab\tand\nnewline") == "tab\tand\nnewline"
    assert show(None) is None
    assert show(3) == 3


def test_binary_and_control_bytes_become_a_base64_preview_with_size() -> None:
    shown = show(b"\xff\xfe\x00abc")
    assert shown == {"binary": True, "size": 6, "base64": base64.b64encode(b"\xff\xfe\x00abc").decode()}
    big = show(b"\x00" * 1000)
    assert big["size"] == 1000 and big["preview_bytes"] == 256
    assert show(b"bell\x07")["binary"] is True


def test_long_text_is_cut_with_a_marker() -> None:
    shown = show(b"x" * 50, max_chars=10)
    assert shown.startswith("x" * 10) and "40 more characters of 50" in shown


def test_keys_decode_or_fall_back_to_base64() -> None:
    assert decode_key(b"a\r\nb") == "a\r\nb"
    assert decode_key(b"\xff") == {"binary": True, "base64": "/w=="}


def test_budget_keeps_leading_items_that_fit() -> None:
    budget = Budget(21)  # each item counts its JSON size plus one
    assert budget.keep(["aaaa", "bbbb", "cccc", "dddd"]) == ["aaaa", "bbbb", "cccc"]
    assert budget.cut
