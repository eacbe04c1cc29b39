"""What each tool does against the GitHub REST API: the exact calls, and the trimmed answer as a dict.

Every function takes the `Api` of the account chosen for the call. Nothing here knows about MCP, so each
operation is tested against the API stand-in on its own.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.errors import NotFound, UserError
from patchbay_common.limits import cap_text
from patchbay_common.notify import Progress
from patchbay_github.api import Api, Page, check_owner, check_repo, enc_path, enc_ref
from patchbay_github.trim import Trimmer

__all__ = ["Ops"]

PUSH_ACCESS = ("OWNER", "MEMBER", "COLLABORATOR")

LOG_TAIL_BYTES = 2_000_000
"""Bytes kept from the end of a job log while it streams in (enough for 5000 long lines)."""


def _repo_path(owner: str, repo: str) -> str:
    return f"/repos/{check_owner(owner)}/{check_repo(repo)}"


def _obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (a field GitHub left out or sent otherwise)."""
    return value if isinstance(value, dict) else {}


def _objs(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (nothing when `value` is not a list)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _need(data: dict[str, Any], *names: str) -> str:
    """A text field the next request depends on (`names` walk nested objects), or a clear UserError."""
    value: Any = data
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise UserError(
            f"GitHub's answer has no {'.'.join(names)}, which the next step needs; nothing more was sent.",
            hint="Check that --api-url points at the GitHub REST API; if it does, try again later.",
        )
    return value


def _listing(page: Page, key: str, items: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: items}
    if page.total is not None:
        out["total_count"] = page.total
    if page.next_token:
        out["next_page_token"] = page.next_token
    return out


@dataclass
class Ops:
    """The operations, with the server's content window and lockdown setting."""

    window: int = 5000
    lockdown: bool = False
    _public: dict[str, tuple[bool, float]] = field(default_factory=dict)

    # --- lockdown ------------------------------------------------------------------------------------------

    async def trimmer(self, api: Api, owner: str | None = None, repo: str | None = None) -> Trimmer:
        """A Trimmer; in lockdown mode on a public repository hides outsiders' bodies."""
        if not self.lockdown or owner is None or repo is None:
            return Trimmer(self.window)
        if not await self._is_public(api, owner, repo):
            return Trimmer(self.window)

        def hide(obj: dict[str, Any], text: Any) -> Any:
            if obj.get("author_association") in PUSH_ACCESS or not text:
                return text
            who = (obj.get("user") or {}).get("login", "unknown")
            return f"[hidden by lockdown mode: {who} has no push access to this public repository]"

        return Trimmer(self.window, hide)

    async def _is_public(self, api: Api, owner: str, repo: str) -> bool:
        key = f"{owner}/{repo}".lower()
        cached = self._public.get(key)
        if cached and time.monotonic() - cached[1] < 300:
            return cached[0]
        data = await api.get(_repo_path(owner, repo))
        public = not data.get("private", False)
        self._public[key] = (public, time.monotonic())
        return public

    # --- context -------------------------------------------------------------------------------------------

    async def get_me(self, api: Api) -> dict[str, Any]:
        """Read me through the REST API; return the trimmed answer."""
        data = await api.get("/user")
        return {"account": api.account, **Trimmer(self.window).user(data)}

    async def get_rate_limit(self, api: Api) -> dict[str, Any]:
        """Read rate limit through the REST API; return the trimmed answer."""
        data = await api.get("/rate_limit")
        resources = data.get("resources") or {}
        out = {}
        for name in ("core", "search", "graphql", "code_search"):
            if name in resources:
                r = resources[name]
                reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.get("reset", 0)))
                out[name] = {"limit": r.get("limit"), "remaining": r.get("remaining"), "reset": reset}
        return {"account": api.account, **out}

    # --- repositories --------------------------------------------------------------------------------------

    async def get_repository(self, api: Api, owner: str, repo: str) -> dict[str, Any]:
        """Read repository through the REST API; return the trimmed answer."""
        return Trimmer(self.window).repo(await api.get(_repo_path(owner, repo)))

    async def get_file_contents(
        self, api: Api, owner: str, repo: str, path: str, ref: str | None, offset: int, max_chars: int
    ) -> dict[str, Any]:
        """Read file contents through the REST API; return the trimmed answer."""
        url = f"{_repo_path(owner, repo)}/contents/{enc_path(path)}"
        params = {"ref": ref} if ref else {}
        data = await api.get_json(url.rstrip("/"), **params)
        if isinstance(data, list):
            entries = [
                {
                    "name": e.get("name"),
                    "type": e.get("type"),
                    "size": e.get("size") if e.get("type") == "file" else None,
                }
                for e in data
            ]
            return {
                "path": path or "/",
                "type": "dir",
                "entries": [{k: v for k, v in e.items() if v is not None} for e in entries],
            }
        if data.get("type") != "file":
            return {"path": data.get("path"), "type": data.get("type"), "target": data.get("target")}
        raw = data.get("content")
        if raw is None or data.get("encoding") == "none":
            raise UserError(
                f"{path} is too large for the contents API ({data.get('size')} bytes).",
                hint="Read a smaller file, or fetch the file from its download URL with another tool.",
            )
        try:
            blob = base64.b64decode(raw, validate=False)
        except ValueError:
            raise UserError(f"GitHub sent {path} in a form that could not be decoded.") from None
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            return {
                "path": data.get("path"),
                "type": "file",
                "sha": data.get("sha"),
                "size": data.get("size"),
                "binary": True,
                "note": "binary file; content not shown",
            }
        window = cap_text(text, max_chars, offset)
        out = {
            "path": data.get("path"),
            "type": "file",
            "sha": data.get("sha"),
            "size": data.get("size"),
            "content": window.text,
        }
        if window.truncated:
            out["truncated"] = f"characters {window.start}-{window.end} of {window.total_chars}"
            out["next_offset"] = window.end
        return out

    async def search_repositories(
        self, api: Api, query: str, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """Search repositories through the REST API; return the trimmed answer."""
        page = await api.page("/search/repositories", page_token, per_page, q=query)
        t = Trimmer(self.window)
        return _listing(page, "repositories", [t.repo(r) for r in page.items])

    async def search_code(
        self, api: Api, query: str, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """Search code through the REST API; return the trimmed answer."""
        page = await api.page("/search/code", page_token, per_page, q=query)
        t = Trimmer(self.window)
        return _listing(page, "results", [t.code_hit(h) for h in page.items])

    async def list_branches(
        self, api: Api, owner: str, repo: str, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """List branches through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/branches", page_token, per_page)
        t = Trimmer(self.window)
        return _listing(page, "branches", [t.branch(b) for b in page.items])

    async def list_commits(
        self,
        api: Api,
        owner: str,
        repo: str,
        sha: str | None,
        path: str | None,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List commits through the REST API; return the trimmed answer."""
        params = {"sha": sha, "path": path}
        page = await api.page(f"{_repo_path(owner, repo)}/commits", page_token, per_page, **params)
        t = Trimmer(500)
        return _listing(page, "commits", [t.commit(c) for c in page.items])

    async def get_commit(self, api: Api, owner: str, repo: str, sha: str) -> dict[str, Any]:
        """Read commit through the REST API; return the trimmed answer."""
        data = await api.get(f"{_repo_path(owner, repo)}/commits/{enc_ref(sha)}")
        return Trimmer(self.window).commit(data, files=True)

    async def create_or_update_file(
        self,
        api: Api,
        owner: str,
        repo: str,
        path: str,
        content: str,
        message: str,
        branch: str,
        sha: str | None,
    ) -> dict[str, Any]:
        """Create or update file through the REST API; return the trimmed answer."""
        url = f"{_repo_path(owner, repo)}/contents/{enc_path(path)}"
        enc_ref(branch)
        if sha is None:
            try:
                existing = await api.get_json(url, ref=branch)
                sha = existing.get("sha") if isinstance(existing, dict) else None
            except NotFound:
                sha = None
        body = {"message": message, "content": base64.b64encode(content.encode()).decode(), "branch": branch}
        if sha:
            body["sha"] = sha
        data = await api.write("PUT", url, body)
        commit = _obj(data.get("commit"))
        return {
            "path": _obj(data.get("content")).get("path", path),
            "created": sha is None,
            "file_sha": _obj(data.get("content")).get("sha"),
            "commit": commit.get("sha"),
            "branch": branch,
        }

    async def push_files(
        self, api: Api, owner: str, repo: str, branch: str, files: list[dict[str, str]], message: str
    ) -> dict[str, Any]:
        """Push files through the REST API; return the trimmed answer."""
        base = _repo_path(owner, repo)
        ref = f"heads/{enc_ref(branch)}"
        tree = [
            {
                "path": enc_path(f["path"]) and f["path"].strip("/"),
                "mode": "100644",
                "type": "blob",
                "content": f["content"],
            }
            for f in files
        ]
        head = _need(await api.get(f"{base}/git/ref/{ref}"), "object", "sha")
        parent = await api.get(f"{base}/git/commits/{head}")
        new_tree = await api.write(
            "POST", f"{base}/git/trees", {"base_tree": _need(parent, "tree", "sha"), "tree": tree}
        )
        commit = await api.write(
            "POST",
            f"{base}/git/commits",
            body={"message": message, "tree": _need(new_tree, "sha"), "parents": [head]},
        )
        commit_sha = _need(commit, "sha")
        await api.write("PATCH", f"{base}/git/refs/{ref}", {"sha": commit_sha, "force": False})
        return {"branch": branch, "commit": commit_sha, "parent": head, "files": [f["path"] for f in tree]}

    async def create_repository(
        self,
        api: Api,
        name: str,
        description: str | None,
        private: bool,
        auto_init: bool,
        organization: str | None,
    ) -> dict[str, Any]:
        """Create repository through the REST API; return the trimmed answer."""
        check_repo(name)
        url = f"/orgs/{check_owner(organization)}/repos" if organization else "/user/repos"
        body = {"name": name, "description": description, "private": private, "auto_init": auto_init}
        data = await api.write("POST", url, {k: v for k, v in body.items() if v is not None})
        return Trimmer(self.window).repo(data)

    async def fork_repository(
        self, api: Api, owner: str, repo: str, organization: str | None
    ) -> dict[str, Any]:
        """Fork repository through the REST API; return the trimmed answer."""
        body = {"organization": check_owner(organization)} if organization else {}
        data = await api.write("POST", f"{_repo_path(owner, repo)}/forks", body)
        return Trimmer(self.window).repo(data)

    async def create_branch(
        self, api: Api, owner: str, repo: str, branch: str, from_branch: str | None
    ) -> dict[str, Any]:
        """Create branch through the REST API; return the trimmed answer."""
        base = _repo_path(owner, repo)
        enc_ref(branch)
        if from_branch is None:
            from_branch = _need(await api.get(base), "default_branch")
        sha = _need(await api.get(f"{base}/git/ref/heads/{enc_ref(from_branch)}"), "object", "sha")
        data = await api.write("POST", f"{base}/git/refs", {"ref": f"refs/heads/{branch}", "sha": sha})
        return {"branch": branch, "from": from_branch, "sha": _obj(data.get("object")).get("sha", sha)}

    # --- issues --------------------------------------------------------------------------------------------

    async def get_issue(self, api: Api, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Read issue through the REST API; return the trimmed answer."""
        data = await api.get(f"{_repo_path(owner, repo)}/issues/{number}")
        return (await self.trimmer(api, owner, repo)).issue(data)

    async def list_issues(
        self,
        api: Api,
        owner: str,
        repo: str,
        state: str,
        labels: list[str] | None,
        sort: str,
        direction: str,
        since: str | None,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List issues through the REST API; return the trimmed answer."""
        params = {
            "state": state,
            "labels": labels or None,
            "sort": sort,
            "direction": direction,
            "since": since,
        }
        page = await api.page(f"{_repo_path(owner, repo)}/issues", page_token, per_page, **params)
        t = await self.trimmer(api, owner, repo)
        return _listing(page, "issues", [t.issue(i, body_limit=300) for i in page.items])

    async def list_issue_comments(
        self, api: Api, owner: str, repo: str, number: int, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """List issue comments through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/issues/{number}/comments", page_token, per_page)
        t = await self.trimmer(api, owner, repo)
        return _listing(page, "comments", [t.comment(c) for c in page.items])

    async def search_issues(
        self, api: Api, query: str, sort: str | None, order: str, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """Search issues through the REST API; return the trimmed answer."""
        page = await api.page("/search/issues", page_token, per_page, q=query, sort=sort, order=order)
        t = Trimmer(300)
        items = []
        for item in page.items:
            row = t.issue(item, with_body=False)
            repo_url = str(item.get("repository_url") or "")
            row = {"repository": "/".join(repo_url.rsplit("/", 2)[-2:]) if repo_url else None, **row}
            items.append({k: v for k, v in row.items() if v is not None})
        return _listing(page, "issues", items)

    async def create_issue(
        self,
        api: Api,
        owner: str,
        repo: str,
        title: str,
        body: str | None,
        assignees: list[str] | None,
        labels: list[str] | None,
        milestone: int | None,
    ) -> dict[str, Any]:
        """Create issue through the REST API; return the trimmed answer."""
        payload = {
            "title": title,
            "body": body,
            "assignees": assignees,
            "labels": labels,
            "milestone": milestone,
        }
        data = await api.write(
            "POST",
            f"{_repo_path(owner, repo)}/issues",
            body={k: v for k, v in payload.items() if v is not None},
        )
        return Trimmer(self.window).issue(data, with_body=False)

    async def update_issue(
        self, api: Api, owner: str, repo: str, number: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Update issue through the REST API; return the trimmed answer."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            raise UserError(
                "Nothing to change.", hint="Pass at least one of title, body, state, labels, assignees."
            )
        data = await api.write("PATCH", f"{_repo_path(owner, repo)}/issues/{number}", changes)
        return Trimmer(self.window).issue(data, with_body=False)

    async def add_issue_comment(
        self, api: Api, owner: str, repo: str, number: int, body: str
    ) -> dict[str, Any]:
        """Add issue comment through the REST API; return the trimmed answer."""
        data = await api.write("POST", f"{_repo_path(owner, repo)}/issues/{number}/comments", {"body": body})
        return {"id": data.get("id"), "url": data.get("html_url"), "created_at": data.get("created_at")}

    # --- pull requests -------------------------------------------------------------------------------------

    async def get_pull_request(self, api: Api, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Read pull request through the REST API; return the trimmed answer."""
        data = await api.get(f"{_repo_path(owner, repo)}/pulls/{number}")
        return (await self.trimmer(api, owner, repo)).pull(data)

    async def list_pull_requests(
        self,
        api: Api,
        owner: str,
        repo: str,
        state: str,
        head: str | None,
        base: str | None,
        sort: str,
        direction: str,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List pull requests through the REST API; return the trimmed answer."""
        params = {"state": state, "head": head, "base": base, "sort": sort, "direction": direction}
        page = await api.page(f"{_repo_path(owner, repo)}/pulls", page_token, per_page, **params)
        t = Trimmer(self.window)
        return _listing(page, "pull_requests", [t.pull(p, with_body=False) for p in page.items])

    async def get_pull_request_files(
        self,
        api: Api,
        owner: str,
        repo: str,
        number: int,
        with_patch: bool,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """Read pull request files through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/pulls/{number}/files", page_token, per_page)
        t = Trimmer(self.window)
        limit = self.window if with_patch else 0
        return _listing(page, "files", [t.file_change(f, limit) for f in page.items])

    async def get_pull_request_status(self, api: Api, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Read pull request status through the REST API; return the trimmed answer."""
        base = _repo_path(owner, repo)
        sha = enc_ref(_need(await api.get(f"{base}/pulls/{number}"), "head", "sha"))
        combined = await api.get(f"{base}/commits/{sha}/status")
        checks = await api.get(f"{base}/commits/{sha}/check-runs", per_page=100)
        return {
            "head_sha": sha,
            "state": combined.get("state"),
            "statuses": [
                {"context": s.get("context"), "state": s.get("state"), "description": s.get("description")}
                for s in _objs(combined.get("statuses"))
            ],
            "check_runs": [
                {
                    k: v
                    for k, v in {
                        "name": c.get("name"),
                        "status": c.get("status"),
                        "conclusion": c.get("conclusion"),
                    }.items()
                    if v
                }
                for c in _objs(checks.get("check_runs"))
            ],
        }

    async def get_pull_request_comments(
        self, api: Api, owner: str, repo: str, number: int, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """Read pull request comments through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/pulls/{number}/comments", page_token, per_page)
        t = await self.trimmer(api, owner, repo)
        return _listing(page, "comments", [t.comment(c) for c in page.items])

    async def get_pull_request_reviews(
        self, api: Api, owner: str, repo: str, number: int, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """Read pull request reviews through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/pulls/{number}/reviews", page_token, per_page)
        t = await self.trimmer(api, owner, repo)
        return _listing(page, "reviews", [t.review(r) for r in page.items])

    async def create_pull_request(
        self, api: Api, owner: str, repo: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Create pull request through the REST API; return the trimmed answer."""
        data = await api.write(
            "POST",
            f"{_repo_path(owner, repo)}/pulls",
            body={k: v for k, v in payload.items() if v is not None},
        )
        return Trimmer(self.window).pull(data, with_body=False)

    async def create_pull_request_review(
        self, api: Api, owner: str, repo: str, number: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Create pull request review through the REST API; return the trimmed answer."""
        data = await api.write(
            "POST",
            f"{_repo_path(owner, repo)}/pulls/{number}/reviews",
            body={k: v for k, v in payload.items() if v is not None},
        )
        return Trimmer(self.window).review(data)

    async def merge_pull_request(
        self, api: Api, owner: str, repo: str, number: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge pull request through the REST API; return the trimmed answer."""
        data = await api.write(
            "PUT",
            f"{_repo_path(owner, repo)}/pulls/{number}/merge",
            body={k: v for k, v in payload.items() if v is not None},
        )
        return {"merged": data.get("merged"), "sha": data.get("sha"), "message": data.get("message")}

    async def update_pull_request_branch(
        self, api: Api, owner: str, repo: str, number: int, expected_head_sha: str | None
    ) -> dict[str, Any]:
        """Update pull request branch through the REST API; return the trimmed answer."""
        body = {"expected_head_sha": expected_head_sha} if expected_head_sha else {}
        data = await api.write("PUT", f"{_repo_path(owner, repo)}/pulls/{number}/update-branch", body)
        return {"message": data.get("message")}

    # --- users ---------------------------------------------------------------------------------------------

    async def search_users(
        self, api: Api, query: str, sort: str | None, order: str, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """Search users through the REST API; return the trimmed answer."""
        page = await api.page("/search/users", page_token, per_page, q=query, sort=sort, order=order)
        t = Trimmer(self.window)
        return _listing(page, "users", [t.user_hit(u) for u in page.items])

    async def get_user(self, api: Api, username: str) -> dict[str, Any]:
        """Read user through the REST API; return the trimmed answer."""
        return Trimmer(self.window).user(await api.get(f"/users/{check_owner(username)}"))

    # --- actions -------------------------------------------------------------------------------------------

    async def list_workflow_runs(
        self,
        api: Api,
        owner: str,
        repo: str,
        workflow: str | None,
        branch: str | None,
        status: str | None,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List workflow runs through the REST API; return the trimmed answer."""
        base = _repo_path(owner, repo)
        url = f"{base}/actions/workflows/{enc_ref(workflow)}/runs" if workflow else f"{base}/actions/runs"
        page = await api.page(url, page_token, per_page, branch=branch, status=status)
        t = Trimmer(self.window)
        return _listing(page, "runs", [t.run(r) for r in page.items])

    async def get_workflow_run(self, api: Api, owner: str, repo: str, run_id: int) -> dict[str, Any]:
        """Read workflow run through the REST API; return the trimmed answer."""
        return Trimmer(self.window).run(await api.get(f"{_repo_path(owner, repo)}/actions/runs/{run_id}"))

    async def list_workflow_jobs(
        self, api: Api, owner: str, repo: str, run_id: int, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """List workflow jobs through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/actions/runs/{run_id}/jobs", page_token, per_page)
        t = Trimmer(self.window)
        return _listing(page, "jobs", [t.job(j) for j in page.items])

    async def get_job_logs(
        self,
        api: Api,
        owner: str,
        repo: str,
        job_id: int | None,
        run_id: int | None,
        failed_only: bool,
        tail_lines: int,
    ) -> dict[str, Any]:
        """Read job logs through the REST API; return the trimmed answer."""
        base = _repo_path(owner, repo)
        if (job_id is None) == (run_id is None):
            raise UserError(
                "Pass exactly one of job_id or run_id.", hint="job_id for one job, run_id for a run's jobs."
            )
        if job_id is not None:
            jobs: list[dict[str, Any]] = [{"id": job_id, "name": None, "conclusion": None}]
        else:
            listing = await api.get(f"{base}/actions/runs/{run_id}/jobs", per_page=100)
            jobs = _objs(listing.get("jobs"))
            if failed_only:
                jobs = [j for j in jobs if j.get("conclusion") in ("failure", "timed_out", "cancelled")]
            if not jobs:
                return {"run_id": run_id, "jobs": [], "note": "no failed jobs" if failed_only else "no jobs"}
        out = []
        budget = self.window
        keep = LOG_TAIL_BYTES
        chosen = [j for j in jobs[:10] if isinstance(j.get("id"), int) and not isinstance(j.get("id"), bool)]
        # Progress in KiB downloaded over all chosen logs (the message names the job being read); a no-op
        # outside a tool call. Cancelling the call closes the download in progress and reads no more logs.
        async with Progress(unit="KiB", message="downloading job logs") as progress:
            for number, job in enumerate(chosen, 1):
                job_id = job["id"]  # an int GitHub sent: safe in a path
                earlier = progress.done
                progress.update(
                    earlier, message=f"downloading the log of job {job_id} ({number} of {len(chosen)})"
                )

                def on_bytes(received: int, _length: int | None, earlier: float = earlier) -> None:
                    progress.update(earlier + received // 1024)

                text, _, size = await api.blob(
                    f"{base}/actions/jobs/{job_id}/logs", keep_bytes=keep, on_bytes=on_bytes
                )
                out.append(self._log_entry(job, text, size, keep, tail_lines, budget))
            progress.update(progress.done, message=f"downloaded {len(out)} job logs")
        return {"jobs": out}

    @staticmethod
    def _log_entry(
        job: dict[str, Any], text: str, size: int, keep: int, tail_lines: int, budget: int
    ) -> dict[str, Any]:
        """One job's entry: the last `tail_lines` lines of its log tail, within `budget` characters."""
        job_id = job["id"]
        lines = text.splitlines()
        complete = size <= keep
        if not complete and lines:
            lines = lines[1:]  # the first kept line may start mid-line
        tail = "\n".join(lines[-tail_lines:])
        tail = tail[-budget:] if len(tail) > budget else tail
        entry = {
            "job_id": job_id,
            "name": job.get("name"),
            "conclusion": job.get("conclusion"),
            "lines": len(lines) if complete else None,
            "log_bytes": size,
            "shown": f"last {min(tail_lines, len(lines))} lines",
            "log": tail,
        }
        return {k: v for k, v in entry.items() if v is not None}

    async def rerun_failed_jobs(self, api: Api, owner: str, repo: str, run_id: int) -> dict[str, Any]:
        """Rerun failed jobs through the REST API; return the trimmed answer."""
        await api.write("POST", f"{_repo_path(owner, repo)}/actions/runs/{run_id}/rerun-failed-jobs", {})
        return {"run_id": run_id, "rerun": "failed jobs requested"}

    # --- releases ------------------------------------------------------------------------------------------

    async def list_releases(
        self, api: Api, owner: str, repo: str, page_token: str | None, per_page: int
    ) -> dict[str, Any]:
        """List releases through the REST API; return the trimmed answer."""
        page = await api.page(f"{_repo_path(owner, repo)}/releases", page_token, per_page)
        t = Trimmer(self.window)
        return _listing(page, "releases", [t.release(r, with_body=False) for r in page.items])

    async def get_release(self, api: Api, owner: str, repo: str, tag: str | None) -> dict[str, Any]:
        """Read release through the REST API; return the trimmed answer."""
        base = _repo_path(owner, repo)
        url = f"{base}/releases/tags/{enc_ref(tag)}" if tag else f"{base}/releases/latest"
        return Trimmer(self.window).release(await api.get(url))

    # --- notifications -------------------------------------------------------------------------------------

    async def list_notifications(
        self,
        api: Api,
        all_: bool,
        participating: bool,
        since: str | None,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List notifications through the REST API; return the trimmed answer."""
        page = await api.page(
            "/notifications",
            page_token,
            per_page,
            all=all_ or None,
            participating=participating or None,
            since=since,
        )
        t = Trimmer(self.window)
        return _listing(page, "notifications", [t.notification(n) for n in page.items])

    async def mark_notifications_read(self, api: Api, last_read_at: str | None) -> dict[str, Any]:
        """Mark notifications read through the REST API; return the trimmed answer."""
        body = {"last_read_at": last_read_at} if last_read_at else {}
        await api.write("PUT", "/notifications", body)
        return {"marked_read": True, "last_read_at": last_read_at}

    # --- code security -------------------------------------------------------------------------------------

    async def list_code_scanning_alerts(
        self,
        api: Api,
        owner: str,
        repo: str,
        state: str | None,
        severity: str | None,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List code scanning alerts through the REST API; return the trimmed answer."""
        page = await api.page(
            f"{_repo_path(owner, repo)}/code-scanning/alerts",
            page_token,
            per_page,
            state=state,
            severity=severity,
        )
        t = Trimmer(self.window)
        return _listing(page, "alerts", [t.code_alert(a) for a in page.items])

    async def get_code_scanning_alert(self, api: Api, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Read code scanning alert through the REST API; return the trimmed answer."""
        data = await api.get(f"{_repo_path(owner, repo)}/code-scanning/alerts/{number}")
        return Trimmer(self.window).code_alert(data)

    async def list_dependabot_alerts(
        self,
        api: Api,
        owner: str,
        repo: str,
        state: str | None,
        severity: str | None,
        page_token: str | None,
        per_page: int,
    ) -> dict[str, Any]:
        """List dependabot alerts through the REST API; return the trimmed answer."""
        page = await api.page(
            f"{_repo_path(owner, repo)}/dependabot/alerts",
            page_token,
            per_page,
            state=state,
            severity=severity,
        )
        t = Trimmer(self.window)
        return _listing(page, "alerts", [t.dependabot_alert(a) for a in page.items])

    async def get_dependabot_alert(self, api: Api, owner: str, repo: str, number: int) -> dict[str, Any]:
        """Read dependabot alert through the REST API; return the trimmed answer."""
        data = await api.get(f"{_repo_path(owner, repo)}/dependabot/alerts/{number}")
        return Trimmer(self.window).dependabot_alert(data)
