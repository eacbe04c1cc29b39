"""The actions toolset: GitHub Actions workflow runs, jobs and job logs; re-running failed jobs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_github.deps import Account, Deps, Owner, PageToken, PerPage, Repo

tools = Toolset("actions", "GitHub Actions workflow runs, jobs and job logs.")

RunId = Annotated[int, Field(description="Run id.")]


@tools.tool(untrusted="github workflow runs", open_world=True)
async def list_workflow_runs(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    workflow: Annotated[str | None, Field(description="Workflow file name (ci.yml) or id.")] = None,
    branch: Annotated[str | None, Field(description="Only runs on this branch.")] = None,
    status: Annotated[str | None, Field(description="completed, in_progress, failure, success, ...")] = None,
    page_token: PageToken = None,
    per_page: PerPage = 20,
    account: Account = None,
) -> Reply:
    """List workflow runs (status, conclusion, branch, commit), newest first."""
    start = deps.start(
        page_token, per_page, f"list_workflow_runs {owner}/{repo} {workflow} {branch} {status}"
    )
    api = deps.pick(owner, account)
    data = await deps.ops.list_workflow_runs(
        api, owner, repo, workflow, branch, status, start.token, start.per_page
    )
    return deps.page(data, "runs", start, f"github {owner}/{repo} workflow runs")


@tools.tool(untrusted="github workflow run", open_world=True)
async def get_workflow_run(
    deps: Deps, owner: Owner, repo: Repo, run_id: RunId, account: Account = None
) -> Reply:
    """Return one workflow run."""
    data = await deps.ops.get_workflow_run(deps.pick(owner, account), owner, repo, run_id)
    return deps.answer(data, f"github run {run_id}")


@tools.tool(untrusted="github workflow jobs", open_world=True)
async def list_workflow_jobs(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    run_id: RunId,
    page_token: PageToken = None,
    per_page: PerPage = 30,
    account: Account = None,
) -> Reply:
    """List a run's jobs with status, conclusion and the names of failed steps."""
    start = deps.start(page_token, per_page, f"list_workflow_jobs {owner}/{repo} {run_id}")
    api = deps.pick(owner, account)
    data = await deps.ops.list_workflow_jobs(api, owner, repo, run_id, start.token, start.per_page)
    return deps.page(data, "jobs", start, f"github run {run_id} jobs")


@tools.tool(untrusted="github job logs", open_world=True)
async def get_job_logs(
    deps: Deps,
    owner: Owner,
    repo: Repo,
    job_id: Annotated[int | None, Field(description="One job's id.")] = None,
    run_id: Annotated[int | None, Field(description="A run's id: logs of its jobs.")] = None,
    failed_only: Annotated[bool, Field(description="With run_id: only failed jobs.")] = True,
    tail_lines: Annotated[
        int, Field(ge=1, le=5000, description="Lines kept from the end of each log.")
    ] = 200,
    account: Account = None,
) -> Reply:
    """Return the last lines of a job's log, or of each failed job of a run."""
    api = deps.pick(owner, account)
    data = await deps.ops.get_job_logs(api, owner, repo, job_id, run_id, failed_only, tail_lines)
    return deps.answer(data, f"github {owner}/{repo} job logs")


@tools.tool(access="write", open_world=True)
async def rerun_failed_jobs(
    deps: Deps, owner: Owner, repo: Repo, run_id: RunId, account: Account = None
) -> Reply:
    """Re-run the failed jobs of a workflow run."""
    return deps.answer(await deps.ops.rerun_failed_jobs(deps.pick(owner, account), owner, repo, run_id))
