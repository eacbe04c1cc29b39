"""List-valued flags add to the egress guard's defaults; start_index is checked like any other argument.

`--allow-host` and `--block-host` (flags or PATCHBAY_FETCH_* variables) leave loopback, private,
link-local and cloud-metadata addresses refused for every host they do not name, and `--allow-private`
still leaves cloud metadata refused. `start_index` is the fetch tool's only continuation: a value past the
end, negative or absurdly large gets a clear isError text, and no request is made for it beyond the page.
"""

from __future__ import annotations

from typing import Any

import pytest

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.results import text
from patchbay_fetch.server import Settings, build

pytestmark = pytest.mark.anyio


def make_settings(*flags: str) -> Settings:
    return Settings(_cli_parse_args=list(flags))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("flags", "environment", "refused"),
    [
        (["--block-host", "example.com"], {}, ["http://127.0.0.1:{port}/json", "http://10.0.0.1/"]),
        (["--allow-host", "localhost"], {}, ["http://127.0.0.1:{port}/json", "http://169.254.169.254/"]),
        (
            ["--allow-private", "--block-host", "example.com"],
            {},
            ["http://169.254.169.254/", "http://metadata/"],
        ),
        (["--allow-private", "--allow-host", "example.com"], {}, ["http://[fd00:ec2::254]/"]),
        ([], {"PATCHBAY_FETCH_BLOCK_HOST": '["example.com"]'}, ["http://127.0.0.1:{port}/json"]),
        (
            [],
            {"PATCHBAY_FETCH_ALLOW_HOST": '["localhost"]'},
            ["http://127.0.0.1:{port}/json", "http://[::1]/"],
        ),
    ],
)
async def test_egress_lists_keep_the_defaults_that_protect(
    site: Any,
    flags: list[str],
    environment: dict[str, str],
    refused: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    before = site.hits["/json"]
    async with connect(build(make_settings(*flags))) as client:
        for url in refused:
            result = await client.call_tool("fetch", {"url": url.format(port=site.port)})
            shown = text(result)
            assert result.is_error and ("Refused to connect" in shown or "never reached" in shown), (
                url,
                shown,
            )
    assert site.hits["/json"] == before


@pytest.mark.parametrize("era", ERAS)
async def test_start_index_out_of_range_is_a_clear_error(site: Any, allowed_server: Any, era: Era) -> None:
    url = site.url("/long")
    async with connect(allowed_server, era=era) as client:
        first = await client.call_tool("fetch", {"url": url, "max_length": 1000})
        assert not first.is_error and "start_index=" in text(first)
        hits = site.hits["/long"]
        for start in (10**6, 2**63, 10**30):
            past = await client.call_tool("fetch", {"url": url, "start_index": start})
            assert past.is_error and "past the end" in text(past), (start, text(past))
        negative = await client.call_tool("fetch", {"url": url, "start_index": -1})
        assert negative.is_error and "start_index" in text(negative)
        assert "internal error" not in text(negative)
    assert site.hits["/long"] == hits  # every later page came from the kept rendering
