"""Every server the cross-cutting tests exercise, registered by one small module per server.

A server joins every cross-cutting check (transports, eras, schemas, snapshots, security catalogue) by
adding `tests/registry/<name>.py` that defines `SPEC = ServerSpec(...)`: how to start it with zero
configuration inside the test environment, and which real components it needs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchbay_common.testing.clients import Launch


@dataclass(frozen=True)
class TestEnv:
    """What a zero-configuration launch may use: a scratch folder and the URLs of running components."""

    __test__ = False  # not a pytest test class, despite the name

    tmp: Path
    urls: Mapping[str, str] = field(
        default_factory=dict
    )  # "redis", "postgres", "github", "slack", "brave", ...


@dataclass(frozen=True)
class ServerSpec:
    """How the cross-cutting tests start one server."""

    name: str
    launch: Callable[[TestEnv], Launch]
    components: tuple[str, ...] = ()  # names of component fixtures it needs (keys of TestEnv.urls)
    prepare: Callable[[TestEnv], None] | None = None  # e.g. create sample files in env.tmp
    # One read-only tool call the independent clients (Inspector CLI, TypeScript SDK) make: (tool, arguments).
    # None: the first read-only tool that needs no argument (tests/hardening.py, smoke_call).
    smoke_call: tuple[str, Mapping[str, Any]] | None = None


def all_specs() -> list[ServerSpec]:
    """Every registered server, by name."""
    specs = []
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        spec = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SPEC", None)
        if isinstance(spec, ServerSpec):
            specs.append(spec)
    return sorted(specs, key=lambda s: s.name)


SPECS = all_specs()


def spec_id(spec: ServerSpec) -> str:
    """The test id of a spec: the server's name."""
    return spec.name
