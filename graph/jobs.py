"""Jobs: the one run driver, and a durable queue and history of runs.

``execute`` is the only place a workflow run turns into delivered outputs: it holds a cache lease
while the run goes and while the outputs are written out, then makes room in the cache without
touching them. The command line (``reelgraph run``), the Python API (``graph.run``), the editor and
the job service all run through it.

A ``JobRunner`` keeps jobs (a workflow, overrides, targets, an owner and a priority) in a
``JobStore``, an SQLite file that survives ``kill -9``: queued jobs run after a restart, jobs that
were running become ``interrupted`` and run again (served from the cache), and each job finishes
exactly once. Its workers run jobs side by side on one executor, so every job draws on the same
cores and devices (see ``executor._Slots``). No web framework is imported here: the service in
``reelgraph.ui.service`` is an adapter over this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, List, Mapping  # List: JobStore has a method named list

from . import safe_write
from . import types as t
from .cache import Cache, lock_held, media_in
from .context import CancelToken
from .errors import Issue, WorkflowError, describe
from .events import Event, Listener
from .executor import LocalExecutor, RunResult
from .validate import CompiledGraph

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("reelgraph")

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINAL = frozenset({"succeeded", "failed", "cancelled"})
_RESULT_STATUS = {"ok": "succeeded", "failed": "failed", "cancelled": "cancelled"}


# --------------------------------------------------------------------------------------- the driver

Deliver = Callable[[RunResult], Any]


def execute(graph: CompiledGraph, executor: LocalExecutor, *, listeners: Iterable[Listener] = (),
            cancel: CancelToken | None = None, workspace: str | os.PathLike | None = None,
            deliver: Deliver | None = None) -> tuple[RunResult, Any]:
    """Run ``graph`` and hand a successful result to ``deliver`` (write files, copy into a job's
    folder) while the run's media are still protected from eviction in every process. Returns the
    result and what ``deliver`` returned (None when it was not called). Afterwards the cache makes
    room, never taking the outputs of this run."""
    cache = executor.cache
    lease = cache.lease() if cache is not None else None
    keep: list = []
    try:
        result = executor.run(graph, listeners=listeners, cancel=cancel, workspace=workspace, lease=lease)
        keep = media_in(result.outputs)
        delivered = deliver(result) if deliver is not None and result.ok else None
        return result, delivered
    finally:
        try:
            if cache is not None:
                cache.evict(keep=keep)
        finally:
            if lease is not None:
                lease.release()


# ------------------------------------------------------------------------------------ job records

@dataclass
class JobSpec:
    """What to run: a workflow (its JSON object), params to set, and optionally only some outputs."""

    workflow: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)
    priority: int = 0
    owner: str = "local"
    idempotency_key: str | None = None
    webhook: str | None = None
    batch_id: str | None = None
    name: str | None = None  # a batch row's name: its outputs are named after it
    source: str = "api"  # who submitted it: api, cli, editor, batch
    text: bool = False  # override values are strings as typed on a command line (`--set`, CSV cells)
    workspace: str | None = None  # where its relative paths point (default: the runner's workspace)
    # Save nodes write their files only when this is set (the editor). A job submitted to the service
    # delivers its outputs into its own folder: a request never names a file on the server to write.
    write_files: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "overrides": self.overrides, "targets": self.targets,
                "text": self.text, "workspace": self.workspace, "write_files": self.write_files}

    @classmethod
    def from_record(cls, job: Mapping[str, Any]) -> "JobSpec":
        spec = job["spec"]
        return cls(spec["workflow"], spec.get("overrides") or {}, spec.get("targets") or [], job["priority"],
                   job["owner"], job.get("idempotency_key"), job.get("webhook"), job.get("batch_id"),
                   job.get("name"), job.get("source") or "api", bool(spec.get("text")), spec.get("workspace"),
                   bool(spec.get("write_files")))


def compile_spec(spec: JobSpec, registry=None) -> CompiledGraph:
    """The validated graph a job runs; raises WorkflowError listing every problem (the service
    answers 422 with them)."""
    from .api import apply_overrides, load
    from .validate import compile_workflow
    wf = load(spec.workflow).copy_with()
    if not spec.write_files:
        drop_written_paths(wf, spec.overrides, registry)
    graph = compile_workflow(apply_overrides(wf, spec.overrides, registry, from_text=spec.text), registry)
    return graph.restrict(spec.targets) if spec.targets else graph


def drop_written_paths(wf, keep: Iterable[str] = (), registry=None) -> list[tuple[str, str]]:
    """Clear the file paths that save nodes would write (``writes_params`` of their class), except the
    ``node.param`` refs in ``keep``; returns (ref, what it was) for each path cleared. The run still
    produces every output; only the extra file beside the workflow is not written."""
    from .registry import default_registry
    reg = registry if registry is not None else default_registry()
    keep = set(keep)
    dropped = []
    for node_id, entry in wf.nodes.items():
        spec = reg.get(entry.type)
        for name in getattr(spec.cls, "writes_params", ()) if spec is not None else ():
            ref = f"{node_id}.{name}"
            wired = any(e.target == ref for e in wf.edges)
            if ref in keep or not (entry.params.get(name) or wired):
                continue
            dropped.append((ref, "a wired path" if wired else repr(entry.params[name])))
            entry.params[name] = ""
            wf.edges = [e for e in wf.edges if e.target != ref]
    return dropped


def _now() -> float:
    return time.time()


def new_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:16]


class JobStore:
    """Jobs, their events, batches and API tokens in one SQLite file (WAL: readers never block the
    writer). Events are written behind, at most ``flush_interval`` later, and always before a job's
    status changes, so a job's final state is never on disk without the events that led to it."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT UNIQUE NOT NULL,
        owner TEXT NOT NULL,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        idempotency_key TEXT,
        batch_id TEXT,
        name TEXT,
        source TEXT,
        webhook TEXT,
        spec TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0,
        runner TEXT
    );
    CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(owner, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, priority, seq);
    CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);
    CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id);
    CREATE TABLE IF NOT EXISTS events (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created REAL NOT NULL,
        jobs TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS tokens (
        name TEXT PRIMARY KEY,
        hash TEXT UNIQUE NOT NULL,
        created REAL NOT NULL
    );
    """

    def __init__(self, path: str | os.PathLike, *, flush_interval: float = 0.05):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(self.SCHEMA)
        self._pending: list[tuple[str, int, str]] = []
        self._closed = threading.Event()
        self._wake = threading.Event()
        # the flusher sleeps until events arrive and holds the store only weakly: an idle or forgotten
        # store costs no wake-ups and can be collected
        self._flusher = threading.Thread(target=_flush_loop, name="reelgraph-jobstore", daemon=True,
                                         args=(weakref.ref(self), self._wake, self._closed, flush_interval))
        self._flusher.start()

    # -- writing
    def add_events(self, job_id: str, events: Iterable[tuple[int, dict]]) -> None:
        rows = [(job_id, seq, json.dumps(data, ensure_ascii=False, default=str)) for seq, data in events]
        with self._lock:
            self._pending.extend(rows)
        self._wake.set()

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            rows, self._pending = self._pending, []
            with self._tx():
                self._db.executemany("INSERT OR REPLACE INTO events(job_id, seq, data) VALUES (?,?,?)", rows)

    @contextlib.contextmanager
    def _tx(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert(self, job_id: str, spec: JobSpec, status: str = "queued", runner: str | None = None) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO events(job_id, seq, data) VALUES (?,?,?)", rows)
                db.execute(
                    "INSERT INTO jobs(id, owner, status, priority, created, idempotency_key, batch_id, name,"
                    " source, webhook, spec, runner, started) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (job_id, spec.owner, status, spec.priority, _now(), spec.idempotency_key, spec.batch_id,
                     spec.name, spec.source, spec.webhook, json.dumps(spec.to_dict(), ensure_ascii=False),
                     runner, _now() if status == "running" else None))

    def update(self, job_id: str, **fields: Any) -> None:
        """Set columns of a job (``state`` as a dict), writing every pending event first."""
        if "state" in fields:
            fields["state"] = json.dumps(fields["state"], ensure_ascii=False, default=str)
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._lock:
            rows, self._pending = self._pending, []
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO events(job_id, seq, data) VALUES (?,?,?)", rows)
                if fields:
                    db.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*fields.values(), job_id))

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._pending = [r for r in self._pending if r[0] != job_id]
            with self._tx() as db:
                db.execute("DELETE FROM events WHERE job_id=?", (job_id,))
                db.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    # -- reading
    def _rows(self, sql: str, args: tuple = ()) -> List[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def get(self, job_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _job_row(rows[0]) if rows else None

    def by_key(self, owner: str, key: str) -> dict | None:
        rows = self._rows("SELECT * FROM jobs WHERE owner=? AND idempotency_key=?", (owner, key))
        return _job_row(rows[0]) if rows else None

    def list(self, owner: str | None = None, status: str | None = None, limit: int = 50,
             before: int | None = None, batch_id: str | None = None, source: str | None = None,
             offset: int = 0) -> List[dict]:
        """Newest first; ``before``: a job's ``seq`` from the previous page."""
        where: List[str] = []
        args: List[Any] = []
        for col, value in (("owner", owner), ("status", status), ("batch_id", batch_id), ("source", source)):
            if value is not None:
                where.append(f"{col}=?")
                args.append(value)
        if before is not None:
            where.append("seq<?")
            args.append(before)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        return [_job_row(r) for r in self._rows(sql + " ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, limit, offset))]

    def count(self, status: str | None = None) -> int:
        sql = "SELECT COUNT(*) AS n FROM jobs" + (" WHERE status=?" if status else "")
        return int(self._rows(sql, (status,) if status else ())[0]["n"])

    def with_status(self, *statuses: str) -> List[dict]:
        marks = ",".join("?" * len(statuses))
        return [_job_row(r) for r in self._rows(
            f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY priority DESC, seq", statuses)]

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> List[tuple[int, dict]]:
        self.flush()
        rows = self._rows("SELECT seq, data FROM events WHERE job_id=? AND seq>? ORDER BY seq LIMIT ?",
                          (job_id, after, limit))
        return [(r["seq"], json.loads(r["data"])) for r in rows]

    def last_event(self, job_id: str) -> int:
        self.flush()
        rows = self._rows("SELECT MAX(seq) AS n FROM events WHERE job_id=?", (job_id,))
        return int(rows[0]["n"] or 0)

    # -- batches and tokens
    def add_batch(self, batch_id: str, owner: str, job_ids: List[str]) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO batches(id, owner, created, jobs) VALUES (?,?,?,?)",
                       (batch_id, owner, _now(), json.dumps(job_ids)))

    def batch(self, batch_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM batches WHERE id=?", (batch_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["jobs"] = json.loads(row["jobs"])
        return row

    def add_token(self, name: str, digest: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO tokens(name, hash, created) VALUES (?,?,?)", (name, digest, _now()))

    def token_owner(self, digest: str) -> str | None:
        rows = self._rows("SELECT name FROM tokens WHERE hash=?", (digest,))
        return rows[0]["name"] if rows else None

    def token_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) AS n FROM tokens")[0]["n"])

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        self._flusher.join(timeout=5)
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self.flush()
            self._db.close()


def _flush_loop(ref: "weakref.ref[JobStore]", wake: threading.Event, closed: threading.Event,
                interval: float) -> None:
    while True:
        wake.wait()
        if closed.wait(interval):  # gather what comes in the next moments
            return
        wake.clear()
        store = ref()
        if store is None:
            return
        try:
            store.flush()
        except sqlite3.Error as e:  # retried with the next events; a status write also flushes
            log.warning("job events not written yet: %s", e)
        del store


def _job_row(row: Mapping[str, Any]) -> dict:
    job = dict(row)
    job["spec"] = json.loads(job["spec"])
    job["state"] = json.loads(job["state"] or "{}")
    return job


# ----------------------------------------------------------------------------------- the runner

class _Live:
    """A job being run by this process: its cancel token, its events in memory (the SSE stream reads
    them with no database round trip) and who to wake when one arrives."""

    def __init__(self, next_seq: int):
        self.cancel = CancelToken()
        self.events: list[tuple[int, dict]] = []
        self.next_seq = next_seq
        self.wakers: set[Callable[[], None]] = set()
        self.state: dict[str, Any] = {"nodes": {}, "outputs": {}, "errors": []}
        self.listeners: list[Listener] = []
        self.done = threading.Event()
        self.result: RunResult | None = None
        self.order: list[str] = []  # the nodes it runs, in run order


OnFinished = Callable[[dict], None]


class JobRunner:
    """Runs jobs from a ``JobStore`` on ``workers`` threads sharing one executor.

    ``data`` holds ``jobs.db``, each job's outputs (``outputs/<id>/``) and the lock that tells other
    processes this runner is alive. ``claim=False`` (the editor) runs only what it starts itself with
    ``start``; it never takes queued jobs.
    """

    def __init__(self, data: str | os.PathLike, cache: Cache | None, *, workers: int = 2,
                 registry=None, workspace: str | os.PathLike | None = None, claim: bool = True,
                 executor: LocalExecutor | None = None, store: JobStore | None = None):
        self.data = Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.outputs_dir = self.data / "outputs"
        self.store = store or JobStore(self.data / "jobs.db")
        self.cache = cache
        self.registry = registry
        self.workspace = Path(workspace) if workspace else None
        self.executor = executor or LocalExecutor(cache)
        self.workers = max(1, int(workers))
        self.claim = claim
        self.id = new_id("r")
        self._lock = threading.Condition()
        self._queue: list[tuple[int, int, str]] = []  # (-priority, order, job id)
        self._order = 0
        self._live: dict[str, _Live] = {}
        self._early: dict[str, set[Callable[[], None]]] = {}  # wakers of queued jobs, for when they start
        self._paused = False
        self._closing = False
        self._threads: list[threading.Thread] = []
        self.on_finished: list[OnFinished] = []
        self.started_at = _now()
        self._lock_fd = self._hold_runner_lock()

    # -- liveness across processes
    def _hold_runner_lock(self) -> int | None:
        d = self.data / "runners"
        d.mkdir(exist_ok=True)
        path = d / f"{self.id}.lock"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _runner_alive(self, runner: str | None) -> bool:
        if not runner:
            return False
        if runner == self.id:
            return True
        path = self.data / "runners" / f"{runner}.lock"
        if fcntl is None:  # pragma: no cover - without flock a runner cannot tell; never steal a job
            return path.exists()
        if lock_held(path):
            return True
        with contextlib.suppress(OSError):
            path.unlink()  # its process is gone
        return False

    # -- lifecycle
    def start(self) -> "JobRunner":
        """Recover what a crash left (running jobs of dead runners become ``interrupted`` and are
        queued again), queue what is queued, start the workers."""
        if self.claim:
            self.recover()
        for i in range(self.workers if self.claim else 0):
            th = threading.Thread(target=self._work, name=f"reelgraph-job-{i}", daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def recover(self) -> int:
        """Queue every queued job and re-queue the running jobs whose runner died; returns how many
        were interrupted."""
        interrupted = 0
        for job in self.store.with_status("running", "interrupted", "queued"):
            if job["status"] == "running":
                if self._runner_alive(job["runner"]):
                    continue
                seq = self.store.last_event(job["id"]) + 1
                self.store.add_events(job["id"], [(seq, {"event": "job_interrupted", "job": job["id"],
                                                         "message": "the server stopped while it ran; "
                                                                    "it runs again (finished nodes are cached)",
                                                         "time": _now()})])
                self.store.update(job["id"], status="interrupted", runner=None)
                interrupted += 1
            self._push(job["id"], job["priority"])
        return interrupted

    def close(self, wait: bool = True) -> None:
        """Stop taking jobs, cancel running ones (they become ``interrupted`` and resume on the next
        start) and close the store."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
            lives = list(self._live.items())
        for _, live in lives:
            live.cancel.cancel()
        if wait:
            for th in self._threads:
                th.join(timeout=60)
        self.executor.close()
        self.store.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            with contextlib.suppress(OSError):
                (self.data / "runners" / f"{self.id}.lock").unlink()
            self._lock_fd = None

    # -- the queue
    def _push(self, job_id: str, priority: int) -> None:
        with self._lock:
            self._order += 1
            heapq.heappush(self._queue, (-int(priority), self._order, job_id))
            self._lock.notify()

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Running jobs finish; queued ones wait until ``resume``."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._lock.notify_all()

    def queue_length(self) -> int:
        with self._lock:
            return len(self._queue)

    def running_count(self) -> int:
        with self._lock:
            return sum(not live.done.is_set() for live in self._live.values())

    # -- submitting
    def submit(self, spec: JobSpec) -> tuple[dict, bool]:
        """Validate and queue a job; returns (job, created). The same owner and idempotency key give
        back the first job (created False). Raises WorkflowError listing every problem."""
        if spec.idempotency_key:
            same = self.store.by_key(spec.owner, spec.idempotency_key)
            if same is not None:
                return same, False
        compile_spec(spec, self.registry)
        job_id = new_id("j")
        self.store.add_events(job_id, [(1, {"event": "job_queued", "job": job_id, "time": _now()})])
        try:
            self.store.insert(job_id, spec)
        except sqlite3.IntegrityError:  # the same key raced in from another request
            same = self.store.by_key(spec.owner, spec.idempotency_key or "")
            if same is not None:
                return same, False
            raise
        self._push(job_id, spec.priority)
        job = self.store.get(job_id)
        assert job is not None
        return job, True

    def submit_batch(self, spec: JobSpec, rows: list[dict[str, Any]]) -> tuple[str, list[dict]]:
        """One job per row of overrides (a row's ``name`` names its outputs). Every row is validated
        before any is queued; the WorkflowError names the row (``rows[3]``)."""
        issues: list[Issue] = []
        specs = []
        for i, row in enumerate(rows):
            row = dict(row)
            name = row.pop("name", None)
            one = dataclasses.replace(spec, overrides={**spec.overrides, **row}, targets=list(spec.targets),
                                      idempotency_key=None, name=str(name) if name not in (None, "") else None,
                                      source="batch")
            try:
                compile_spec(one, self.registry)
            except WorkflowError as e:
                issues.extend(Issue(f"rows[{i}]: {x.message}", x.node, x.field, x.fix, x.code) for x in e.issues)
            specs.append(one)
        if issues:
            raise WorkflowError(issues)
        batch_id = new_id("b")
        jobs = []
        for one in specs:
            one.batch_id = batch_id
            jobs.append(self.submit(one)[0])
        self.store.add_batch(batch_id, spec.owner, [j["id"] for j in jobs])
        return batch_id, jobs

    def start_now(self, spec: JobSpec, listeners: Iterable[Listener] = (),
                  keep_outputs: int | None = None) -> tuple[str, _Live]:
        """Run a job at once on its own thread, not through the queue (the editor: one run per tab).
        It is recorded like any job. Returns its id and its live handle (``cancel``, ``done``,
        ``result``, ``state``). ``keep_outputs``: keep the output files of only this many newest jobs
        from the same source (an editor re-runs after every edit; its history stays, its old files go)."""
        graph = compile_spec(spec, self.registry)
        if keep_outputs is not None:
            self.prune_outputs(spec.source, keep_outputs)
        job_id = new_id("j")
        live = _Live(1)
        live.listeners = list(listeners)
        live.order = list(graph.order)
        with self._lock:
            self._live[job_id] = live
        self._emit(job_id, live, {"event": "job_queued", "job": job_id})
        self._emit(job_id, live, {"event": "job_started", "job": job_id, "attempt": 1})
        self.store.insert(job_id, spec, status="running", runner=self.id)  # with its events, at once
        threading.Thread(target=self._run_job, args=(job_id, spec, graph, live), daemon=True,
                         name=f"reelgraph-job-{job_id}").start()
        return job_id, live

    def job(self, job_id: str) -> dict | None:
        """A job's record, with the live per-node states while it runs here."""
        job = self.store.get(job_id)
        live = self.live(job_id)
        if job is not None and live is not None:
            with self._lock:
                job["state"] = json.loads(json.dumps(live.state, default=str))
        return job

    def prune_outputs(self, source: str, keep: int) -> int:
        """Remove the output files of finished jobs from ``source`` beyond the ``keep`` newest; their
        history entries stay, their outputs are marked ``expired``. Returns how many were pruned."""
        pruned = 0
        for job in self.store.list(source=source, limit=1000, offset=keep):
            folder = self.outputs_dir / job["id"]
            if job["status"] not in FINAL or not folder.exists():
                continue
            shutil.rmtree(folder, ignore_errors=True)
            state = job["state"]
            for entry in (state.get("outputs") or {}).values():
                if "file" in entry:
                    entry["expired"] = True
            self.store.update(job["id"], state=state)
            pruned += 1
        return pruned

    def live(self, job_id: str) -> _Live | None:
        with self._lock:
            return self._live.get(job_id)

    # -- cancelling and deleting
    def cancel(self, job_id: str) -> dict | None:
        """Cancel a queued job at once, a running one at its nodes' next step. None: no such job."""
        job = self.store.get(job_id)
        if job is None:
            return None
        live = self.live(job_id)
        if live is not None and not live.done.is_set():
            live.cancel.cancel()
            return job
        if job["status"] in ("queued", "interrupted"):
            with self._lock:  # a worker taking it now sees the status below and skips it
                job = self.store.get(job_id) or job
                if job["status"] in ("queued", "interrupted"):
                    seq = self.store.last_event(job_id) + 1
                    self.store.add_events(job_id, [(seq, {"event": "job_finished", "job": job_id,
                                                          "status": "cancelled", "time": _now()})])
                    self.store.update(job_id, status="cancelled", finished=_now())
                    job = self.store.get(job_id) or job
            self._wake_early(job_id)
            self._finished(job)
        return job

    def delete(self, job_id: str) -> bool:
        """Remove a finished job's history entry and its outputs; a queued or running one is cancelled
        first. False: no such job."""
        job = self.store.get(job_id)
        if job is None:
            return False
        if job["status"] not in FINAL:
            self.cancel(job_id)
            live = self.live(job_id)
            if live is not None:
                live.done.wait(timeout=60)
        self.store.delete(job_id)
        self._wake_early(job_id)
        shutil.rmtree(self.outputs_dir / job_id, ignore_errors=True)
        return True

    # -- events
    def events(self, job_id: str, after: int = 0) -> list[tuple[int, dict]]:
        """Events of a job with a sequence number above ``after`` (from memory while it runs here)."""
        live = self.live(job_id)
        if live is not None:
            with self._lock:
                mem = [e for e in live.events if e[0] > after]
                first = live.events[0][0] if live.events else live.next_seq
            if after + 1 >= first:
                return mem
            return [e for e in self.store.events(job_id, after) if e[0] < first] + mem
        return self.store.events(job_id, after)

    def add_waker(self, job_id: str, wake: Callable[[], None]) -> bool:
        """Call ``wake`` (from any thread) when the job has a new event: while it runs here, or once
        it starts when it waits in this runner's queue. False when neither (its events are all in
        the store, or another process runs it)."""
        with self._lock:
            live = self._live.get(job_id)
            if live is not None and not live.done.is_set():
                live.wakers.add(wake)
                return True
            if any(queued == job_id for _, _, queued in self._queue):
                self._early.setdefault(job_id, set()).add(wake)
                return True
            return False

    def remove_waker(self, job_id: str, wake: Callable[[], None]) -> None:
        with self._lock:
            live = self._live.get(job_id)
            if live is not None:
                live.wakers.discard(wake)
            early = self._early.get(job_id)
            if early is not None:
                early.discard(wake)
                if not early:
                    del self._early[job_id]

    def _wake_early(self, job_id: str) -> None:
        """Wake whoever waits for a queued job that leaves the queue without starting (cancelled)."""
        with self._lock:
            wakers = self._early.pop(job_id, set())
        for wake in wakers:
            with contextlib.suppress(Exception):
                wake()

    def _emit(self, job_id: str, live: _Live, data: dict) -> int:
        data.setdefault("time", _now())
        with self._lock:
            seq = live.next_seq
            live.next_seq += 1
            live.events.append((seq, data))
            wakers = list(live.wakers)
        self.store.add_events(job_id, [(seq, data)])
        for wake in wakers:
            try:
                wake()
            except Exception:  # a client that went away
                log.debug("a job event waker failed", exc_info=True)
        return seq

    # -- running
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._closing and (self._paused or not self._queue):
                    self._lock.wait()
                if self._closing:
                    return
                _, _, job_id = heapq.heappop(self._queue)
                job = self.store.get(job_id)
                if job is None or job["status"] not in ("queued", "interrupted"):
                    early = self._early.pop(job_id, set())
                    for wake in early:  # cancelled or deleted while it waited
                        with contextlib.suppress(Exception):
                            wake()
                    continue
                live = _Live(self.store.last_event(job_id) + 1)
                live.wakers |= self._early.pop(job_id, set())
                self._live[job_id] = live
                attempt = job["attempts"] + 1
                # the status and the event that says so are written in one transaction: a log never
                # lacks the start of a job the store calls running
                self._emit(job_id, live, {"event": "job_started", "job": job_id, "attempt": attempt})
                self.store.update(job_id, status="running", started=_now(), runner=self.id, attempts=attempt)
            spec = JobSpec.from_record(job)
            try:
                graph = compile_spec(spec, self.registry)
            except WorkflowError as e:  # valid when submitted; a node pack changed since
                live.state["errors"] = [i.to_dict() for i in e.issues]
                self._finish(job_id, live, "failed")
                continue
            self._run_job(job_id, spec, graph, live)

    def _run_job(self, job_id: str, spec: JobSpec, graph: CompiledGraph, live: _Live) -> None:
        nodes = live.state["nodes"] = {n: {"status": "queued"} for n in graph.order}

        def relay(ev: Event) -> None:
            with self._lock:
                _apply(nodes, ev)
            data = ev.to_dict()
            data["job"] = job_id
            if ev.event == "run_finished":
                data.pop("outputs", None)  # the job_finished event carries the delivered outputs
            self._emit(job_id, live, data)
            for listener in live.listeners:
                listener(ev)

        folder = self.outputs_dir / job_id
        status = "failed"
        try:
            result, outputs = execute(graph, self.executor, listeners=[relay], cancel=live.cancel,
                                      workspace=self._workspace(spec),
                                      deliver=lambda r: deliver_to_folder(r, folder))
            live.result = result
            status = _RESULT_STATUS[result.status]
            live.state["outputs"] = outputs or {}
            live.state["errors"] = [_failure_dict(f) for f in result.failures]
            live.state["counts"] = {"ran": len(result.ran), "cached": len(result.cached),
                                    "skipped": len(result.skipped), "seconds": round(result.seconds, 3)}
            if status == "cancelled" and self._closing:
                status = "interrupted"  # the server is stopping: it runs again on the next start
        except Exception as e:  # the cache's disk, the output folder: the job fails and says why
            log.exception("job %s failed outside its nodes", job_id)
            live.state["errors"] = [{"node": None, "field": None, "message": describe(e),
                                     "fix": "check the server's disk and logs, then submit again",
                                     "code": "server"}]
        self._finish(job_id, live, status)

    def _workspace(self, spec: JobSpec) -> Path | None:
        return Path(spec.workspace) if spec.workspace else self.workspace

    def _finish(self, job_id: str, live: _Live, status: str) -> None:
        if status == "interrupted":
            self._emit(job_id, live, {"event": "job_interrupted", "job": job_id,
                                      "message": "the server stopped while it ran; it runs again on restart"})
            self.store.update(job_id, status="interrupted", runner=None, state=live.state)
        else:
            self._emit(job_id, live, {"event": "job_finished", "job": job_id, "status": status,
                                      "outputs": live.state.get("outputs", {}),
                                      "errors": live.state.get("errors", [])})
            self.store.update(job_id, status=status, finished=_now(), state=live.state)
        with self._lock:
            live.done.set()
            wakers = list(live.wakers)
            self._live.pop(job_id, None)
        for wake in wakers:
            with contextlib.suppress(Exception):
                wake()
        if status != "interrupted":
            job = self.store.get(job_id)
            if job is not None:
                self._finished(job)

    def _finished(self, job: dict) -> None:
        for hook in list(self.on_finished):
            try:
                hook(job)
            except Exception:
                log.exception("a job-finished hook failed for %s", job["id"])

    def wait(self, job_id: str, timeout: float | None = None) -> dict | None:
        """Block until the job is final (or ``timeout``); returns its record."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            live = self.live(job_id)
            if live is not None:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                live.done.wait(left)
            job = self.store.get(job_id)
            if job is None or job["status"] in FINAL:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                return job
            time.sleep(0.01)


def _apply(nodes: dict[str, dict], ev: Event) -> None:
    """Fold one executor event into the per-node states of a job."""
    if ev.node is None or ev.node not in nodes:
        return
    st = nodes[ev.node]
    if ev.event == "node_started":
        st["status"] = "running"
    elif ev.event == "node_progress" and ev.progress is not None:
        st["progress"] = round(ev.progress, 4)
    elif ev.event == "node_cached":
        st["status"], st["cached"] = "cached", True
    elif ev.event == "node_finished":
        st["status"] = "cached" if ev.cached else "done"
        st["cached"] = bool(ev.cached)
        st["seconds"] = round(ev.seconds, 4)
        st.pop("progress", None)
    elif ev.event == "node_failed":
        st["status"] = "failed"
        st["error"] = ev.error or {"message": ev.message}
    elif ev.event == "node_skipped":
        st["status"] = "skipped"
        st["message"] = ev.message


def _failure_dict(f) -> dict:
    return {"node": f.node, "field": f.field, "message": f.message, "fix": f.fix, "element": f.element,
            "code": "node"}


# ------------------------------------------------------------------------- records as the API shows them

SUMMARY_KEYS = ("id", "seq", "status", "owner", "priority", "created", "started", "finished", "batch_id", "name",
                "source", "attempts")


def job_summary(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job as a list shows it (docs/api.md, "a summary")."""
    return {k: job.get(k) for k in SUMMARY_KEYS}


def job_detail(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job as ``GET /api/jobs/{id}`` shows it: the summary, per-node states, outputs (with their
    download URL while their files are kept), errors, counts and what it ran."""
    state = job.get("state") or {}
    spec = job.get("spec") or {}
    outputs = {}
    for name, entry in (state.get("outputs") or {}).items():
        entry = dict(entry)
        if "file" in entry and not entry.get("expired"):
            entry["url"] = f"/api/jobs/{job['id']}/outputs/{name}"
        outputs[name] = entry
    return {**job_summary(job), "nodes": state.get("nodes") or {}, "outputs": outputs,
            "errors": state.get("errors") or [], "counts": state.get("counts") or {},
            "workflow": spec.get("workflow") or {}, "overrides": spec.get("overrides") or {},
            "targets": spec.get("targets") or []}


# ---------------------------------------------------------------------------------- outputs

def output_items(result: RunResult) -> list[tuple[str, Any]]:
    """The run's outputs as (name, value): ``node.port``, and ``node.port.N`` for each element of a
    list of media."""
    items: list[tuple[str, Any]] = []
    for node, ports in result.outputs.items():
        for port, value in ports.items():
            ref = f"{node}.{port}"
            if isinstance(value, list) and value and all(isinstance(v, t.MediaRef) for v in value):
                items.extend((f"{ref}.{i}", v) for i, v in enumerate(value))
            else:
                items.append((ref, value))
    return items


def link_or_copy(src: str | os.PathLike, dest: Path) -> None:
    """``dest`` as a hard link to ``src`` (cache media are read-only and never rewritten, so sharing
    the bytes is safe and costs no space), or a copy across file systems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".reelgraph.part")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def deliver_to_folder(result: RunResult, folder: Path) -> dict[str, dict]:
    """Keep a job's outputs in its own folder (they outlive cache eviction); returns the job's
    ``outputs`` record: media as files, other values inline."""
    record: dict[str, dict] = {}
    for name, value in output_items(result):
        if isinstance(value, t.MediaRef):
            file = name + value.ext
            link_or_copy(value.path, folder / file)
            entry = {"type": value.kind, "file": file, "size": value.size, "digest": value.digest,
                     "meta": {k: v for k, v in value.meta.items() if k != "srt"}}
            srt = value.meta.get("srt")
            if srt:  # a captioned video: its SubRip file is an output of its own
                safe_write.write_bytes(folder / (name + ".srt"), srt.encode("utf-8"))
                entry["captions"] = name + ".srt"
            record[name] = entry
        else:
            record[name] = {"type": type(value).__name__ if not isinstance(value, str) else "text",
                            "value": t.encode(value)}
    return record


def default_data_dir() -> Path:
    """Where jobs live: ``$REELGRAPH_DATA_DIR``, else the user data dir (``~/.local/share/reelgraph/jobs``
    on Linux): history is kept, not a cache that may be wiped."""
    env = os.environ.get("REELGRAPH_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("reelgraph", appauthor=False)) / "jobs"
