"""Posting rules per workspace, the direct-message opt-in, and team_id for Enterprise Grid org-wide tokens.

Against the Slack stand-in, which refuses an org-wide token's list and search calls without `team_id`
(`missing_argument`) or for a team it is not granted (`team_access_not_granted`), as Slack documents.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from patchbay_common.errors import AccessDenied
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import text
from patchbay_slack.policy import PostRules
from patchbay_slack.server import Settings, build
from patchbay_slack.workspaces import Workspaces

pytestmark = pytest.mark.anyio

standin_module = sys.modules["patchbay_slack_tests_standin"]
BOT_TOKEN: str = standin_module.BOT_TOKEN
ORG_TOKEN: str = standin_module.ORG_TOKEN
TEAM_ID: str = standin_module.TEAM_ID
DM: str = standin_module.DM_CHANNEL
VENKMAN = "U123ABC456"


def _server(base_url: str, *args: str) -> Any:
    return build(Settings(_cli_parse_args=list(args), base_url=base_url, warm_cache=False))  # type: ignore[call-arg]


def _allowed(rules: PostRules, ws: str, channel_id: str, name: str | None, **dm: Any) -> bool:
    try:
        rules.check(ws, channel_id, name, **dm)
    except AccessDenied:
        return False
    return True


def test_rules_are_scoped_per_workspace_and_denials_win_everywhere() -> None:
    names = ["work", "oss", "home"]
    # the CLI splits "work:#general,#eng" at the comma: an unprefixed entry stays in the workspace before it
    rules = PostRules.parse(["work:#general", "#eng", "oss:*", "!#announcements"], names)
    assert _allowed(rules, "work", "C1", "general") and _allowed(rules, "work", "C2", "eng")
    assert not _allowed(rules, "work", "C3", "random")
    assert _allowed(rules, "oss", "C3", "random") and not _allowed(rules, "oss", "C4", "announcements")
    assert not _allowed(rules, "home", "C1", "general")  # no entry for it: nothing allowed
    same = PostRules.parse("work:#general,#eng,oss:*,!#announcements", names)  # one value (the env var)
    assert same.policies == rules.policies
    everywhere = PostRules.parse(["#general", "oss:#random", "*:#eng", "work:!#general"], names)
    assert _allowed(everywhere, "home", "C1", "general") and _allowed(everywhere, "home", "C2", "eng")
    assert _allowed(everywhere, "oss", "C3", "random") and not _allowed(everywhere, "home", "C3", "random")
    assert not _allowed(everywhere, "work", "C1", "general")  # a scoped denial, in its workspace only
    unscoped = PostRules.parse("#general", ["default"])  # today's meaning for one workspace
    assert _allowed(unscoped, "default", "C1", "general") and not _allowed(unscoped, "default", "C2", "x")
    with pytest.raises(AccessDenied) as caught:
        rules.check("home", "C1", "general")
    assert "allows nothing in workspace 'home'" in str(caught.value)
    for bad, message in (
        (["nope:#general"], "no workspace named 'nope'"),
        (["work:"], "nothing after 'work'"),
        (["!#general"], "only denies channels"),
        (["work:!#general"], "only denies channels"),
        ([","], "give channels"),
        (["@alice"], "by user ID"),
    ):
        with pytest.raises(ValueError, match=message):
            PostRules.parse(bad, names)


def test_direct_messages_need_their_own_opt_in() -> None:
    star = PostRules.parse("*", ["default"])
    assert _allowed(star, "default", "C1", "general")
    assert not _allowed(star, "default", DM, VENKMAN, dm=True, dm_user=VENKMAN)
    assert not _allowed(star, "default", "G0MPIM000", "mpdm-a--b", dm=True)
    with pytest.raises(AccessDenied) as caught:
        star.check("default", DM, VENKMAN, dm=True, dm_user=VENKMAN)
    assert "'@U0123ABC' or '@*'" in str(caught.value) and "'*' does not give" in str(caught.value)
    one = PostRules.parse(f"@{VENKMAN}", ["default"])
    assert _allowed(one, "default", DM, VENKMAN, dm=True, dm_user=VENKMAN)
    assert not _allowed(one, "default", "D0OTHER00", "U0OTHER00", dm=True, dm_user="U0OTHER00")
    assert not _allowed(one, "default", "C1", "general")
    anyone = PostRules.parse(f"@*,!@{VENKMAN}", ["default"])
    assert _allowed(anyone, "default", "D0OTHER00", None, dm=True, dm_user="U0OTHER00")
    assert not _allowed(anyone, "default", DM, None, dm=True, dm_user=VENKMAN)
    by_id = PostRules.parse(DM, ["default"])  # the DM's own ID is an explicit opt-in too
    assert _allowed(by_id, "default", DM, None, dm=True, dm_user=VENKMAN)
    # a DM whose user is named like an allowed channel is still a DM
    assert not _allowed(PostRules.parse("#u123abc456", ["default"]), "default", DM, VENKMAN, dm=True)


@pytest.mark.parametrize("era", ERAS)
async def test_posting_per_workspace_and_to_a_dm(
    era: str, monkeypatch: pytest.MonkeyPatch, standin: Any
) -> None:
    monkeypatch.setenv("WORK_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("OSS_TOKEN", BOT_TOKEN)
    flags = ["--workspace", "work=WORK_TOKEN", "--workspace", "oss=OSS_TOKEN"]
    server = _server(
        standin.base_url, *flags, "--allow-post", "work:#general,G0PR1V4TE", "--allow-post", "oss:*"
    )
    async with connect(server, era=era) as client:
        work_random = await client.call_tool("slack_post_message", {"channel": "#random", "text": "no"})
        oss_random = await client.call_tool(
            "slack_post_message", {"channel": "#random", "text": "yes", "workspace": "oss"}
        )
        work_private = await client.call_tool(
            "slack_post_message", {"channel": "#secret-plans", "text": "ok"}
        )
        dm = await client.call_tool("slack_post_message", {"channel": DM, "text": "psst", "workspace": "oss"})
    assert work_random.is_error and "Allowed in 'work': #g0pr1v4te #general" not in text(work_random)
    assert "#random (C061EG9T2) is not allowed" in text(work_random)
    assert not oss_random.is_error and not work_private.is_error
    assert dm.is_error and f"the direct message {DM} with {VENKMAN} is not allowed" in text(dm)
    assert "'*' does not give" in text(dm)
    sent = [r.params["channel"] for r in standin.calls("chat.postMessage")]
    assert sent == ["C061EG9T2", "G0PR1V4TE"]
    assert all(m["text"] not in ("no", "psst") for msgs in standin.messages.values() for m in msgs)

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    server = _server(standin.base_url, "--allow-post", f"#general,@{VENKMAN}")
    async with connect(server, era=era) as client:
        dm = await client.call_tool("slack_post_message", {"channel": DM, "text": "hello venkman"})
    assert not dm.is_error and text(dm).startswith(
        f"Posted to the direct message with {VENKMAN} ({DM}) as ts="
    )
    assert standin.messages[DM][-1]["text"] == "hello venkman"


def test_a_team_id_is_read_from_the_workspace_spec() -> None:
    base = {"base_url": "http://127.0.0.1:1/api/", "timeout": 5, "max_wait": 1, "cache_ttl": 60}
    found = Workspaces.from_config(
        ["grid=ORG@T0123ABC", "both=B:U@T0456DEF", "plain=P"], environ={"ORG": "xoxb-o"}, **base
    )
    assert found.get("grid").api.team_id == "T0123ABC" and found.get("grid").api.token == "xoxb-o"
    assert found.get("both").api.team_id == "T0456DEF" and found.get("both").search_api.team_id == "T0456DEF"
    assert found.get("plain").api.team_id is None
    for bad in (["grid=ORG@"], ["grid=ORG@t0123"], ["grid=ORG@T0 1"], ["grid=@T0123ABC"]):
        with pytest.raises(ValueError, match="--workspace"):
            Workspaces.from_config(bad, environ={}, **base)


@pytest.mark.parametrize("era", ERAS)
async def test_an_org_wide_token_sends_team_id_where_slack_takes_it(
    era: str, monkeypatch: pytest.MonkeyPatch, standin: Any
) -> None:
    monkeypatch.setenv("GRID_TOKEN", ORG_TOKEN)
    flags = ["--workspace", f"grid=GRID_TOKEN@{TEAM_ID}", "--workspace", "bare=GRID_TOKEN"]
    flags += ["--workspace", "elsewhere=GRID_TOKEN@T0OTH3RWS"]
    async with connect(_server(standin.base_url, *flags), era=era) as client:
        channels = await client.call_tool("slack_list_channels", {"limit": 5})
        users = await client.call_tool("slack_get_users", {})
        history = await client.call_tool("slack_get_channel_history", {"channel": "C012AB3CD"})
        bare = await client.call_tool("slack_list_channels", {"workspace": "bare"})
        elsewhere = await client.call_tool("slack_get_users", {"workspace": "elsewhere"})
    assert not channels.is_error and "#general (C012AB3CD)" in text(channels)
    assert not users.is_error and "venkman" in text(users)
    assert not history.is_error
    listed = standin.calls("conversations.list") + standin.calls("users.list")
    assert {r.params.get("team_id") for r in listed if r.token == ORG_TOKEN} >= {TEAM_ID}
    assert all("team_id" not in r.params for r in standin.calls("conversations.history"))
    assert bare.is_error and "missing_argument" in text(bare)
    assert "--workspace NAME=ENV_VAR@T0123ABC" in text(bare)
    assert elsewhere.is_error and "team_access_not_granted" in text(elsewhere)
    assert "T0OTH3RWS was sent" in text(elsewhere)
    assert ORG_TOKEN not in text(bare) + text(elsewhere)
