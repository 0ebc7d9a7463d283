"""The HTTP API of the job service (docs/api.md): a thin FastAPI adapter over ``graph.jobs.JobRunner``.

Everything a job is lives in the runner and its store; this module only checks who is asking (a
bearer token, or the owner ``local`` on a loopback bind), turns requests into ``JobSpec`` objects and
records into JSON, and streams a job's events as server-sent events. Every error answers the same JSON
shape, ``{"message", "issues": [...]}``, and bad input never answers 500.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from reelgraph import graph
from reelgraph.graph.errors import WorkflowError
from reelgraph.graph.jobs import FINAL, STATUSES, JobRunner, JobSpec, compile_spec, job_detail, job_summary
from starlette.exceptions import HTTPException

from .server import is_loopback
from .webhooks import WebhookSender, check_url

log = logging.getLogger("reelgraph.service")

# A job queued in another process (the editor's, or a server that restarted) cannot wake this stream:
# the stream looks again this often until it starts. Jobs queued in this server wake it at once.
QUEUED_RECHECK_S = 0.25
KEEPALIVE_S = 15.0  # a comment line on an event stream that has been silent this long
SSE_EXAMPLE = ('id: 7\nevent: node_finished\ndata: {"event": "node_finished", "job": "j3f2a9c0d1e2b4a5c", '
               '"node": "keys", "seconds": 0.41, "cached": false}\n\n')
_ID = r"^[A-Za-z0-9_-]{1,64}$"
_UPLOAD_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


# ----------------------------------------------------------------------------------------- errors

class IssueOut(BaseModel):
    """One problem, located: the node and field at fault and what to change."""

    node: str | None = Field(None, description="The node id, when the problem is in a node.")
    field: str | None = Field(None, description="The param, input or request field (`body.priority`).")
    message: str = Field(description="What is wrong.")
    fix: str | None = Field(None, description="What to do about it.")
    code: str = Field("invalid", description="A stable kind: `invalid`, `request`, `node`, `server`, ...")


class ErrorOut(BaseModel):
    """Every error the service answers (401, 404, 413, 422, ...)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "message": "the workflow has 1 problem",
        "issues": [{"node": "keys", "field": "steps", "message": "must be at least 1", "fix": "set steps to 1 or more",
                    "code": "invalid"}]}]})

    message: str
    issues: list[IssueOut] = Field(default_factory=list)


class RequestError(Exception):
    """A request the service understands but refuses; answered as ``status`` with one issue."""

    def __init__(self, status: int, message: str, field: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.fix = fix


class BodyTooLarge(HTTPException):
    """Raised while a request body is read past its cap. An HTTPException, so that FastAPI's body
    parsing lets it through instead of turning it into a 400."""

    def __init__(self, limit: int, upload: bool = False):
        super().__init__(413, f"the upload is larger than {_size(limit)} (the server's --max-upload)" if upload else
                         f"the request body is larger than {_size(limit)} (the server's --max-request); "
                         "send media as uploads: PUT /api/files/{name}")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.4g} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _json_line(data: Any) -> str:
    """JSON on one line (newlines in strings are escaped): an SSE ``data:`` field."""
    return json.dumps(data, ensure_ascii=False, default=str)


def _error(status: int, message: str, issues: list[dict] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "issues": issues or []}, status_code=status, headers=headers)


def _issue(message: str, field: str | None = None, fix: str | None = None, code: str = "request") -> dict:
    return {"node": None, "field": field, "message": message, "fix": fix, "code": code}


_DEFAULT_MESSAGES = {401: "a token is needed", 404: "not found", 405: "method not allowed", 413: "too large"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else _DEFAULT_MESSAGES.get(exc.status_code, "error")
        if exc.status_code == 400 and message == "There was an error parsing the body":  # a malformed body: 422
            return _error(422, "the request body could not be read",
                          [_issue("the body could not be read as JSON", "body",
                                  "send a JSON object with Content-Type: application/json")])
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such address: {request.method} {request.url.path} (the API is listed at /docs)"
        issues = [_issue("body too large", "body", "send less, or raise the server's cap")] \
            if exc.status_code == 413 else []
        return _error(exc.status_code, message, issues, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        issues = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":  # its loc is (body, character): name the body and say where
                issues.append(_issue(f"the body is not valid JSON ({(err.get('ctx') or {}).get('error', 'malformed')}"
                                     f" at character {err['loc'][-1]})", "body",
                                     "send a JSON object with Content-Type: application/json", "request"))
                continue
            where = ".".join(str(p) for p in err.get("loc", ()))
            issues.append(_issue(err.get("msg", "invalid"), where or None, _fix_for(err), "request"))
        n = len(issues)
        return _error(422, f"the request has {n} bad field{'s' if n != 1 else ''}: "
                           + "; ".join(f"{i['field']}: {i['message']}" for i in issues[:5]), issues)

    @app.exception_handler(WorkflowError)
    async def bad_workflow(request: Request, exc: WorkflowError):
        n = len(exc.issues)
        return _error(422, f"the workflow has {n} problem{'s' if n != 1 else ''}: " + str(exc.issues[0])
                      + (f" (and {n - 1} more)" if n > 1 else ""), [i.to_dict() for i in exc.issues])

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError):
        return _error(exc.status, exc.message, [_issue(exc.message, exc.field, exc.fix)])

    @app.exception_handler(Exception)
    async def server_bug(request: Request, exc: Exception):  # pragma: no cover - a bug, logged
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"the server failed ({type(exc).__name__}); its log says where",
                      [_issue("this is a bug in the server", None, "see the server's log", "server")])


def _fix_for(err: dict) -> str | None:
    kind = err.get("type", "")
    if kind == "missing":
        return "add this field"
    wanted = {"int": "a whole number", "float": "a number", "bool": "true or false", "string": "a string",
              "dict": "a JSON object", "list": "a JSON list", "literal": "one of the values listed"}
    if kind.split("_")[0] in wanted:
        return f"send {wanted[kind.split('_')[0]]} here"
    if kind == "extra_forbidden":
        return "remove this field (see /docs for the fields)"
    return None


# ------------------------------------------------------------------------------- request size cap

class BodyLimit:
    """Caps request bodies: a Content-Length over the cap is refused before reading, a body streamed
    without one is counted as it arrives. Uploads (``PUT /api/files/...``) have their own cap."""

    def __init__(self, app, max_request: int, max_upload: int):
        self.app = app
        self.max_request = max_request
        self.max_upload = max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["method"] == "PUT" and scope["path"].startswith("/api/files/")
        limit = self.max_upload if upload else self.max_request
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server itself refuses a malformed length
            if too_big:
                return await _error(413, BodyTooLarge(limit, upload).detail,
                                    [_issue("body too large", "body", f"send at most {_size(limit)}")])(
                    scope, receive, send)
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, upload)
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as e:  # read outside a route (nothing answered yet): answer here
            if started:
                raise
            await _error(413, e.detail)(scope, receive, send)


# ---------------------------------------------------------------------------------------- models

class WorkflowRequest(BaseModel):
    """A workflow to check or plan: inline, or one of the shipped examples by name."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"workflow_name": "shot_outline", "overrides": {"story.text": "A fox\nA hare"}}]})

    workflow: dict[str, Any] | None = Field(
        None, description="The workflow JSON (what `reelgraph validate` reads). Give this or `workflow_name`.")
    workflow_name: str | None = Field(
        None, max_length=200, description="One of `GET /api/workflows` (a shipped example) instead of `workflow`.",
        examples=["storyboard_to_clip"])
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="`node.param` → value, set on top of the workflow.",
        examples=[{"story.text": "A fox\nA hare"}])
    overrides_are_text: bool = Field(
        False, description="True: every override value is a string read like `--set` on the command line.")


class JobRequest(WorkflowRequest):
    """A job to run."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"workflow_name": "storyboard_to_clip", "overrides": {"story.text": "A fox\nA hare"}, "priority": 0,
         "idempotency_key": "order-1234"}]})

    targets: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=1000, description="Run only what these nodes need (node ids).")
    priority: int = Field(0, ge=-1_000_000, le=1_000_000, description="Higher runs first; then by submission.")
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=200,
        description="The same key (per owner) gives back the first job with `200` instead of a new one.")
    webhook: str | None = Field(None, max_length=2000, description="An http(s) URL called once the job is final.",
                                examples=["https://example.com/hook"])

    @field_validator("webhook")
    @classmethod
    def _http_only(cls, url: str | None) -> str | None:
        return url if url is None else check_url(url)


class BatchRequest(JobRequest):
    """One workflow, one job per row of overrides."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"workflow_name": "shot_outline", "rows": [{"story.text": "A fox", "name": "fox"},
                                                   {"story.text": "A hare", "name": "hare"}]}]})

    rows: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000,
        description="Each row: `node.param` → value set on top of `overrides`; `name` names its outputs.")


class Created(BaseModel):
    id: str = Field(description="The job's id.", examples=["j3f2a9c0d1e2b4a5c"])
    status: str = Field(description="Its status now.", examples=["queued"])
    created: bool = Field(description="False: the idempotency key was used before; this is the first job.")


class JobSummary(BaseModel):
    """A job in lists. Times are Unix seconds."""

    id: str
    seq: int = Field(description="Submission order; pass as `before` to page.")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    owner: str
    priority: int
    created: float
    started: float | None = None
    finished: float | None = None
    batch_id: str | None = None
    name: str | None = None
    source: str | None = None
    attempts: int = 0


class JobDetail(JobSummary):
    """A job with its per-node states, outputs, errors and what it runs."""

    nodes: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="node id → {status, progress, seconds, cached, error} (live while it runs)")
    outputs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="output name → a file ({type, file, size, digest, meta, url, captions}) "
                                          "or an inline value ({type, value})")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="[{node, field, message, fix, element, "
                                                                           "code}] of a failed job")
    counts: dict[str, Any] = Field(default_factory=dict, description="{ran, cached, skipped, seconds}")
    workflow: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)
    targets: list[str] = Field(default_factory=list)


class JobPage(BaseModel):
    jobs: list[JobSummary]
    next: int | None = Field(None, description="Pass as `before` for the next page; null on the last page.")


class BatchCreated(BaseModel):
    id: str = Field(examples=["b0c1d2e3f4a5b6c7d"])
    jobs: list[str] = Field(description="One job id per row, in row order.")


class BatchOut(BaseModel):
    id: str
    created: float
    status: Literal["running", "succeeded", "failed"] = Field(
        description="running while any job is queued or running; else succeeded when all did, else failed")
    counts: dict[str, int] = Field(description="status → how many jobs")
    jobs: list[JobSummary]


class ValidateOut(BaseModel):
    valid: bool
    issues: list[IssueOut]


class PlanNode(BaseModel):
    node: str
    type: str
    status: str = Field(description="cached | run | partial | maybe")
    reason: str
    calls: int | None = None
    cached_calls: int | None = None


class FitWarning(BaseModel):
    node: str | None = None
    message: str
    fix: str = ""


class NodeEstimateOut(BaseModel):
    node: str
    seconds: float = Field(description="Predicted seconds of its calls on this machine (0 when cached), "
                                       "model loading included")
    lo: float = Field(description="Low end of the range, seconds")
    hi: float = Field(description="High end of the range, seconds")
    calls: int = Field(description="Calls it would run (the cached ones cost nothing)")
    ram_mb: float | None = Field(None, description="Peak process RAM while it runs, MB")
    vram_mb: float | None = Field(None, description="Peak GPU memory, MB")
    load_seconds: float = 0.0
    source: str = Field(description="Where the figure comes from: measured here (n calls), the shipped "
                                    "table (with its reference), or a guess")
    known: bool = Field(description="False when its inputs' sizes cannot be told before they are made")
    warnings: list[FitWarning] = []


class EstimateOut(BaseModel):
    seconds: float = Field(description="The whole run on this machine, concurrency counted")
    lo: float
    hi: float
    ram_mb: float | None = None
    vram_mb: float | None = None
    machine: dict[str, float]
    measured_calls: int = Field(description="Calls measured on this machine so far (what estimates learn from)")
    warnings: list[FitWarning] = Field(description="What will not fit (VRAM, RAM) or will fail, with the fix")
    nodes: list[NodeEstimateOut]


class PlanOut(BaseModel):
    nodes: list[PlanNode]
    would_run: int = Field(description="How many nodes would run (not served from the cache).")
    estimate: EstimateOut = Field(description="Predicted time and peak memory per node and for the run")


class WorkflowInfo(BaseModel):
    name: str
    description: str = ""


class WorkflowList(BaseModel):
    workflows: list[WorkflowInfo]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    workers: int
    queued: int
    running: int
    paused: bool
    engine: str = "local"


class QueueOut(BaseModel):
    paused: bool
    queued: int = Field(description="Jobs waiting (all owners).")
    running: int = Field(description="Jobs running now (all owners).")
    jobs: list[JobSummary] = Field(description="Your queued jobs, the next to run first.")


class QueueAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["pause", "resume"] = Field(description="pause: running jobs finish, queued ones wait.")


class Uploaded(BaseModel):
    path: str = Field(description="The path to give a load node (relative to the workspace).",
                      examples=["uploads/local/shoe.png"])


class WebhookSecret(BaseModel):
    secret: str = Field(description="Hex. The signature is HMAC-SHA256 of the raw body, keyed with this string.")


class OutputValue(BaseModel):
    value: Any = Field(description="An output that is not a file (text, numbers, lists).")


# ----------------------------------------------------------------------------------------- the app

_ERRORS = {code: {"model": ErrorOut} for code in (401, 404, 413, 422)}


def shipped_workflows_dir() -> Path:
    return Path(str(files("reelgraph.workflows")))


def create_app(runner: JobRunner, *, require_token: bool = False, max_request: int = 16 * 2**20,
               max_upload: int = 2**30, workspace: Path, workflows_dir: Path | None = None,
               webhook_key: bytes, webhooks: WebhookSender | None = None) -> FastAPI:
    """The service's ASGI app over a started ``runner``. ``require_token``: every request needs a
    token (a non-loopback bind); else a request from this machine without one is the owner ``local``.
    The caller owns ``runner`` (and closes it); the app closes its webhook sender on shutdown."""
    workspace = Path(workspace)
    workflows_dir = Path(workflows_dir) if workflows_dir is not None else shipped_workflows_dir()
    sender = webhooks or WebhookSender(webhook_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        sender.close()

    app = FastAPI(
        title="reelgraph job service", version=graph.__version__, lifespan=lifespan,
        description="Run reelgraph workflows as jobs: submit, follow events, fetch outputs, get called back. "
                    "Send `Authorization: Bearer <token>` (create one with `reelgraph serve --create-token NAME`); "
                    "on a loopback bind a request without a token is the owner `local`. "
                    "Every error is `{\"message\", \"issues\": [{node, field, message, fix, code}]}`.")
    app.state.runner = runner
    app.state.webhooks = sender
    # event streams follow a job until it ends; a stopping server ends them at once instead of letting
    # them hold up its shutdown (a client reconnects with Last-Event-ID once it is back)
    streams: set = set()
    app.state.stopping = False

    def stop_streams() -> None:
        app.state.stopping = True
        for wake in list(streams):
            wake()

    app.state.stop_streams = stop_streams
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_request=max_request, max_upload=max_upload)
    bearer = HTTPBearer(auto_error=False, description="A token from `reelgraph serve --create-token NAME`.")

    # -- who is asking
    def owner(request: Request,
              cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None) -> str:
        how = "create one on the server with `reelgraph serve --create-token NAME` and send it as " \
              "`Authorization: Bearer <token>`"
        if cred is not None:
            name = runner.store.token_owner(hashlib.sha256(cred.credentials.encode("utf-8")).hexdigest())
            if name is None:
                raise HTTPException(401, f"this token is not known to the server; {how}",
                                    headers={"WWW-Authenticate": "Bearer"})
            return name
        if request.headers.get("authorization"):
            raise HTTPException(401, f"the Authorization header must be `Bearer <token>`; {how}",
                                headers={"WWW-Authenticate": "Bearer"})
        if not require_token and request.client is not None and is_loopback(request.client.host):
            return "local"
        raise HTTPException(401, f"this server needs a token; {how}", headers={"WWW-Authenticate": "Bearer"})

    Owner = Annotated[str, Depends(owner)]
    JobId = Annotated[str, PathParam(pattern=_ID, description="A job id (`j…`).")]

    summary, detail = job_summary, job_detail

    def own_job(job_id: str, who: str, live: bool = False) -> dict:
        job = runner.job(job_id) if live else runner.store.get(job_id)
        if job is None or job["owner"] != who:
            raise HTTPException(404, f"no job {job_id!r} (ids come from POST /api/jobs and GET /api/jobs)")
        return job

    # -- workflows by name
    def workflow_names() -> list[str]:
        return sorted(p.name[:-5] for p in workflows_dir.glob("*.json"))

    def resolve(body: WorkflowRequest) -> tuple[dict, str | None]:
        """The workflow JSON of a request and the workspace it runs in (None: the service's)."""
        if (body.workflow is None) == (body.workflow_name is None):
            raise RequestError(422, "give exactly one of `workflow` (the workflow JSON) and `workflow_name`",
                               "body.workflow", f"shipped workflows: {', '.join(workflow_names())}")
        if body.workflow is not None:
            return body.workflow, None
        names = workflow_names()
        if body.workflow_name not in names:
            raise RequestError(422, f"no shipped workflow named {body.workflow_name!r}", "body.workflow_name",
                               f"use one of: {', '.join(names)} (GET /api/workflows)")
        path = workflows_dir / f"{body.workflow_name}.json"
        return json.loads(path.read_text(encoding="utf-8")), str(workflows_dir)

    def job_spec(body: JobRequest, who: str, **extra: Any) -> JobSpec:
        wf, ws = resolve(body)
        return JobSpec(wf, dict(body.overrides), list(body.targets), body.priority, who, body.idempotency_key,
                       body.webhook, text=body.overrides_are_text, workspace=ws, **extra)

    # -- webhooks: one POST with the job as GET /api/jobs/{id} gives it
    def on_finished(job: dict) -> None:
        if job.get("webhook") and job.get("status") in FINAL:
            body = json.dumps(JobDetail.model_validate(detail(job)).model_dump(mode="json"),
                              ensure_ascii=False).encode("utf-8")
            sender.send(job["webhook"], body, job["owner"])

    runner.on_finished.append(on_finished)

    # ------------------------------------------------------------------------------- jobs
    @app.post("/api/jobs", status_code=201, response_model=Created, tags=["jobs"], responses={
        200: {"model": Created, "description": "The idempotency key was used before: the first job."}, **_ERRORS})
    def submit(body: JobRequest, request: Request, response: Response, who: Owner):
        """Queue a job. An invalid workflow answers 422 with every problem at once."""
        job, created = runner.submit(job_spec(body, who))
        response.status_code = 201 if created else 200
        response.headers["Location"] = f"/api/jobs/{job['id']}"
        return {"id": job["id"], "status": job["status"], "created": created}

    @app.get("/api/jobs", response_model=JobPage, tags=["jobs"], responses=_ERRORS)
    def list_jobs(who: Owner,
                  status: Annotated[Literal[STATUSES] | None, Query(description="Only jobs with this status.")] = None,  # type: ignore[valid-type]
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                  before: Annotated[int | None, Query(ge=1, le=2**62, description="`next` of the previous page.")]
                  = None):
        """Your jobs, newest first."""
        rows = runner.store.list(owner=who, status=status, limit=limit + 1, before=before)
        page = rows[:limit]
        return {"jobs": [summary(j) for j in page], "next": page[-1]["seq"] if len(rows) > limit else None}

    @app.get("/api/jobs/{job_id}", response_model=JobDetail, tags=["jobs"], responses=_ERRORS)
    def get_job(job_id: JobId, who: Owner):
        """A job with its per-node states (live while it runs), outputs and errors."""
        return detail(own_job(job_id, who, live=True))

    @app.post("/api/jobs/{job_id}/cancel", status_code=202, response_model=JobSummary, tags=["jobs"],
              responses=_ERRORS)
    def cancel_job(job_id: JobId, who: Owner):
        """Cancel a queued job at once, a running one at its nodes' next step."""
        own_job(job_id, who)
        runner.cancel(job_id)
        return summary(own_job(job_id, who))

    @app.delete("/api/jobs/{job_id}", status_code=204, tags=["jobs"], responses=_ERRORS)
    def delete_job(job_id: JobId, who: Owner):
        """Remove a job from the history with its events and output files (a running one is cancelled first)."""
        own_job(job_id, who)
        runner.delete(job_id)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/outputs/{name}", tags=["jobs"], responses={
        200: {"description": "The file (range requests give 206), or `{\"value\": ...}` for a non-media output.",
              "content": {"application/octet-stream": {}, "application/json": {
                  "schema": OutputValue.model_json_schema()}}}, **_ERRORS})
    def get_output(job_id: JobId, who: Owner,
                   name: Annotated[str, PathParam(max_length=300, description="`save.video`, `save.video.mp4` "
                                                                              "or `save.video.srt`")]):
        """One output of a succeeded job: its file, or its value."""
        job = own_job(job_id, who)
        if job["status"] != "succeeded":
            raise HTTPException(404, f"job {job_id} has no outputs: it is {job['status']} "
                                     "(outputs are served once it has succeeded)")
        outputs = (job.get("state") or {}).get("outputs") or {}
        for out_name, entry in outputs.items():
            if name in (out_name, entry.get("file"), entry.get("captions")):
                break
        else:
            raise HTTPException(404, f"job {job_id} has no output {name!r}; it has: {', '.join(outputs) or 'none'}")
        if "file" not in entry:
            return JSONResponse({"value": entry.get("value")})
        if entry.get("expired"):
            raise HTTPException(404, f"the files of job {job_id} were removed to make room (its history stays)")
        file = entry["captions"] if name == entry.get("captions") else entry["file"]
        folder = (runner.outputs_dir / job_id).resolve()
        path = (folder / file).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            raise HTTPException(404, f"the file of output {name!r} of job {job_id} is gone")
        # inline: a browser plays a video or shows an image from its URL instead of saving it
        return FileResponse(path, filename=file, content_disposition_type="inline")

    def event_start(job_id: JobId, who: Owner,
                    after: Annotated[int | None, Query(ge=0, le=2**62, description="Resume after this event id.")]
                    = None,
                    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None) -> int:
        """The event id a stream starts after; checked before the stream starts, so errors answer as JSON."""
        own_job(job_id, who)
        if last_event_id is not None and last_event_id.strip():
            try:
                return max(0, int(last_event_id.strip()))
            except ValueError:
                raise RequestError(422, "Last-Event-ID must be an event id (a whole number)",
                                   "header.Last-Event-ID", "send back the `id:` of the last event received") from None
        return after or 0

    @app.get("/api/jobs/{job_id}/events", response_class=StreamingResponse, tags=["jobs"], responses={
        200: {"description": "Server-sent events, one per job event, until `job_finished`.",
              "content": {"text/event-stream": {"schema": {"type": "string"}, "example": SSE_EXAMPLE}}}, **_ERRORS})
    async def job_events(job_id: JobId, start: Annotated[int, Depends(event_start)]):
        """The job's events as server-sent events (`id:` the event's number, `event:` its kind), from the first
        (or after `Last-Event-ID` / `?after=`) until `job_finished`. A `: keep-alive` comment comes every 15 s."""
        return StreamingResponse(event_stream(job_id, start), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def event_stream(job_id: str, start: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()

        def wake() -> None:  # called from a worker thread
            loop.call_soon_threadsafe(flag.set)

        async def woken(limit: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flag.wait(), max(0.0, limit))

        seen = start
        live = False
        sent = loop.time()
        streams.add(wake)
        try:
            while not app.state.stopping:
                flag.clear()
                # the waker goes in before the read: an event after the read always sets the flag
                live = live or runner.add_waker(job_id, wake)
                events = await anyio.to_thread.run_sync(runner.events, job_id, seen)
                # what is there goes out as one write: a replayed log of hundreds of events is one
                # chunk, and a client that hangs up mid-way costs one failed write, not hundreds
                chunk = []
                finished = False
                for seq, data in events:
                    seen = seq
                    chunk.append(f"id: {seq}\nevent: {data.get('event', 'message')}\ndata: {_json_line(data)}\n\n")
                    finished = data.get("event") == "job_finished"
                    if finished:
                        break
                if chunk:
                    yield "".join(chunk)
                if finished:
                    return
                if events:
                    sent = loop.time()
                    continue
                if live:
                    await woken(KEEPALIVE_S - (loop.time() - sent))
                    live = runner.live(job_id) is not None
                else:
                    job = await anyio.to_thread.run_sync(runner.store.get, job_id)
                    if job is None:
                        return  # deleted while streaming
                    if job["status"] in FINAL:
                        if await anyio.to_thread.run_sync(runner.events, job_id, seen):
                            continue  # drain what came with the final status
                        return
                    # queued elsewhere: nothing wakes us when it starts, so look again shortly
                    await woken(min(QUEUED_RECHECK_S, KEEPALIVE_S - (loop.time() - sent)))
                if loop.time() - sent >= KEEPALIVE_S:  # proxies close a connection that stays silent
                    yield ": keep-alive\n\n"
                    sent = loop.time()
        finally:
            streams.discard(wake)
            runner.remove_waker(job_id, wake)

    # ----------------------------------------------------------------------------- batches
    @app.post("/api/batches", status_code=201, response_model=BatchCreated, tags=["batches"], responses=_ERRORS)
    def submit_batch(body: BatchRequest, who: Owner):
        """One job per row. Every row is validated before any job is queued (an issue names its row)."""
        batch_id, jobs = runner.submit_batch(job_spec(body, who), [dict(r) for r in body.rows])
        return {"id": batch_id, "jobs": [j["id"] for j in jobs]}

    @app.get("/api/batches/{batch_id}", response_model=BatchOut, tags=["batches"], responses=_ERRORS)
    def get_batch(batch_id: Annotated[str, PathParam(pattern=_ID)], who: Owner):
        """A batch: its jobs and how many have each status."""
        batch = runner.store.batch(batch_id)
        if batch is None or batch["owner"] != who:
            raise HTTPException(404, f"no batch {batch_id!r} (ids come from POST /api/batches)")
        jobs = [j for j in (runner.store.get(i) for i in batch["jobs"]) if j is not None]
        counts: dict[str, int] = {}
        for j in jobs:
            counts[j["status"]] = counts.get(j["status"], 0) + 1
        if any(s not in FINAL for s in counts):
            status = "running"
        else:
            status = "succeeded" if set(counts) <= {"succeeded"} else "failed"
        return {"id": batch["id"], "created": batch["created"], "status": status, "counts": counts,
                "jobs": [summary(j) for j in jobs]}

    # ------------------------------------------------------------------ the workflow and the machine
    def compiled(body: WorkflowRequest):
        wf, ws = resolve(body)
        spec = JobSpec(wf, dict(body.overrides), text=body.overrides_are_text, workspace=ws)
        return compile_spec(spec, runner.registry), ws

    @app.post("/api/validate", response_model=ValidateOut, tags=["workflows"], responses=_ERRORS)
    def validate(body: WorkflowRequest, who: Owner):
        """Every problem of a workflow with its overrides (the same as `reelgraph validate`)."""
        try:
            compiled(body)
        except WorkflowError as e:
            return {"valid": False, "issues": [i.to_dict() for i in e.issues]}
        return {"valid": True, "issues": []}

    @app.post("/api/plan", response_model=PlanOut, tags=["workflows"], responses=_ERRORS)
    def plan(body: WorkflowRequest, who: Owner):
        """What a run would do now: which nodes are cached and which would run, and why; and what it
        would cost on this machine (seconds with a range, peak RAM and VRAM, per node and in all)."""
        from reelgraph.graph.estimates import estimate as estimate_graph
        g, ws = compiled(body)
        est = estimate_graph(g, runner.cache, workspace=ws or workspace)
        nodes = [{"node": e.node, "type": e.type, "status": e.status, "reason": e.reason,
                  "calls": (e.calls + e.cached_calls) if g.nodes[e.node].maps else None,
                  "cached_calls": e.cached_calls if g.nodes[e.node].maps else None} for e in est.nodes]
        total = est.to_dict()
        total["nodes"] = [{k: n[k] for k in NodeEstimateOut.model_fields} for n in total["nodes"]]
        return {"nodes": nodes, "would_run": sum(e.status != "cached" for e in est.nodes), "estimate": total}

    catalog: dict[str, Any] = {}

    @app.get("/api/nodes", tags=["workflows"], responses=_ERRORS)
    def nodes(who: Owner) -> dict[str, Any]:
        """The node catalog: every node type with its inputs, params and outputs (what the editor reads)."""
        if not catalog:
            from reelgraph.ui.catalog import build_catalog
            catalog.update(build_catalog(runner.registry))
        return catalog

    @app.get("/api/schema", tags=["workflows"], responses=_ERRORS)
    def schema(who: Owner) -> dict[str, Any]:
        """The JSON Schema of the workflow format."""
        return graph.json_schema()

    @app.get("/api/workflows", response_model=WorkflowList, tags=["workflows"], responses=_ERRORS)
    def workflows(who: Owner):
        """The shipped example workflows, usable as `workflow_name`."""
        out = []
        for name in workflow_names():
            try:
                description = json.loads((workflows_dir / f"{name}.json").read_text(encoding="utf-8"))
                description = str(description.get("description") or "")
            except (OSError, ValueError, AttributeError):
                description = ""
            out.append({"name": name, "description": description})
        return {"workflows": out}

    @app.get("/api/health", response_model=Health, tags=["service"], responses=_ERRORS)
    def health(who: Owner):
        """Whether the service is up, and how busy."""
        return {"status": "ok", "version": graph.__version__, "workers": runner.workers,
                "queued": runner.store.count("queued") + runner.store.count("interrupted"),
                "running": runner.running_count(), "paused": runner.paused,
                "engine": runner.executor.dispatcher.name}

    def queue_state(who: str) -> dict:
        waiting = runner.store.with_status("queued", "interrupted")
        return {"paused": runner.paused, "queued": len(waiting), "running": runner.running_count(),
                "jobs": [summary(j) for j in waiting if j["owner"] == who]}

    @app.get("/api/queue", response_model=QueueOut, tags=["service"], responses=_ERRORS)
    def get_queue(who: Owner):
        """The queue: paused or not, and your queued jobs in the order they will run."""
        return queue_state(who)

    @app.post("/api/queue", response_model=QueueOut, tags=["service"], responses=_ERRORS)
    def set_queue(body: QueueAction, who: Owner):
        """Pause (running jobs finish, queued ones wait) or resume the queue."""
        runner.pause() if body.action == "pause" else runner.resume()
        return queue_state(who)

    @app.put("/api/files/{name}", status_code=201, response_model=Uploaded, tags=["service"], responses=_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
                 "schema": {"type": "string", "format": "binary"}}}}})
    async def upload(request: Request, who: Owner,
                     name: Annotated[str, PathParam(max_length=200, description="The file's name (no folders).")]):
        """Upload a file (the raw bytes as the body) for a load node: `uploads/<owner>/<name>` in the workspace."""
        if not _UPLOAD_NAME.match(name) or name.startswith(".") or ".." in name:
            raise RequestError(422, f"{name!r} is not a file name for an upload", "path.name",
                               "a plain file name: no '/', '\\', '..', control characters or leading '.'")
        folder = workspace / "uploads" / who
        await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
        part = folder / f".{name}.{os.getpid()}.{id(request)}.part"
        try:
            async with await anyio.open_file(part, "wb") as f:
                async for chunk in request.stream():
                    await f.write(chunk)
            os.replace(part, folder / name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        return {"path": f"uploads/{who}/{name}"}

    @app.get("/api/webhook-secret", response_model=WebhookSecret, tags=["service"], responses=_ERRORS)
    def get_webhook_secret(who: Owner):
        """Your webhook signing secret: `X-Reelgraph-Signature` is `sha256=` HMAC-SHA256(secret, raw body)."""
        return {"secret": sender.secret(who)}

    return app

