"""Discussions through GitHub's GraphQL API (REST has none), without MCP: queries, paging and trimming.

Each operation sends one query through `Api.graphql` (same host, token, deadline, egress route and rate
limit handling as REST) and asks for `rateLimit { cost remaining }` beside the data. Listings page with
GraphQL's `first`/`after`: the `endCursor` GitHub gives is wrapped in our signed cursor
(`patchbay_common.limits.encode_cursor`) together with the listing it belongs to, so a forged, edited or
borrowed token is refused before anything is sent. Bodies are cut at the content window and go through
the lockdown filter like issue bodies (`Ops.trimmer`); the toolset declares `untrusted=`, so the layer
frames the answer and neutralises forged boundaries and invisible characters.
"""

from __future__ import annotations

from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.limits import decode_cursor, encode_cursor
from patchbay_github.api import Api, check_owner, check_repo
from patchbay_github.ops import Ops
from patchbay_github.trim import Trimmer

__all__ = [
    "get_discussion",
    "get_discussion_comments",
    "get_project",
    "list_discussion_categories",
    "list_discussions",
    "list_project_items",
    "list_projects",
]

_RATE = "rateLimit { cost remaining resetAt }"
_PAGE = "pageInfo { hasNextPage endCursor } totalCount"
_AUTHOR = "author { login } authorAssociation"

LIST = f"""query($owner: String!, $repo: String!, $first: Int!, $after: String, $categoryId: ID,
  $orderBy: DiscussionOrder) {{
  repository(owner: $owner, name: $repo) {{
    discussions(first: $first, after: $after, categoryId: $categoryId, orderBy: $orderBy) {{
      nodes {{ number title url createdAt updatedAt closed isAnswered {_AUTHOR}
               category {{ name }} comments(first: 1) {{ totalCount }} }}
      {_PAGE}
    }}
  }}
  {_RATE}
}}"""

GET = f"""query($owner: String!, $repo: String!, $number: Int!) {{
  repository(owner: $owner, name: $repo) {{
    discussion(number: $number) {{
      number title body url createdAt updatedAt closed closedAt isAnswered {_AUTHOR}
      category {{ name }} comments(first: 1) {{ totalCount }} upvoteCount
    }}
  }}
  {_RATE}
}}"""

COMMENTS = f"""query($owner: String!, $repo: String!, $number: Int!, $first: Int!, $after: String) {{
  repository(owner: $owner, name: $repo) {{
    discussion(number: $number) {{
      comments(first: $first, after: $after) {{
        nodes {{ id body createdAt isAnswer upvoteCount {_AUTHOR} replies(first: 1) {{ totalCount }} }}
        {_PAGE}
      }}
    }}
  }}
  {_RATE}
}}"""

CATEGORIES = f"""query($owner: String!, $repo: String!) {{
  repository(owner: $owner, name: $repo) {{
    discussionCategories(first: 100) {{ nodes {{ id name slug emoji isAnswerable }} totalCount }}
  }}
  {_RATE}
}}"""

ORDER_FIELDS = {"created": "CREATED_AT", "updated": "UPDATED_AT"}


def _after(page_token: str | None, listing: str) -> str | None:
    """GitHub's `after` cursor from our signed page token, checked to belong to this listing."""
    if not page_token:
        return None
    state = decode_cursor(page_token)
    after = state.get("after")
    if state.get("gql") != listing or not isinstance(after, str) or not after or len(after) > 512:
        raise UserError(
            "page_token belongs to another listing.",
            hint="Pass the token from the previous page of this listing, or omit it to start over.",
        )
    return after


def _next(connection: dict[str, Any], listing: str) -> dict[str, Any]:
    info = connection.get("pageInfo") or {}
    end = info.get("endCursor")
    if info.get("hasNextPage") and isinstance(end, str) and end:
        return {"next_page_token": encode_cursor({"gql": listing, "after": end})}
    return {}


def _as_rest(node: dict[str, Any]) -> dict[str, Any]:
    """The author fields in the REST shape the lockdown filter reads."""
    author = node.get("author") or {}
    return {
        "body": node.get("body"),
        "author_association": node.get("authorAssociation"),
        "user": {"login": author.get("login") if isinstance(author, dict) else None},
    }


def _author(node: dict[str, Any]) -> str | None:
    author = node.get("author")
    return author.get("login") if isinstance(author, dict) else None  # None: a deleted account (ghost)


def _repo(data: dict[str, Any], owner: str, repo: str) -> dict[str, Any]:
    found = data.get("repository")
    if not isinstance(found, dict):
        raise UserError(f"GitHub found no repository {owner}/{repo}.", hint="Check owner and repo.")
    return found


def _discussion(d: dict[str, Any], t: Trimmer | None) -> dict[str, Any]:
    out = {
        "number": d.get("number"),
        "title": d.get("title"),
        "author": _author(d),
        "category": (d.get("category") or {}).get("name"),
        "created_at": d.get("createdAt"),
        "updated_at": d.get("updatedAt") if d.get("updatedAt") != d.get("createdAt") else None,
        "closed": d.get("closed") or None,
        "closed_at": d.get("closedAt"),
        "answered": d.get("isAnswered") or None,
        "comments": (d.get("comments") or {}).get("totalCount"),
        "upvotes": d.get("upvoteCount") or None,
        "url": d.get("url"),
        "body": t.body(_as_rest(d)) if t is not None else None,
    }
    return {k: v for k, v in out.items() if v is not None}


async def list_discussions(
    ops: Ops,
    api: Api,
    owner: str,
    repo: str,
    *,
    category_id: str | None,
    order_by: str | None,
    direction: str,
    page_token: str | None,
    per_page: int,
) -> dict[str, Any]:
    """One page of a repository's discussions (no bodies), newest first unless ordered otherwise."""
    check_owner(owner)
    check_repo(repo)
    listing = f"discussions {owner}/{repo} {category_id or ''} {order_by or ''} {direction}".lower()
    variables: dict[str, Any] = {
        "owner": owner,
        "repo": repo,
        "first": per_page,
        "after": _after(page_token, listing),
        "categoryId": category_id,
        "orderBy": {"field": ORDER_FIELDS[order_by], "direction": direction.upper()} if order_by else None,
    }
    data = await api.graphql(LIST, variables, f"discussions of {owner}/{repo}")
    connection = _repo(data, owner, repo).get("discussions") or {}
    items = [_discussion(d, None) for d in connection.get("nodes") or [] if isinstance(d, dict)]
    return {"discussions": items, "total_count": connection.get("totalCount"), **_next(connection, listing)}


async def get_discussion(ops: Ops, api: Api, owner: str, repo: str, number: int) -> dict[str, Any]:
    """One discussion with its body (cut at the content window; lockdown applies)."""
    check_owner(owner)
    check_repo(repo)
    data = await api.graphql(GET, {"owner": owner, "repo": repo, "number": number}, f"discussion #{number}")
    found = _repo(data, owner, repo).get("discussion")
    if not isinstance(found, dict):
        raise UserError(f"GitHub found no discussion #{number} in {owner}/{repo}.", hint="list_discussions.")
    return _discussion(found, await ops.trimmer(api, owner, repo))


async def get_discussion_comments(
    ops: Ops, api: Api, owner: str, repo: str, number: int, *, page_token: str | None, per_page: int
) -> dict[str, Any]:
    """One page of a discussion's top-level comments, with how many replies each has."""
    check_owner(owner)
    check_repo(repo)
    listing = f"discussion comments {owner}/{repo}#{number}".lower()
    variables = {
        "owner": owner,
        "repo": repo,
        "number": number,
        "first": per_page,
        "after": _after(page_token, listing),
    }
    data = await api.graphql(COMMENTS, variables, f"comments of discussion #{number}")
    found = _repo(data, owner, repo).get("discussion")
    if not isinstance(found, dict):
        raise UserError(f"GitHub found no discussion #{number} in {owner}/{repo}.", hint="list_discussions.")
    connection = found.get("comments") or {}
    t = await ops.trimmer(api, owner, repo)
    comments = []
    for c in connection.get("nodes") or []:
        if not isinstance(c, dict):
            continue
        item = {
            "id": c.get("id"),
            "author": _author(c),
            "author_association": c.get("authorAssociation"),
            "created_at": c.get("createdAt"),
            "answer": c.get("isAnswer") or None,
            "upvotes": c.get("upvoteCount") or None,
            "replies": (c.get("replies") or {}).get("totalCount") or None,
            "body": t.body(_as_rest(c)),
        }
        comments.append({k: v for k, v in item.items() if v is not None})
    return {"comments": comments, "total_count": connection.get("totalCount"), **_next(connection, listing)}


async def list_discussion_categories(api: Api, owner: str, repo: str) -> dict[str, Any]:
    """The repository's discussion categories (ID, name, slug, emoji, whether answers can be marked)."""
    check_owner(owner)
    check_repo(repo)
    data = await api.graphql(CATEGORIES, {"owner": owner, "repo": repo}, f"categories of {owner}/{repo}")
    connection = _repo(data, owner, repo).get("discussionCategories") or {}
    items = [
        {
            "id": c.get("id"),
            "name": c.get("name"),
            "slug": c.get("slug"),
            "emoji": c.get("emoji"),
            "answerable": c.get("isAnswerable"),
        }
        for c in connection.get("nodes") or []
        if isinstance(c, dict)
    ]
    return {"categories": items, "total_count": connection.get("totalCount")}


# --- projects (Projects v2) -------------------------------------------------------------------------------

OWNER_FIELDS = {"org": "organization", "user": "user"}
"""The root field for each owner type (fixed text: nothing the model gives is spliced into a query)."""

_FIELD_NAME = "field { ... on ProjectV2FieldCommon { name } }"

PROJECTS = """query($login: String!, $first: Int!, $after: String, $query: String) {
  %(owner)s(login: $login) {
    projectsV2(first: $first, after: $after, query: $query) {
      nodes { number title shortDescription url closed public updatedAt items(first: 1) { totalCount } }
      pageInfo { hasNextPage endCursor } totalCount
    }
  }
  rateLimit { cost remaining resetAt }
}"""

PROJECT = """query($login: String!, $number: Int!) {
  %(owner)s(login: $login) {
    projectV2(number: $number) {
      number title shortDescription readme url closed public createdAt updatedAt
      items(first: 1) { totalCount }
      fields(first: 50) {
        nodes {
          ... on ProjectV2FieldCommon { id name dataType }
          ... on ProjectV2SingleSelectField { options { name } }
        }
        totalCount
      }
    }
  }
  rateLimit { cost remaining resetAt }
}"""

ITEMS = """query($login: String!, $number: Int!, $first: Int!, $after: String) {
  %(owner)s(login: $login) {
    projectV2(number: $number) {
      items(first: $first, after: $after) {
        nodes {
          id type isArchived
          content {
            ... on Issue { number title issueState: state url repository { nameWithOwner } }
            ... on PullRequest { number title pullState: state url repository { nameWithOwner } }
            ... on DraftIssue { title }
          }
          fieldValues(first: 20) {
            nodes {
              ... on ProjectV2ItemFieldTextValue { text %(field)s }
              ... on ProjectV2ItemFieldSingleSelectValue { name %(field)s }
              ... on ProjectV2ItemFieldNumberValue { number %(field)s }
              ... on ProjectV2ItemFieldDateValue { date %(field)s }
            }
          }
        }
        pageInfo { hasNextPage endCursor } totalCount
      }
    }
  }
  rateLimit { cost remaining resetAt }
}"""


def _owner(data: dict[str, Any], owner_type: str, login: str) -> dict[str, Any]:
    found = data.get(OWNER_FIELDS[owner_type])
    if not isinstance(found, dict):
        kind = "organization" if owner_type == "org" else "user"
        raise UserError(f"GitHub found no {kind} {login}.", hint="Check owner and owner_type (org or user).")
    return found


def _project(data: dict[str, Any], owner_type: str, login: str, number: int) -> dict[str, Any]:
    found = _owner(data, owner_type, login).get("projectV2")
    if not isinstance(found, dict):
        raise UserError(f"GitHub found no project #{number} of {login}.", hint="list_projects lists them.")
    return found


def _project_summary(p: dict[str, Any]) -> dict[str, Any]:
    out = {
        "number": p.get("number"),
        "title": p.get("title"),
        "description": p.get("shortDescription") or None,
        "closed": p.get("closed") or None,
        "public": p.get("public"),
        "items": (p.get("items") or {}).get("totalCount"),
        "updated_at": p.get("updatedAt"),
        "url": p.get("url"),
    }
    return {k: v for k, v in out.items() if v is not None}


async def list_projects(
    api: Api, owner: str, owner_type: str, *, query: str | None, page_token: str | None, per_page: int
) -> dict[str, Any]:
    """One page of an organization's or user's projects (Projects v2)."""
    check_owner(owner)
    listing = f"projects {owner_type} {owner} {query or ''}".lower()
    variables = {"login": owner, "first": per_page, "after": _after(page_token, listing), "query": query}
    text = PROJECTS % {"owner": OWNER_FIELDS[owner_type]}
    data = await api.graphql(text, variables, f"projects of {owner}")
    connection = _owner(data, owner_type, owner).get("projectsV2") or {}
    items = [_project_summary(p) for p in connection.get("nodes") or [] if isinstance(p, dict)]
    return {"projects": items, "total_count": connection.get("totalCount"), **_next(connection, listing)}


async def get_project(ops: Ops, api: Api, owner: str, owner_type: str, number: int) -> dict[str, Any]:
    """One project with its readme (cut at the content window) and its fields with their options."""
    check_owner(owner)
    text = PROJECT % {"owner": OWNER_FIELDS[owner_type]}
    data = await api.graphql(text, {"login": owner, "number": number}, f"project #{number} of {owner}")
    p = _project(data, owner_type, owner, number)
    fields = []
    for f in (p.get("fields") or {}).get("nodes") or []:
        if isinstance(f, dict) and f.get("name"):
            options = [o.get("name") for o in f.get("options") or [] if isinstance(o, dict)]
            item = {"id": f.get("id"), "name": f.get("name"), "type": f.get("dataType"), "options": options}
            fields.append({k: v for k, v in item.items() if v})
    out = _project_summary(p)
    out.update(
        created_at=p.get("createdAt"),
        readme=Trimmer(ops.window).body({"body": p.get("readme")}) or None,
        fields=fields,
    )
    return {k: v for k, v in out.items() if v is not None}


async def list_project_items(
    api: Api, owner: str, owner_type: str, number: int, *, page_token: str | None, per_page: int
) -> dict[str, Any]:
    """One page of a project's items: the issue, pull request or draft, and its field values."""
    check_owner(owner)
    listing = f"project items {owner_type} {owner} {number}".lower()
    variables = {"login": owner, "number": number, "first": per_page, "after": _after(page_token, listing)}
    text = ITEMS % {"owner": OWNER_FIELDS[owner_type], "field": _FIELD_NAME}
    data = await api.graphql(text, variables, f"items of project #{number} of {owner}")
    connection = _project(data, owner_type, owner, number).get("items") or {}
    items = []
    for node in connection.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        raw = node.get("content")
        content: dict[str, Any] = raw if isinstance(raw, dict) else {}
        values: dict[str, Any] = {}
        for v in (node.get("fieldValues") or {}).get("nodes") or []:
            if not isinstance(v, dict) or not isinstance(v.get("field"), dict):
                continue
            value = next((v[k] for k in ("text", "name", "number", "date") if v.get(k) is not None), None)
            if v["field"].get("name") and value is not None:
                values[str(v["field"]["name"])] = value
        item = {
            "id": node.get("id"),
            "type": node.get("type"),
            "archived": node.get("isArchived") or None,
            "repository": (content.get("repository") or {}).get("nameWithOwner"),
            "number": content.get("number"),
            "title": content.get("title"),
            "state": content.get("issueState") or content.get("pullState"),
            "url": content.get("url"),
            "fields": values or None,
        }
        items.append({k: v for k, v in item.items() if v is not None})
    return {"items": items, "total_count": connection.get("totalCount"), **_next(connection, listing)}
