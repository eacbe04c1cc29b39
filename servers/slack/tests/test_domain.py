"""The domain modules on their own: time windows, markup, the allow-list, workspaces, rendering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patchbay_common.errors import AccessDenied, UserError
from patchbay_slack.api import SlackApi
from patchbay_slack.directory import Directory, User
from patchbay_slack.markup import mentioned_users, to_plain
from patchbay_slack.policy import PostPolicy, PostRules
from patchbay_slack.render import render_message
from patchbay_slack.timewindow import format_ts, parse_time
from patchbay_slack.workspaces import Workspaces

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW - 7200),
        ("30m", NOW - 1800),
        ("1d", NOW - 86400),
        ("1w", NOW - 604800),
        ("2026-11-19", datetime(2026, 11, 19, tzinfo=UTC).timestamp()),
        ("2026-11-19T08:30", datetime(2026, 11, 19, 8, 30, tzinfo=UTC).timestamp()),
        ("2026-11-19T08:30:00+01:00", datetime(2026, 11, 19, 7, 30, tzinfo=UTC).timestamp()),
        ("2026-11-19T08:30:00Z", datetime(2026, 11, 19, 8, 30, tzinfo=UTC).timestamp()),
        ("1700000000.000100", 1700000000.0001),
    ],
)
def test_times_a_model_writes(text: str, expected: float) -> None:
    assert parse_time(text, name="since", now=NOW) == pytest.approx(expected)


def test_a_time_nobody_can_read_says_which_forms_work() -> None:
    with pytest.raises(UserError) as caught:
        parse_time("yesterday-ish", name="since", now=NOW)
    assert "since='yesterday-ish'" in str(caught.value)
    assert "2h" in str(caught.value) and "ISO date" in str(caught.value)
    assert format_ts("1700000000.000100") == "2023-11-14 22:13"


NAMES = {"U0AAA1111": "alice", "W0BBB2222": "bob"}
CHANNELS = {"C0CCC3333": "general"}


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("hi <@U0AAA1111>", "hi @alice"),
        ("hi <@U0ZZZ9999|zed>", "hi @zed"),
        ("hi <@U0ZZZ9999>", "hi @U0ZZZ9999"),
        ("see <#C0CCC3333>", "see #general"),
        ("see <#C0DDD4444|random>", "see #random"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!subteam^S0123|@oncall> ping", "@oncall ping"),
        ("<https://example.com|the site>", "the site (https://example.com)"),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:a@example.com|a@example.com>", "a@example.com"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("a &lt;@U0AAA1111&gt; &amp;amp; b", "a <@U0AAA1111> &amp; b"),  # escaped text never becomes markup
        ("", ""),
    ],
)
def test_markup_becomes_plain_text(raw: str, plain: str) -> None:
    assert to_plain(raw, NAMES.get, CHANNELS.get) == plain


def test_mentions_are_found_for_name_lookups() -> None:
    assert mentioned_users("<@U0AAA1111> and <@W0BBB2222|bob> and <#C0CCC3333>") == {"U0AAA1111", "W0BBB2222"}


def test_allow_list_names_ids_and_denials() -> None:
    policy = PostPolicy.parse("#General, C0CCC3333 ,!#secret")
    assert policy.allows("C0XXX0000", "general")
    assert policy.allows("C0CCC3333", "whatever")
    assert not policy.allows("C0YYY0000", "random")
    assert not policy.allows("C0SSS0000", "secret")
    everything_but = PostPolicy.parse("*,!announcements,!C0DENY000")
    assert everything_but.allows("C0XXX0000", "random")
    assert not everything_but.allows("C0XXX0000", "announcements")
    assert not everything_but.allows("C0DENY000", "fine-name")
    with pytest.raises(ValueError, match=r"only denies channels, which allows none; .* add '\*'"):
        PostPolicy.parse("!#announcements")  # a denial alone never widens "no posting" to "every channel"
    with pytest.raises(AccessDenied) as caught:
        PostRules.parse("#general", ["default"]).check("default", "C0YYY0000", "random")
    assert "#random (C0YYY0000) is not allowed" in str(
        caught.value
    ) and "Allowed in 'default': #general" in str(caught.value)
    for bad in ("", " , ", "!"):
        with pytest.raises(ValueError, match="allow-post"):
            PostPolicy.parse(bad)


def test_workspaces_from_the_environment() -> None:
    base = {"base_url": "http://127.0.0.1:1/api/", "timeout": 5, "max_wait": 1, "cache_ttl": 60}
    default = Workspaces.from_config([], environ={"SLACK_BOT_TOKEN": "xoxb-1-aaaa"}, **base)
    assert default.names() == ["default"] and default.get(None).api.token == "xoxb-1-aaaa"
    assert default.get(None).search_api is default.get(None).api
    both = Workspaces.from_config(
        [], environ={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_USER_TOKEN": "xoxp-2"}, **base
    )
    assert both.get("default").search_api.token == "xoxp-2"
    only_user = Workspaces.from_config([], environ={"SLACK_USER_TOKEN": "xoxp-2"}, **base)
    assert only_user.get(None).api.is_user_token
    named = Workspaces.from_config(
        ["acme=ACME_TOKEN", "ghost=GHOST_BOT:GHOST_USER"],
        environ={"ACME_TOKEN": "xoxb-acme", "GHOST_BOT": "xoxb-g", "GHOST_USER": "xoxp-g"},
        **base,
    )
    assert named.names() == ["acme", "ghost"] and named.default == "acme"
    assert named.get("ghost").search_api.token == "xoxp-g"
    with pytest.raises(UserError, match="Configured workspaces: acme, ghost"):
        named.get("nope")
    for bad in (["acme"], ["acme=1BAD"], ["a b=VAR"], ["x=A", "x=B"], ["x=A:9"]):
        with pytest.raises(ValueError, match="--workspace"):
            Workspaces.from_config(bad, environ={}, **base)
    empty = Workspaces.from_config([], environ={}, **base)
    with pytest.raises(UserError, match="SLACK_BOT_TOKEN") as caught:
        empty.get(None).api.require_token()
    assert "restart" in str(caught.value)


def test_a_message_renders_as_one_compact_line() -> None:
    directory = Directory(SlackApi("w", None, "VAR"))
    directory.users["U0AAA1111"] = User("U0AAA1111", "alice", display_name="Alice")
    line, data = render_message(
        {
            "user": "U0AAA1111",
            "text": "first line\n<@U0AAA1111> second",
            "ts": "1700000000.000100",
            "reply_count": 2,
            "reactions": [{"name": "tada", "count": 3}],
            "files": [{"name": "a.png"}],
            "edited": {"ts": "1"},
        },
        directory,
    )
    assert line == (
        "2023-11-14 22:13 @Alice [ts=1700000000.000100; 2 replies; edited; files: a.png; :tada:x3]: "
        "first line\n    @Alice second"
    )
    assert data["author"] == "Alice" and data["reactions"] == [{"name": "tada", "count": 3}]
    bot_line, _ = render_message({"bot_id": "B1", "username": "ecto1", "text": "hi", "ts": "1"}, directory)
    assert "ecto1 [ts=1]: hi" in bot_line
