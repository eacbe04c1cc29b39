"""Flags every server shares, read from the command line and from `PATCHBAY_<SERVER>_<FLAG>` variables.

A server subclasses `CommonSettings`, adds its own fields (each with a `description`, shown by `--help`),
and sets `model_config = settings_config("<server>")`. pydantic-settings does the parsing; `parse_settings`
turns a bad value into one clear line and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

__all__ = ["CommonSettings", "parse_settings", "settings_config"]

S = TypeVar("S", bound="CommonSettings")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def settings_config(server: str, **extra: object) -> SettingsConfigDict:
    """The pydantic-settings configuration for server `server` (env prefix, kebab-case flags)."""
    prefix = f"PATCHBAY_{server.upper().replace('-', '_')}_"
    config = SettingsConfigDict(
        env_prefix=prefix,
        cli_prog_name=f"patchbay-{server}",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_avoid_json=True,
        cli_hide_none_type=True,
        cli_enforce_required=False,
        cli_exit_on_error=True,
        extra="ignore",
        env_parse_none_str="",
    )
    config.update(extra)  # type: ignore[typeddict-item]
    return config


class CommonSettings(BaseSettings):
    """Transport, security and logging flags shared by every patchbay server."""

    model_config = settings_config("server")

    transport: Literal["stdio", "sse", "streamable-http"] = Field(
        "stdio", description="How clients connect: stdio, sse, or streamable-http."
    )
    host: str = Field("127.0.0.1", description="Address to listen on (HTTP transports).")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on (HTTP transports).")
    stateless: bool = Field(
        False, description="Streamable HTTP without sessions (each request stands alone)."
    )
    json_response: bool = Field(
        False, description="Streamable HTTP answers with JSON bodies instead of SSE streams."
    )
    auth_token: SecretStr | None = Field(
        None, description="Bearer token HTTP clients must send (Authorization: Bearer ...)."
    )
    auth_token_file: Path | None = Field(None, description="Read the bearer token from this file.")
    allowed_host: list[str] = Field(
        default_factory=list,
        description="Extra Host header values to accept (repeatable; host:port or host:*).",
    )
    allowed_origin: list[str] = Field(
        default_factory=list,
        description="Extra Origin values to accept (repeatable; e.g. https://app.example).",
    )
    allow_insecure_bind: bool = Field(
        False, description="Allow listening on a non-loopback address without --auth-token (insecure)."
    )
    tool_timeout: float = Field(
        60.0, gt=0, description="Seconds one tool call may take before it is stopped."
    )
    max_output_chars: int = Field(
        25_000, ge=100, description="Characters one tool result may hold before it is cut with a marker."
    )
    event_store: str = Field(
        "memory",
        description="Where streamable HTTP keeps sent events so a client that reconnects with Last-Event-ID "
        "gets what it missed: memory, a redis:// URL (shared by replicas), or none.",
    )
    allow_sampling: bool = Field(
        False,
        description="Let tools that take a question ask the client's model to answer it from a result too "
        "long for one answer (only with clients that declare sampling).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level of log lines written to stderr."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="Log lines as JSON, console text, or auto (JSON unless stderr is a terminal)."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def bearer_token(self) -> str | None:
        """The bearer token from `--auth-token` or `--auth-token-file`, if any."""
        if self.auth_token is not None:
            return self.auth_token.get_secret_value()
        if self.auth_token_file is not None:
            return self.auth_token_file.read_text().strip() or None
        return None


def parse_settings(settings_cls: type[S], argv: Sequence[str] | None = None) -> S:
    """Parse flags and environment into `settings_cls`; on a bad value print one line and exit 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return settings_cls(_cli_parse_args=args)  # type: ignore[call-arg]
    except SystemExit as exc:
        if exc.code == 0 and ("--help" in args or "-h" in args):
            prefix = settings_cls.model_config.get("env_prefix", "")
            sys.stdout.write(
                f"\nEvery flag can also be set in the environment as {prefix}<FLAG> (upper case, dashes as\n"
                f"underscores), e.g. {prefix}LOG_LEVEL=DEBUG. A repeatable flag takes a JSON list there,\n"
                'e.g. \'["a", "b"]\'.\n'
            )
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]).replace("_", "-")
        given = first.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) and not _sensitive(where) else ""
        _die(f"--{where}: {first['msg']}{shown}", settings_cls)
    except SettingsError as exc:
        _die(str(exc), settings_cls)
    raise AssertionError("unreachable")  # pragma: no cover


def _sensitive(flag: str) -> bool:
    """Whether a flag's value may hold a credential, so an error must not echo it."""
    return any(word in flag.lower() for word in ("token", "password", "secret", "key", "url", "dsn", "auth"))


def _die(message: str, settings_cls: type[CommonSettings]) -> None:
    prog = settings_cls.model_config.get("cli_prog_name", "patchbay")
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)
