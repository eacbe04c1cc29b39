"""Property-based fuzzing of every tool of every registered server, from the tool's own input schema.

Valid arguments come from `hypothesis-jsonschema`; invalid ones replace one property with a value of the
wrong type, drop a required property, or send arbitrary keys. For every call, over stdio:

- no JSON-RPC internal error (-32603) and no "failed with an internal error" text (an unanticipated
  exception in a tool); invalid arguments get an isError result or -32602;
- no call runs past the server's deadline (`--tool-timeout`) plus a margin;
- the server still answers afterwards;
- the read-only tools change nothing: the scratch folder, the Redis keyspace and the PostgreSQL tables are
  the same before and after (tools that are not read-only are fuzzed afterwards, outside that check).

Example counts are small and derandomized so that a run is fast and a failure reproduces exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from hypothesis_jsonschema import from_schema
from mcp import Client, MCPError
from mcp_types import CallToolResult

from patchbay_common.testing.clients import Launch, connect
from registry import SPECS, ServerSpec, TestEnv, spec_id

pytestmark = pytest.mark.slow  # make stress, not make test

TOOL_TIMEOUT = 4.0  # the server's own deadline for one call (--tool-timeout)
MARGIN = 6.0  # what a call may take beyond it before it counts as a hang
VALID_EXAMPLES = 8
INVALID_EXAMPLES = 8
INTERNAL_ERROR = -32603
INVALID_PARAMS = -32602
CRASH_TEXT = "failed with an internal error"

# Outbound HTTP from a fuzzed tool goes nowhere: a proxy on the discard port (loopback stand-ins excepted).
NO_EGRESS = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# Values of the wrong type that no lax coercion turns into the right one ("yes" and "1.0" would be).
WRONG = {
    "string": [12345, ["a"], {"a": 1}, True],
    "integer": ["one", 1.5, [1], None, -(2**70)],
    "number": ["one", [1], {"n": 1}],
    "boolean": ["maybe", 2, []],
    "array": ["a,b", {"0": "a"}, 7],
    "object": ["{}", [1, 2], 3],
}


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    kinds = set(kind if isinstance(kind, list) else [kind] if kind else [])
    for option in schema.get("anyOf", []):
        kinds |= _types(option)
    return kinds - {"null"}


def valid_arguments(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Values the schema accepts: objects and arrays built here, leaves by `hypothesis-jsonschema`.

    hypothesis-jsonschema 0.23's own object strategy uses a Hypothesis internal that 6.1xx removed
    (`many.more`), so objects are assembled here with `fixed_dictionaries`; every draw is still
    validated against the schema before it counts as valid.
    """
    defs = {**(defs or {}), **schema.get("$defs", {})}
    if "$ref" in schema:
        return valid_arguments(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([valid_arguments(option, defs) for option in schema[key]])
    kinds = _types(schema) | ({"null"} if schema.get("type") == "null" else set())
    if "object" in kinds or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: valid_arguments(v, defs) for k, v in properties.items() if k in required},
            optional={k: valid_arguments(v, defs) for k, v in properties.items() if k not in required},
        )
    if "array" in kinds and "items" in schema:
        low = schema.get("minItems", 0)
        return st.lists(valid_arguments(schema["items"], defs), min_size=low, max_size=max(low, 3))
    leaf = {k: v for k, v in schema.items() if k not in ("title", "description", "default", "examples")}
    return from_schema(leaf) if leaf else JSON_SCALARS


def invalid_arguments(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments the schema rejects (wrong type, missing required property) or arbitrary keys."""
    properties: dict[str, Any] = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    options: list[st.SearchStrategy[dict[str, Any]]] = [
        st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4)
    ]
    wrong = [
        (name, value)
        for name, prop in properties.items()
        for kind in _types(prop)
        for value in WRONG.get(kind, [])
        if not (kind == "number" and isinstance(value, int))
    ]
    if wrong:
        options.append(st.sampled_from(wrong).map(lambda pair: {pair[0]: pair[1]}))
    if required:
        options.append(st.sampled_from(required).map(lambda name: {k: "a" for k in required if k != name}))
    return st.one_of(options)


def tree_digest(folder: Path) -> str:
    """Names, sizes and contents of every file under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def redis_digest(url: str) -> str:
    """Every key and its DUMP in every database of the Redis server at `url`."""
    import redis

    digest = hashlib.sha256()
    base = url.rsplit("/", 1)[0]
    for db in range(16):
        client = redis.Redis.from_url(f"{base}/{db}")
        try:
            for key in sorted(client.scan_iter(count=1000)):
                digest.update(key + b"\0" + (client.dump(key) or b""))
        finally:
            client.close()
    return digest.hexdigest()


def postgres_digest(dsn: str) -> str:
    """The rows of every user table of the PostgreSQL database at `dsn`."""
    import asyncpg

    async def run() -> str:
        connection = await asyncpg.connect(dsn)
        try:
            tables = await connection.fetch(
                "SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables ORDER BY 1"
            )
            digest = hashlib.sha256()
            for row in tables:
                name = row["name"]
                value = await connection.fetchval(
                    f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {name} t"  # noqa: S608
                )
                digest.update(f"{name}={value};".encode())
            return digest.hexdigest()
        finally:
            await connection.close()

    return asyncio.run(run())


def state(spec: ServerSpec, env: TestEnv) -> dict[str, str]:
    """What a read-only server must leave as it found: its scratch folder and its components' data."""
    found = {"files": tree_digest(env.tmp)}
    if "redis" in env.urls:
        found["redis"] = redis_digest(env.urls["redis"])
    if "postgres" in env.urls:
        found["postgres"] = postgres_digest(env.urls["postgres"])
    return found


class Fuzzer:
    """A connected client in a blocking portal, so that synchronous hypothesis tests can call tools."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: Client, name: str) -> None:
        self.portal = portal
        self.client = client
        self.name = name
        self.calls = 0

    async def _call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult | MCPError:
        with anyio.fail_after(TOOL_TIMEOUT + MARGIN):
            try:
                return await self.client.call_tool(tool, arguments)
            except MCPError as exc:
                return exc

    def call(self, tool: str, arguments: dict[str, Any], *, valid: bool) -> None:
        """One call; assert the answer is a result or the right error, within the deadline."""
        self.calls += 1
        where = f"patchbay-{self.name} {tool}({json.dumps(arguments)[:300]})"
        try:
            answer = self.portal.call(self._call, tool, arguments)
        except TimeoutError:
            raise AssertionError(f"{where}: no answer within {TOOL_TIMEOUT + MARGIN} s") from None
        if isinstance(answer, MCPError):
            code = answer.error.code
            assert code != INTERNAL_ERROR, f"{where}: JSON-RPC internal error: {answer.error.message}"
            assert not valid and code == INVALID_PARAMS, (
                f"{where}: JSON-RPC error {code}: {answer.error.message}"
            )
            return
        text = " ".join(getattr(block, "text", "") for block in answer.content)
        assert CRASH_TEXT not in text, f"{where}: the tool crashed: {text[:500]}"
        if not valid:
            assert answer.is_error, f"{where}: invalid arguments were accepted: {text[:300]}"

    def alive(self) -> None:
        """The server still answers a request."""
        assert self.portal.call(self.client.list_tools).tools


@pytest.fixture
def fuzzer(request: pytest.FixtureRequest, server_envs: dict[str, TestEnv]) -> Iterator[Fuzzer]:
    spec: ServerSpec = request.param
    launch = spec.launch(server_envs[spec.name])
    fuzzed = Launch(
        launch.command, [*launch.args, "--tool-timeout", str(TOOL_TIMEOUT)], {**NO_EGRESS, **launch.env}
    )
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(connect(fuzzed, era="modern")) as client,
    ):
        yield Fuzzer(portal, client, spec.name)


def fuzz_settings(examples: int) -> settings:
    """Small, derandomized and without a database: fast, and a failure reproduces exactly."""
    return settings(
        max_examples=examples,
        database=None,
        derandomize=True,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )


def fuzz_tool(fuzzer: Fuzzer, tool: dict[str, Any]) -> None:
    """Valid then invalid arguments against one tool."""
    schema = tool["inputSchema"]
    name = tool["name"]
    try:
        strategy = valid_arguments(schema)
    except HypothesisException as exc:  # pragma: no cover - a schema hypothesis-jsonschema cannot handle
        raise AssertionError(f"{name}: cannot generate arguments from its schema: {exc}") from exc

    @fuzz_settings(VALID_EXAMPLES)
    @given(strategy)
    def valid(arguments: dict[str, Any]) -> None:
        fuzzer.call(name, arguments, valid=_accepts(schema, arguments))

    @fuzz_settings(INVALID_EXAMPLES)
    @given(invalid_arguments(schema))
    def invalid(arguments: dict[str, Any]) -> None:
        if _accepts(schema, arguments):
            return  # the "invalid" draw happens to be valid (e.g. every property optional)
        fuzzer.call(name, arguments, valid=False)

    valid()
    invalid()


def _accepts(schema: dict[str, Any], arguments: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema).is_valid(arguments)


@pytest.mark.parametrize("fuzzer", SPECS, ids=spec_id, indirect=True)
def test_fuzz_every_tool_from_its_schema(fuzzer: Fuzzer, server_envs: dict[str, TestEnv]) -> None:
    spec = next(s for s in SPECS if s.name == fuzzer.name)
    env = server_envs[spec.name]
    tools = fuzzer.portal.call(fuzzer.client.list_tools).tools
    payload = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]
    read_only = [t for t in payload if (t.get("annotations") or {}).get("readOnlyHint")]
    others = [t for t in payload if t not in read_only]
    before = state(spec, env)
    for tool in read_only:
        fuzz_tool(fuzzer, tool)
    fuzzer.alive()
    assert state(spec, env) == before, f"patchbay-{spec.name}: a read-only tool changed data"
    for tool in others:
        fuzz_tool(fuzzer, tool)
    fuzzer.alive()
    assert fuzzer.calls >= len(payload)
