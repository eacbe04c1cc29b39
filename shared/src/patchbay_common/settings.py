"""Flags every server shares, read from the command line and from `PATCHBAY_<SERVER>_<FLAG>` variables.

A server subclasses `CommonSettings`, adds its own fields (each with a `description`, shown by `--help`),
and sets `model_config = settings_config("<server>")`. pydantic-settings does the parsing; `parse_settings`
turns a bad value into one clear line and exit status 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
import typing
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

__all__ = ["CommonSettings", "SettingsProblem", "help_text", "parse_settings", "settings_config"]

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
        cli_exit_on_error=False,
        extra="ignore",
        env_parse_none_str="",
        # Validators are built when the class is first instantiated, not when it is defined: a server never
        # instantiates CommonSettings itself, so its start does not pay for building that one too.
        defer_build=True,
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
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Processes serving streamable HTTP on one port (needs --stateless; Linux and macOS).",
    )
    auth_token: SecretStr | None = Field(
        None, description="Bearer token HTTP clients must send (Authorization: Bearer ...)."
    )
    auth_token_file: Path | None = Field(None, description="Read the bearer token from this file.")
    oauth_issuer: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accept OAuth 2.1 access tokens from this authorization server (its issuer URL; "
        "repeatable). Turns the server into an OAuth resource server (see deploy/README.md).",
        json_schema_extra={"metavar": "URL"},
    )
    oauth_resource: str | None = Field(
        None,
        description="This server's canonical URL as clients reach it (RFC 8707 audience tokens must name), "
        "e.g. https://mcp.example.com/mcp; default http://HOST:PORT/mcp (/sse for SSE).",
        json_schema_extra={"metavar": "URL"},
    )
    oauth_jwks_url: str | None = Field(
        None, description="The issuer's key set URL (default: jwks_uri from its discovery document)."
    )
    oauth_introspection_url: str | None = Field(
        None,
        description="RFC 7662 introspection endpoint for opaque tokens (default: the issuer's, once "
        "--oauth-client-file is given).",
    )
    oauth_client_file: Path | None = Field(
        None,
        description="File with client_id:client_secret of the client that may introspect tokens (opaque "
        "tokens are accepted only with it).",
    )
    oauth_read_scope: str = Field(
        "mcp:read",
        description="Scope that lets a token list and call read tools.",
        json_schema_extra={"metavar": "SCOPE"},
    )
    oauth_write_scope: str = Field(
        "mcp:write",
        description="Scope a token needs to call tools that change data (a call without it gets 403 "
        "insufficient_scope).",
        json_schema_extra={"metavar": "SCOPE"},
    )
    oauth_leeway: float = Field(
        30.0, ge=0, le=300, description="Seconds of clock skew allowed when checking exp, nbf and iat."
    )
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
    single_user: bool = Field(
        False,
        description="Say that this HTTP server serves one user: without authentication, 2026-era requests "
        "cannot be told apart, so a server that keeps per-user state (browser) refuses to start over "
        "streamable HTTP without a token unless this is given.",
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
    strict: bool = Field(
        False,
        description="Refuse to start when a start-up check fails (missing token, unreachable database, no "
        "browser); without it the server starts and logs a warning with the fix.",
    )
    otel: bool = Field(
        False,
        description="OpenTelemetry traces and metrics (needs the [otel] extra): spans to "
        "OTEL_EXPORTER_OTLP_ENDPOINT when set, Prometheus text at /metrics. Also on when that variable is "
        "set; OTEL_SDK_DISABLED=true turns it off.",
    )
    otel_content: bool = Field(
        False,
        description="Also put tool arguments, queries and error texts in spans, redacted and cut to 200 "
        "characters (without it: names, sizes, outcomes and timings only).",
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without the bearer token (for a scraper inside the cluster); also allows "
        "--metrics-port on a non-loopback --host.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Also serve Prometheus /metrics on this port of --host (for stdio servers), with --otel.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level of log lines written to stderr."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="Log lines as JSON, console text, or auto (JSON unless stderr is a terminal)."
    )

    @field_validator("oauth_issuer", mode="before")
    @classmethod
    def _issuers(cls, value: object) -> object:
        """Issuer URLs from a variable: one, several separated by spaces or commas, or a JSON list."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part for part in re.split(r"[\s,]+", value) if part]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def authenticates(self) -> bool:
        """Whether HTTP clients must authenticate (static token or OAuth): state is keyed by who they are."""
        return bool(self.oauth_issuer) or self.bearer_token() is not None

    def bearer_token(self) -> str | None:
        """The bearer token from `--auth-token` or `--auth-token-file`, if any."""
        if self.auth_token is not None:
            return self.auth_token.get_secret_value()
        if self.auth_token_file is not None:
            return read_secret_file(self.auth_token_file, "--auth-token-file") or None
        return None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The default sources, with list variables read as `a:b` (os.pathsep) as well as JSON."""
        return init_settings, _ListFriendlyEnv(settings_cls), dotenv_settings, file_secret_settings


class SettingsProblem(ValueError):
    """A configuration mistake, said in one line an operator can act on."""


def read_secret_file(path: Path, flag: str) -> str:
    """The stripped text of a token or password file; `SettingsProblem` naming `flag` when unreadable."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsProblem(f"{flag}: cannot read {path} ({reason})") from None


class _ListFriendlyEnv(EnvSettingsSource):
    """Environment source where a list variable may be `a:b:c` (`;` on Windows) or a JSON list."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """Split a non-JSON list value on os.pathsep; explain a broken JSON value in one line."""
        variable = f"{self.env_prefix}{field_name}".upper()
        if isinstance(value, str) and _is_list(field.annotation) and not value.lstrip().startswith("["):
            if any(isinstance(m, type) and m.__name__ == "NoDecode" for m in field.metadata):
                return value
            return [part.strip() for part in value.split(os.pathsep) if part.strip()]
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError as exc:
            sep = os.pathsep
            raise SettingsProblem(
                f'{variable}: expected a list as a{sep}b or a JSON list like ["a", "b"] ({exc})'
            ) from None


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (list, tuple, set):
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation))


def parse_settings(settings_cls: type[S], argv: Sequence[str] | None = None) -> S:
    """Parse flags and environment into `settings_cls`; on a bad value print one line and exit 2.

    `-h`/`--help` prints `help_text` and `--version` the package versions (both exit 0, quietly when stdout
    is a closed pipe). Files named by `*_file` flags must be readable, or the flag is named in the error.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    before_separator = args[: args.index("--")] if "--" in args else args
    if "-h" in before_separator or "--help" in before_separator:
        _print(help_text(settings_cls))
        raise SystemExit(0)
    if "--version" in before_separator:
        _print(version_text(settings_cls))
        raise SystemExit(0)
    try:
        # Without arguments the command-line source would only build an argparse parser for every field
        # (8-10 ms of a start) to find nothing: a desktop client often starts a server with no flags.
        settings = settings_cls(_cli_parse_args=args) if args else settings_cls()  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]).replace("_", "-")
        given = first.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) and not _sensitive(where) else ""
        variable = _env_name(settings_cls, str(first["loc"][0])) if first["loc"] else ""
        source = f" (or {variable})" if variable and variable in os.environ else ""
        _die(f"--{where}{source}: {first['msg']}{shown}", settings_cls)
    except SettingsError as exc:
        cause = exc.__cause__
        _die(
            str(cause) if isinstance(cause, SettingsProblem) else _settings_error(exc, settings_cls),
            settings_cls,
        )
    except SettingsProblem as exc:
        _die(str(exc), settings_cls)
    for name, value in settings:
        if name.endswith("_file") and isinstance(value, Path):
            try:
                read_secret_file(value, "--" + name.replace("_", "-"))
            except SettingsProblem as exc:
                _die(str(exc), settings_cls)
    return settings


def _settings_error(exc: SettingsError, settings_cls: type[CommonSettings]) -> str:
    """pydantic-settings' 'error parsing value for field "x"' said with the variable and the expected form."""
    text = str(exc)
    if text.startswith("error parsing CLI: "):
        prog = settings_cls.model_config.get("cli_prog_name", "patchbay")
        return f"{text.removeprefix('error parsing CLI: ')} ({prog} --help lists every flag)"
    found = re.search(r'field "([^"]+)"', text)
    if found and found.group(1) in settings_cls.model_fields:
        variable = _env_name(settings_cls, found.group(1))
        field = settings_cls.model_fields[found.group(1)]
        if _is_list(field.annotation):
            return f'{variable}: expected a list as a{os.pathsep}b or a JSON list like ["a", "b"]'
        return f"{variable}: cannot be read as {_placeholder(found.group(1), field)}"
    return str(exc)


def _env_name(settings_cls: type[BaseSettings], field_name: str) -> str:
    return f"{settings_cls.model_config.get('env_prefix', '')}{field_name}".upper()


def _print(text: str) -> None:
    """Write to stdout; a reader that went away (`--help | head`) ends the program quietly."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None


# --- help -------------------------------------------------------------------------------------------------


def _distribution_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def version_text(settings_cls: type[CommonSettings]) -> str:
    """`patchbay-x 0.1.0 (patchbay-common 0.1.0, Python 3.12.3)`."""
    prog = str(settings_cls.model_config.get("cli_prog_name", "patchbay"))
    python = ".".join(map(str, sys.version_info[:3]))
    common = _distribution_version("patchbay-common")
    return f"{prog} {_distribution_version(prog)} (patchbay-common {common}, Python {python})\n"


def _summary(prog: str, settings_cls: type[CommonSettings]) -> str:
    try:
        summary = metadata.metadata(prog)["Summary"] or ""
    except (metadata.PackageNotFoundError, KeyError):
        summary = ""
    return summary or (settings_cls.__doc__ or "").strip().splitlines()[0]


_FORMAT_IN_TEXT = re.compile(r"\b([A-Z][A-Z_]*=[A-Z][A-Z_:]*)\b")


def _placeholder(name: str, field: FieldInfo) -> str:
    """What a value looks like: HOST, PORT, TOKEN, PATH, SECONDS, NAME=PATH, {a,b}..."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("metavar"), str):
        return str(extra["metavar"])
    annotation = field.annotation
    choices = _choices(annotation)
    if choices:
        return "{" + ",".join(choices) + "}"
    text = str(annotation)
    described = _FORMAT_IN_TEXT.search(field.description or "")
    if described:
        return described.group(1)
    words = name.split("_")
    if "Path" in text:
        return "DIR" if words[-1] in ("dir", "path") or name.endswith(("_dir", "directories")) else "PATH"
    if "SecretStr" in text:
        return {"password": "PASSWORD", "key": "KEY"}.get(words[-1], "TOKEN")
    if words[-1] in ("timeout", "ttl", "wait", "seconds") or "seconds" in words:
        return "SECONDS"
    if words[-1] in ("port",):
        return "PORT"
    if words[-1] in ("host",):
        return "HOST"
    if words[-1] in ("url",):
        return "URL"
    if words[-1] in ("dsn",):
        return "DSN"
    if words[-1] in ("origin",):
        return "ORIGIN"
    if "int" in text or "float" in text:
        return "N"
    if name in ("directories",):
        return "DIRECTORY"
    return words[-1].upper()


def _choices(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    for arg in typing.get_args(annotation):
        found = _choices(arg)
        if found:
            return found
    return []


def _is_bool(annotation: Any) -> bool:
    return annotation is bool or (bool in typing.get_args(annotation) and not _choices(annotation))


def _default(field: FieldInfo) -> str | None:
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return None
    else:
        value = field.default
    if value is None or value == [] or isinstance(value, SecretStr):
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _positional(field: FieldInfo) -> bool:
    return any("Positional" in str(m) or "Positional" in type(m).__name__ for m in field.metadata)


def _flag_lines(settings_cls: type[CommonSettings], names: list[str], width: int) -> list[str]:
    rows: list[tuple[str, str]] = []
    for name in names:
        field = settings_cls.model_fields[name]
        flag = "--" + name.replace("_", "-")
        if _positional(field):
            head = f"{_placeholder(name, field)} ..."
        elif _is_bool(field.annotation):
            head = f"{flag}, --no-{flag[2:]}"
        else:
            head = f"{flag} {_placeholder(name, field)}"
        text = " ".join((field.description or "").split())
        default = _default(field)
        if default is not None and not _is_bool(field.annotation):
            text += f" (default: {default})"
        elif _is_bool(field.annotation):
            text += f" (default: {default or 'off'})"
        text += f" [env {_env_name(settings_cls, name)}]"
        rows.append((head, text))
    column = min(max(len(head) for head, _ in rows) + 4, 34) if rows else 4
    lines: list[str] = []
    for head, text in rows:
        wrapped = textwrap.wrap(text, max(width - column, 30))
        if len(head) + 4 > column:
            lines.append(f"  {head}")
            lines += [" " * column + part for part in wrapped]
        else:
            lines.append(f"  {head}".ljust(column) + wrapped[0])
            lines += [" " * column + part for part in wrapped[1:]]
    return lines


def help_text(settings_cls: type[CommonSettings]) -> str:
    """`--help`: the server's own flags first, then the shared ones, the `config` subcommand and variables."""
    prog = str(settings_cls.model_config.get("cli_prog_name", "patchbay"))
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    width = max(min(shutil.get_terminal_size((100, 24)).columns, 120), 60)
    common = CommonSettings.model_fields
    fields = settings_cls.model_fields
    # A shared flag the server redefines (postgres' --strict) is documented with the server's own.
    own = [n for n in fields if n not in common or fields[n].description != common[n].description]
    shared = [n for n in fields if n not in own]
    positional = [name for name in own if _positional(settings_cls.model_fields[name])]
    tail = "".join(f" [{_placeholder(n, settings_cls.model_fields[n])} ...]" for n in positional)
    lines = [
        f"usage: {prog} [FLAGS]{tail}",
        f"       {prog} config CLIENT [--write] [--source pypi|git|local] [-- FLAGS]",
        f"       {prog} --version",
        "",
        _summary(prog, settings_cls),
        "",
        f"{prog} flags:" if own else f"{prog} has no flags of its own.",
        *_flag_lines(settings_cls, own, width),
        "",
        "Flags every patchbay server shares:",
        *_flag_lines(settings_cls, shared, width),
        "  -h, --help".ljust(34) + "Show this help and exit.",
        "  --version".ljust(34) + "Show the version and exit.",
        "",
        "Client config:",
        *textwrap.wrap(
            f"{prog} config claude-desktop --write -- FLAGS merges an entry that starts this server into "
            "the client's config file (claude-desktop, claude-code, cursor, vscode, windsurf); without "
            f"--write it prints the entry. {prog} config --help shows every option.",
            width - 2,
            initial_indent="  ",
            subsequent_indent="  ",
        ),
        "",
        *textwrap.wrap(
            f"Environment: every flag is also {prefix}<FLAG> (upper case, dashes as underscores), e.g. "
            f"{prefix}LOG_LEVEL=DEBUG; a boolean takes true/false, a repeatable flag a list as "
            f'a{os.pathsep}b or a JSON list like ["a", "b"]. Flags given on the command line win over the '
            "environment.",
            width,
        ),
    ]
    return "\n".join(lines) + "\n"


def _sensitive(flag: str) -> bool:
    """Whether a flag's value may hold a credential, so an error must not echo it."""
    return any(word in flag.lower() for word in ("token", "password", "secret", "key", "url", "dsn", "auth"))


def _die(message: str, settings_cls: type[CommonSettings]) -> None:
    prog = settings_cls.model_config.get("cli_prog_name", "patchbay")
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)
