"""The REST client on its own, against the stand-in: errors, rate limits, pagination, validation, accounts."""

from __future__ import annotations

import time

import pytest
from gh_tokens import OTHER_TOKEN, TOKEN
from standin import StandIn

from patchbay_common.errors import AccessDenied, NotFound, UserError, redact
from patchbay_common.limits import decode_cursor
from patchbay_github.accounts import parse_accounts
from patchbay_github.api import Api, ApiOptions, check_owner, check_repo, enc_path, enc_ref

pytestmark = pytest.mark.anyio


def make_api(standin: StandIn, token: str | None = TOKEN, **options: float) -> Api:
    opts = ApiOptions(base_url=standin.base_url, seconds_between_writes=0, **options)  # type: ignore[arg-type]
    return Api("default", token, "GITHUB_PERSONAL_ACCESS_TOKEN", opts)


async def test_get_sends_the_token_and_reads_the_documented_example(api: StandIn) -> None:
    data = await make_api(api).get("/repos/octocat/Hello-World")
    assert data["full_name"] == "octocat/Hello-World"
    assert data["url"].startswith(api.base_url)  # the stand-in rewrote api.github.com
    assert api.requests[0].headers["authorization"] == f"token {TOKEN}"
    assert api.requests[0].headers["user-agent"] == "patchbay-github"


async def test_missing_token_is_a_clear_error_and_nothing_is_sent(api: StandIn) -> None:
    with pytest.raises(UserError) as info:
        await make_api(api, token=None).get("/user")
    assert "No GitHub token is configured" in str(info.value)
    assert "GITHUB_PERSONAL_ACCESS_TOKEN" in str(info.value)
    assert api.calls() == []


async def test_not_found_says_what_to_check(api: StandIn) -> None:
    api.override("GET", "/repos/o/r/issues/9", status=404, body={"message": "Not Found"})
    with pytest.raises(NotFound) as info:
        await make_api(api).get("/repos/o/r/issues/9")
    assert "GitHub found nothing at GET /repos/o/r/issues/9" in str(info.value)
    assert "private repository" in str(info.value)


async def test_validation_error_lists_the_fields(api: StandIn) -> None:
    body = {
        "message": "Validation Failed",
        "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
    }
    api.override("POST", "/repos/o/r/issues", status=422, body=body)
    with pytest.raises(UserError) as info:
        await make_api(api).request("POST", "/repos/o/r/issues", body={})
    assert "422 Validation Failed" in str(info.value) and "field=title" in str(info.value)
    assert api.calls() == [("POST", "/repos/o/r/issues")]  # a write is never retried


async def test_bad_credentials_names_the_variable_and_never_the_token(api: StandIn) -> None:
    api.override("GET", "/user", status=401, body={"message": "Bad credentials"})
    with pytest.raises(AccessDenied) as info:
        await make_api(api).get("/user")
    assert "GITHUB_PERSONAL_ACCESS_TOKEN" in str(info.value)
    assert redact(f"leak {TOKEN}") == "leak ***"


async def test_secondary_rate_limit_is_waited_out_when_short(api: StandIn) -> None:
    api.override(
        "GET",
        "/user",
        status=403,
        times=1,
        headers={"Retry-After": "0"},
        body={"message": "You have exceeded a secondary rate limit."},
    )
    data = await make_api(api).get("/user")
    assert data["login"] == "octocat"
    assert api.calls() == [("GET", "/user"), ("GET", "/user")]


async def test_429_with_long_retry_after_tells_the_model_when(api: StandIn) -> None:
    api.override("GET", "/user", status=429, headers={"Retry-After": "120"}, body={"message": "Too many"})
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        await make_api(api, max_rate_limit_wait=2).get("/user")
    assert time.monotonic() - started < 2
    assert "rate limit" in str(info.value) and "Try again in 120 s" in str(info.value)
    assert api.calls() == [("GET", "/user")]


async def test_primary_rate_limit_uses_the_reset_header(api: StandIn) -> None:
    reset = str(int(time.time()) + 600)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    api.override(
        "GET", "/user", status=403, headers=headers, body={"message": "API rate limit exceeded for user."}
    )
    with pytest.raises(UserError) as info:
        await make_api(api).get("/user")
    assert "Try again in" in str(info.value) and "UTC" in str(info.value)


async def test_pages_follow_the_link_header_with_a_token(api: StandIn) -> None:
    first = [{"number": 1}, {"number": 2}]
    link = f'<{api.base_url}/repositories/1/issues?state=open&per_page=2&page=2>; rel="next", <x>; rel="last"'
    api.override("GET", "/repos/o/r/issues", body=first, headers={"Link": link}, query={"per_page": "2"})
    api.override("GET", "/repos/o/r/issues", body=[{"number": 3}], query={"page": "2"})
    client = make_api(api)
    page = await client.page("/repos/o/r/issues", None, 2, state="open")
    assert [i["number"] for i in page.items] == [1, 2]
    assert decode_cursor(page.next_token or "")["q"] == {"state": "open", "per_page": "2", "page": "2"}
    second = await client.page("/repos/o/r/issues", page.next_token, 2, state="open")
    assert [i["number"] for i in second.items] == [3] and second.next_token is None
    assert api.requests[1].query == {"state": ["open"], "per_page": ["2"], "page": ["2"]}
    with pytest.raises(UserError, match="another listing"):
        await client.page("/repos/o/r/pulls", page.next_token, 2)


@pytest.mark.parametrize("bad", ["../etc", "a/../b", "x?y", "a#b", "a\\b"])
def test_paths_cannot_leave_the_contents_route(bad: str) -> None:
    with pytest.raises(UserError):
        enc_path(bad)


def test_names_are_validated_and_encoded() -> None:
    assert enc_path("docs/read me.md") == "docs/read%20me.md"
    assert enc_ref("feature/x") == "feature/x"
    assert check_owner("octo-cat") == "octo-cat" and check_repo("a.b_c-d") == "a.b_c-d"
    for bad_owner in ("", "a/b", "-x", "x" * 40, "evil.com"):
        with pytest.raises(UserError):
            check_owner(bad_owner)
    for bad_repo in ("..", "a/b", "", "a b"):
        with pytest.raises(UserError):
            check_repo(bad_repo)
    with pytest.raises(UserError):
        enc_ref("main..x")


def test_accounts_route_by_owner_and_ask_when_ambiguous() -> None:
    env = {"GH_WORK": TOKEN, "GH_HOME": OTHER_TOKEN}
    accounts = parse_accounts(
        ["work=GH_WORK", "home=GH_HOME"], ["acme*=work", "me=home"], None, "X", ApiOptions(), env
    )
    assert accounts.pick("acme-labs").account == "work"
    assert accounts.pick("ACME").account == "work"
    assert accounts.pick("me").account == "home"
    assert accounts.pick("acme", account="home").account == "home"
    with pytest.raises(UserError, match="Pass account= one of: work, home"):
        accounts.pick("stranger")
    with pytest.raises(UserError, match="no account named"):
        accounts.pick("me", account="nobody")
    single = parse_accounts(
        [], [], None, "GITHUB_PERSONAL_ACCESS_TOKEN", ApiOptions(), {"GITHUB_TOKEN": TOKEN}
    )
    assert single.names == ["default"] and single.pick("anyone").token == TOKEN
    for specs, routes in ((["bad"], []), (["a=B", "a=C"], []), (["a=B"], ["x=nobody"])):
        with pytest.raises(ValueError):
            parse_accounts(specs, routes, None, "X", ApiOptions(), env)
