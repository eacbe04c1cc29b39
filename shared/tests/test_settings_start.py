"""A start without arguments skips the command-line source: same settings, same one-line errors.

`parse_settings` with no arguments does not build the argparse parser (cold start); what it reads from the
environment must not change, nor how a bad variable is reported.
"""

from __future__ import annotations

import pytest
from pydantic import Field

from patchbay_common.settings import CommonSettings, parse_settings, settings_config


class Probe(CommonSettings):
    """Flags of a probe server."""

    model_config = settings_config("probe")

    names: list[str] = Field(default_factory=list, description="Names (repeatable).")
    limit: int = Field(5, ge=1, description="A limit.")


ENV = {
    "PATCHBAY_PROBE_NAMES": "a:b",
    "PATCHBAY_PROBE_LIMIT": "7",
    "PATCHBAY_PROBE_LOG_LEVEL": "debug",
    "PATCHBAY_PROBE_OAUTH_ISSUER": "https://one.example https://two.example",
    "PATCHBAY_PROBE_STRICT": "true",
}


def test_no_arguments_reads_the_environment_as_the_command_line_source_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    parsed = parse_settings(Probe, [])
    assert parsed.model_dump() == Probe(_cli_parse_args=[]).model_dump()  # type: ignore[call-arg]
    assert (parsed.names, parsed.limit, parsed.log_level, parsed.strict) == (["a", "b"], 7, "DEBUG", True)
    assert parsed.oauth_issuer == ["https://one.example", "https://two.example"]
    assert parse_settings(Probe, ["--limit", "9"]).limit == 9  # arguments still go through the CLI source


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PATCHBAY_PROBE_LIMIT", "0", "--limit (or PATCHBAY_PROBE_LIMIT): Input should be greater than"),
        ("PATCHBAY_PROBE_PORT", "many", "--port (or PATCHBAY_PROBE_PORT): Input should be a valid integer"),
        ("PATCHBAY_PROBE_NAMES", "[broken", "PATCHBAY_PROBE_NAMES: expected a list"),
    ],
)
def test_a_bad_variable_without_arguments_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        parse_settings(Probe, [])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("patchbay-probe: error: ")
    assert says in err
