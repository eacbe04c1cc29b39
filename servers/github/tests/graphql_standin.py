"""GitHub's GraphQL API as a stand-in: GitHub's published schema, executed by graphql-core over fixture data.

The schema is `schema.graphql` of the npm package `@octokit/graphql-schema` (installed by scripts/setup.sh
into .cache/npm), so a query naming a field, argument or type GitHub does not have fails validation the
way GitHub's endpoint refuses it: HTTP 200 with `{"errors": [...]}` and no `data`. Resolvers serve
repository discussions, their comments and categories from `Discussions` (plain dicts, GraphQL field
names), with GitHub's connection arguments (`first`/`after`, at most 100) and opaque `endCursor`s, and
answer `rateLimit { cost remaining resetAt }`. This is the foundation for the discussions and projects
toolsets (issue 23, item 6); the REST stand-in (standin.py) is where it is to be mounted at `/graphql`.

    result = execute(query, variables, data)   # {"data": ...} or {"errors": [...]}
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / ".cache" / "npm" / "node_modules" / "@octokit" / "graphql-schema" / "schema.graphql"
INSTALL = "npm install --prefix .cache/npm @octokit/graphql-schema@15.26.1 (or make setup)"


@cache
def schema() -> Any:
    """GitHub's schema, built once per process (about 2 s).

    Its SDL repeats two enterprise fields, which GitHub's own server tolerates, so SDL validation is skipped
    (query validation is not).
    """
    from graphql import build_schema

    if not SCHEMA.exists():
        raise FileNotFoundError(f"GitHub's GraphQL schema is missing at {SCHEMA}; run: {INSTALL}")
    built = build_schema(SCHEMA.read_text(encoding="utf-8"), assume_valid_sdl=True)
    # graphql-core's type-system rules also refuse a few deprecations GitHub publishes on interface
    # implementations (Project.id, ...); mark the schema checked so only queries are validated.
    built._validation_errors = []
    return built


@dataclass
class Discussions:
    """The fixture data: discussions per `owner/repo`, categories per `owner/repo`."""

    discussions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    categories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    remaining: int = 5000
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Organizations and users by login: `{"kind": "org"|"user", "projects": [ProjectV2 dicts]}`; a
    project's fields are in `_fields`, its items in `_items`, an item's field values in `_values`."""


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:v2:{offset}".encode()).decode()


def _offset(after: str | None) -> int:
    if not after:
        return 0
    try:
        kind, _, number = base64.b64decode(after).decode().rpartition(":")
        if kind != "cursor:v2":
            raise ValueError(after)
        return int(number) + 1
    except ValueError:
        from graphql import GraphQLError

        raise GraphQLError(f"`{after}` does not appear to be a valid cursor.") from None


def _connection(items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    from graphql import GraphQLError

    first = args.get("first")
    if first is None and args.get("last") is None:
        raise GraphQLError("You must provide a `first` or `last` value to properly paginate the connection.")
    if first is not None and not 0 <= first <= 100:
        raise GraphQLError(
            f"Requesting {first} records on the connection exceeds the `first` limit of 100 records."
        )
    start = _offset(args.get("after"))
    page = items[start : start + (first or 0)]
    end = start + len(page) - 1
    return {
        "nodes": page,
        "edges": [{"node": n, "cursor": _cursor(start + i)} for i, n in enumerate(page)],
        "totalCount": len(items),
        "pageInfo": {
            "hasNextPage": start + len(page) < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(start) if page else None,
            "endCursor": _cursor(end) if page else None,
        },
    }


def execute(query: str, variables: dict[str, Any] | None, data: Discussions) -> dict[str, Any]:
    """Run one GraphQL request the way GitHub answers it (the JSON body of a 200)."""
    from graphql import GraphQLError, graphql_sync

    def repository(_: Any, info: Any, owner: str, name: str, **__: Any) -> dict[str, Any] | None:
        key = f"{owner}/{name}"
        if key not in data.discussions and key not in data.categories:
            raise GraphQLError(f"Could not resolve to a Repository with the name '{key}'.")
        return {"_key": key}

    def discussions(repo: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        items = data.discussions.get(repo["_key"], [])
        if args.get("categoryId"):
            items = [d for d in items if (d.get("category") or {}).get("id") == args["categoryId"]]
        return _connection(items, args)

    def discussion(repo: dict[str, Any], info: Any, number: int) -> dict[str, Any] | None:
        found = [d for d in data.discussions.get(repo["_key"], []) if d.get("number") == number]
        if not found:
            raise GraphQLError(f"Could not resolve to a Discussion with the number of {number}.")
        return found[0]

    def comments(parent: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        return _connection(parent.get("_comments") or parent.get("_replies") or [], args)

    def categories(repo: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        return _connection(data.categories.get(repo["_key"], []), args)

    def owner(kind: str) -> Any:
        label = "Organization" if kind == "org" else "User"

        def resolve(_: Any, info: Any, login: str) -> dict[str, Any] | None:
            found = data.owners.get(login)
            if found is None or found.get("kind") != kind:
                raise GraphQLError(f"Could not resolve to an {label} with the login of '{login}'.")
            return found

        return resolve

    def projects(parent: dict[str, Any], info: Any, **args: Any) -> dict[str, Any]:
        items = parent.get("projects", [])
        if args.get("query"):
            items = [p for p in items if str(args["query"]).lower() in p["title"].lower()]
        return _connection(items, args)

    def project(parent: dict[str, Any], info: Any, number: int) -> dict[str, Any] | None:
        found = [p for p in parent.get("projects", []) if p.get("number") == number]
        if not found:
            raise GraphQLError(f"Could not resolve to a ProjectV2 with the number {number}.")
        return found[0]

    def listed(key: str) -> Any:
        return lambda parent, info, **args: _connection(parent.get(key) or [], args)

    def rate_limit(_: Any, info: Any, **__: Any) -> dict[str, Any]:
        data.remaining -= 1
        return {
            "cost": 1,
            "limit": 5000,
            "remaining": data.remaining,
            "used": 5000 - data.remaining,
            "resetAt": "2030-01-01T00:00:00Z",
            "nodeCount": 0,
        }

    built = schema()
    resolvers = {
        ("Query", "repository"): repository,
        ("Query", "rateLimit"): rate_limit,
        ("Repository", "discussions"): discussions,
        ("Repository", "discussion"): discussion,
        ("Repository", "discussionCategories"): categories,
        ("Discussion", "comments"): comments,
        ("DiscussionComment", "replies"): comments,
        ("Query", "organization"): owner("org"),
        ("Query", "user"): owner("user"),
        ("Organization", "projectsV2"): projects,
        ("User", "projectsV2"): projects,
        ("Organization", "projectV2"): project,
        ("User", "projectV2"): project,
        ("ProjectV2", "fields"): listed("_fields"),
        ("ProjectV2", "items"): listed("_items"),
        ("ProjectV2Item", "fieldValues"): listed("_values"),
    }

    def field_resolver(source: Any, info: Any, **args: Any) -> Any:
        custom = resolvers.get((info.parent_type.name, info.field_name))
        if custom is not None:
            return custom(source, info, **args)
        return (
            source.get(info.field_name)
            if isinstance(source, dict)
            else getattr(source, info.field_name, None)
        )

    def type_resolver(value: Any, info: Any, abstract_type: Any) -> str:
        """Actors (authors) are Users unless the fixture says `__typename` (Bot, Organization...)."""
        return str(value.get("__typename") or "User") if isinstance(value, dict) else "User"

    result = graphql_sync(
        built,
        query,
        variable_values=variables or {},
        field_resolver=field_resolver,
        type_resolver=type_resolver,
    )
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
    if result.data is not None:
        body["data"] = result.data
    return body
