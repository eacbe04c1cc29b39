"""GitHub API objects trimmed to the fields a model uses.

No `*_url` noise, logins instead of user objects, label names
instead of label objects, long bodies cut at a content window with a marker.

Each function takes the raw JSON of one object and returns a small dict; `None` values are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Trimmer"]

Body = Callable[[dict[str, Any], str], Any]


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


def _obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (a field left out, null, or of another shape)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _objs(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


def _short(text: Any, limit: int) -> Any:
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return f"{text[:limit]}\n[cut at {limit} of {len(text)} characters]"


class Trimmer:
    """Trims objects; bodies longer than `window` characters are cut, and `body_filter` may hide them."""

    def __init__(self, window: int, body_filter: Callable[[dict[str, Any], Any], Any] | None = None) -> None:
        self.window = window
        self.body_filter = body_filter

    def body(self, obj: dict[str, Any], limit: int | None = None) -> Any:
        """The object's body, cut at the window, or the lockdown placeholder."""
        text = obj.get("body")
        if self.body_filter is not None:
            text = self.body_filter(obj, text)
        return _short(text, limit or self.window)

    def user(self, u: dict[str, Any]) -> dict[str, Any]:
        """One user object with only the fields a model uses."""
        return _clean(
            {
                "login": u.get("login"),
                "name": u.get("name"),
                "type": u.get("type"),
                "company": u.get("company"),
                "location": u.get("location"),
                "bio": _short(u.get("bio"), 300),
                "public_repos": u.get("public_repos"),
                "followers": u.get("followers"),
                "created_at": u.get("created_at"),
                "url": u.get("html_url"),
            }
        )

    def repo(self, r: dict[str, Any]) -> dict[str, Any]:
        """One repo object with only the fields a model uses."""
        return _clean(
            {
                "full_name": r.get("full_name"),
                "description": _short(r.get("description"), 300),
                "private": r.get("private"),
                "fork": r.get("fork") or None,
                "archived": r.get("archived") or None,
                "default_branch": r.get("default_branch"),
                "language": r.get("language"),
                "topics": r.get("topics"),
                "stars": r.get("stargazers_count"),
                "forks": r.get("forks_count"),
                "open_issues": r.get("open_issues_count"),
                "pushed_at": r.get("pushed_at"),
                "url": r.get("html_url"),
            }
        )

    def issue(
        self, i: dict[str, Any], *, with_body: bool = True, body_limit: int | None = None
    ) -> dict[str, Any]:
        """One issue object with only the fields a model uses."""
        return _clean(
            {
                "number": i.get("number"),
                "title": i.get("title"),
                "state": i.get("state"),
                "state_reason": i.get("state_reason"),
                "is_pull_request": True if i.get("pull_request") else None,
                "author": _login(i.get("user")),
                "author_association": i.get("author_association"),
                "labels": [lb.get("name") if isinstance(lb, dict) else lb for lb in _list(i.get("labels"))],
                "assignees": [_login(a) for a in _list(i.get("assignees"))],
                "milestone": _obj(i.get("milestone")).get("title"),
                "comments": i.get("comments"),
                "created_at": i.get("created_at"),
                "updated_at": i.get("updated_at"),
                "closed_at": i.get("closed_at"),
                "url": i.get("html_url"),
                "body": self.body(i, body_limit) if with_body else None,
            }
        )

    def comment(self, c: dict[str, Any]) -> dict[str, Any]:
        """One comment object with only the fields a model uses."""
        return _clean(
            {
                "id": c.get("id"),
                "author": _login(c.get("user")),
                "author_association": c.get("author_association"),
                "created_at": c.get("created_at"),
                "updated_at": c.get("updated_at") if c.get("updated_at") != c.get("created_at") else None,
                "path": c.get("path"),
                "line": c.get("line") or c.get("original_line"),
                "in_reply_to_id": c.get("in_reply_to_id"),
                "body": self.body(c),
            }
        )

    def pull(self, p: dict[str, Any], *, with_body: bool = True) -> dict[str, Any]:
        """One pull object with only the fields a model uses."""
        head, base = _obj(p.get("head")), _obj(p.get("base"))
        return _clean(
            {
                "number": p.get("number"),
                "title": p.get("title"),
                "state": p.get("state"),
                "draft": p.get("draft") or None,
                "merged": p.get("merged"),
                "mergeable": p.get("mergeable"),
                "mergeable_state": p.get("mergeable_state"),
                "author": _login(p.get("user")),
                "author_association": p.get("author_association"),
                "head": head.get("label") or head.get("ref"),
                "head_sha": head.get("sha"),
                "base": base.get("ref"),
                "labels": [lb.get("name") for lb in _objs(p.get("labels"))],
                "requested_reviewers": [_login(r) for r in _list(p.get("requested_reviewers"))],
                "commits": p.get("commits"),
                "additions": p.get("additions"),
                "deletions": p.get("deletions"),
                "changed_files": p.get("changed_files"),
                "comments": p.get("comments"),
                "review_comments": p.get("review_comments"),
                "created_at": p.get("created_at"),
                "updated_at": p.get("updated_at"),
                "merged_at": p.get("merged_at"),
                "closed_at": p.get("closed_at"),
                "url": p.get("html_url"),
                "body": self.body(p) if with_body else None,
            }
        )

    def file_change(self, f: dict[str, Any], patch_limit: int) -> dict[str, Any]:
        """One file change object with only the fields a model uses."""
        return _clean(
            {
                "filename": f.get("filename"),
                "status": f.get("status"),
                "previous_filename": f.get("previous_filename"),
                "additions": f.get("additions"),
                "deletions": f.get("deletions"),
                "patch": _short(f.get("patch"), patch_limit) if patch_limit else None,
            }
        )

    def review(self, r: dict[str, Any]) -> dict[str, Any]:
        """One review object with only the fields a model uses."""
        return _clean(
            {
                "id": r.get("id"),
                "author": _login(r.get("user")),
                "state": r.get("state"),
                "commit_id": r.get("commit_id"),
                "submitted_at": r.get("submitted_at"),
                "body": self.body(r) or None,
            }
        )

    def commit(self, c: dict[str, Any], *, files: bool = False) -> dict[str, Any]:
        """One commit object with only the fields a model uses."""
        inner = _obj(c.get("commit"))
        author = _obj(inner.get("author"))
        out = {
            "sha": c.get("sha"),
            "message": _short(inner.get("message"), self.window),
            "author": _login(c.get("author")) or author.get("name"),
            "date": author.get("date"),
            "parents": [p.get("sha") for p in _objs(c.get("parents"))] if files else None,
            "stats": c.get("stats") if files else None,
            "files": [self.file_change(f, 2000) for f in _objs(c.get("files"))] if files else None,
        }
        return _clean(out)

    def branch(self, b: dict[str, Any]) -> dict[str, Any]:
        """One branch object with only the fields a model uses."""
        return _clean(
            {
                "name": b.get("name"),
                "sha": _obj(b.get("commit")).get("sha"),
                "protected": b.get("protected"),
            }
        )

    def run(self, r: dict[str, Any]) -> dict[str, Any]:
        """One run object with only the fields a model uses."""
        return _clean(
            {
                "id": r.get("id"),
                "name": r.get("name"),
                "title": r.get("display_title"),
                "event": r.get("event"),
                "status": r.get("status"),
                "conclusion": r.get("conclusion"),
                "branch": r.get("head_branch"),
                "head_sha": r.get("head_sha"),
                "run_number": r.get("run_number"),
                "attempt": r.get("run_attempt"),
                "actor": _login(r.get("actor")),
                "created_at": r.get("created_at"),
                "updated_at": r.get("updated_at"),
                "url": r.get("html_url"),
            }
        )

    def job(self, j: dict[str, Any]) -> dict[str, Any]:
        """One job object with only the fields a model uses."""
        steps = _objs(j.get("steps"))
        return _clean(
            {
                "id": j.get("id"),
                "name": j.get("name"),
                "status": j.get("status"),
                "conclusion": j.get("conclusion"),
                "started_at": j.get("started_at"),
                "completed_at": j.get("completed_at"),
                "failed_steps": [
                    s.get("name") for s in steps if s.get("conclusion") not in ("success", "skipped", None)
                ],
                "steps": len(steps),
                "url": j.get("html_url"),
            }
        )

    def release(self, r: dict[str, Any], *, with_body: bool = True) -> dict[str, Any]:
        """One release object with only the fields a model uses."""
        return _clean(
            {
                "tag": r.get("tag_name"),
                "name": r.get("name"),
                "draft": r.get("draft") or None,
                "prerelease": r.get("prerelease") or None,
                "author": _login(r.get("author")),
                "published_at": r.get("published_at"),
                "assets": [
                    {"name": a.get("name"), "size": a.get("size"), "downloads": a.get("download_count")}
                    for a in _objs(r.get("assets"))
                ],
                "url": r.get("html_url"),
                "body": _short(r.get("body"), self.window) if with_body else None,
            }
        )

    def notification(self, n: dict[str, Any]) -> dict[str, Any]:
        """One notification object with only the fields a model uses."""
        subject = _obj(n.get("subject"))
        return _clean(
            {
                "id": n.get("id"),
                "repository": _obj(n.get("repository")).get("full_name"),
                "type": subject.get("type"),
                "title": subject.get("title"),
                "reason": n.get("reason"),
                "unread": n.get("unread"),
                "updated_at": n.get("updated_at"),
            }
        )

    def code_alert(self, a: dict[str, Any]) -> dict[str, Any]:
        """One code alert object with only the fields a model uses."""
        rule = _obj(a.get("rule"))
        location = _obj(_obj(a.get("most_recent_instance")).get("location"))
        return _clean(
            {
                "number": a.get("number"),
                "state": a.get("state"),
                "rule": rule.get("id"),
                "severity": rule.get("security_severity_level") or rule.get("severity"),
                "description": rule.get("description"),
                "tool": _obj(a.get("tool")).get("name"),
                "path": location.get("path"),
                "line": location.get("start_line"),
                "created_at": a.get("created_at"),
                "url": a.get("html_url"),
            }
        )

    def dependabot_alert(self, a: dict[str, Any]) -> dict[str, Any]:
        """One dependabot alert object with only the fields a model uses."""
        dep = _obj(a.get("dependency"))
        adv = _obj(a.get("security_advisory"))
        vuln = _obj(a.get("security_vulnerability"))
        return _clean(
            {
                "number": a.get("number"),
                "state": a.get("state"),
                "package": _obj(dep.get("package")).get("name"),
                "ecosystem": _obj(dep.get("package")).get("ecosystem"),
                "manifest": dep.get("manifest_path"),
                "severity": adv.get("severity"),
                "advisory": adv.get("ghsa_id"),
                "summary": adv.get("summary"),
                "vulnerable": vuln.get("vulnerable_version_range"),
                "patched": _obj(vuln.get("first_patched_version")).get("identifier"),
                "created_at": a.get("created_at"),
                "url": a.get("html_url"),
            }
        )

    def code_hit(self, h: dict[str, Any]) -> dict[str, Any]:
        """One code hit object with only the fields a model uses."""
        return _clean(
            {
                "repository": _obj(h.get("repository")).get("full_name"),
                "path": h.get("path"),
                "sha": h.get("sha"),
            }
        )

    def user_hit(self, u: dict[str, Any]) -> dict[str, Any]:
        """One user hit object with only the fields a model uses."""
        return _clean({"login": u.get("login"), "type": u.get("type"), "url": u.get("html_url")})
