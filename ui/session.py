"""The editor's back end, without Gradio: checks graphs, runs them per browser session, relays events.

Everything the browser sends passes through here and gets the same validation as the CLI. A run
executes in its own thread (outside the request); ``Run.states()`` turns its events into the
``run_state`` snapshots the canvas draws (docs/editor-protocol.md). Each browser session (tab) has at
most one run at a time; runs never share state, and each writes only into its own folder under
``runs_dir``, which is the only folder the app serves.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelgraph.graph import (
    Cache,
    CancelToken,
    Event,
    Issue,
    JobRunner,
    JobSpec,
    Registry,
    RunResult,
    Workflow,
    WorkflowError,
    default_data_dir,
    default_registry,
    estimate,
    estimates,
    from_dict,
    load,
    loads,
    looks_like_media,
    open_cache,
    validate,
)
from reelgraph.graph import run as run_workflow
from reelgraph.graph import types as t
from reelgraph.nodes.story import ScriptError, detect_format, edit_shot

from .catalog import build_catalog

log = logging.getLogger(__name__)

MAX_PREVIEWS = 6  # per node: a mapped node over six shots shows all six
TEXT_PREVIEW = 400  # characters
KEEP_RUNS = 30  # run folders kept under runs_dir; older ones are removed when a run starts
KEEP_SESSIONS = 200  # sessions whose last run (statuses, previews) is remembered in memory
# What the browser may hand over. Real workflows are kilobytes (a long storyboard a few hundred):
# the bound keeps one tab from making every check and run hold and copy hundreds of megabytes.
MAX_WORKFLOW = 4 << 20  # bytes of workflow JSON
DEFAULT_MAX_UPLOAD = 1 << 30  # bytes per uploaded file (`reelgraph ui --max-upload`)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_url(path: str | os.PathLike) -> str:
    """The URL (relative to the app root) under which Gradio serves an allowed file."""
    return "gradio_api/file=" + str(Path(path).resolve())


def _node_cost(entry) -> dict:
    """A node's estimate as the canvas shows it before a run (see graph/estimates.py)."""
    return {"seconds": round(entry.seconds, 3), "lo": round(entry.lo, 3), "hi": round(entry.hi, 3),
            "ram_mb": entry.ram_mb, "vram_mb": entry.vram_mb, "calls": entry.calls, "source": entry.source,
            "known": entry.known, "warnings": entry.warnings}


def _say(target: dict, *parts: tuple[str, str, dict] | str, sep: str = " — ") -> None:
    """Set ``target``'s message: in English (the API, the CLI, the history) and as ``say``, the same
    parts as i18n keys with their values (the page words them in its language). A part is
    ``(key, english, values)``, or a plain string that no catalog words (a node id, an error). The
    page joins a run's parts with " — " and a node's with " · ", as ``sep`` does here."""
    target["message"] = sep.join(p if isinstance(p, str) else p[1] for p in parts)
    target["say"] = [p if isinstance(p, str) else [p[0], p[2]] for p in parts]


def _say_more(target: dict, part: tuple[str, str, dict]) -> None:
    """Add a part to what ``target`` already says."""
    before = target.get("message")
    target["say"] = [*(target.get("say") or ([before] if before else [])), [part[0], part[2]]]
    target["message"] = f"{before} — {part[1]}" if before else part[1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _issue(i: Issue) -> dict:
    # ``say``: the message and the fix as [key, values] where the validator worded them (see run states)
    return {"node": i.node, "field": i.field, "message": i.message, "fix": i.fix,
            "say": [list(w) if w else None for w in i.words]}


def _describe(i: Issue) -> str:
    """An issue as one sentence; "workflow:" is left out when it concerns the file as a whole."""
    text = str(i)
    return text if (i.node or i.field) else text.split(": ", 1)[1] if text.startswith("workflow: ") else text


def size_text(n: int) -> str:
    """A byte count as people write it: 1 GiB, 4 MiB, 1.5 KiB, 900 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


def _json_size_over(value: Any, limit: int) -> bool:
    """Whether ``value`` (parsed JSON) would take more than ``limit`` bytes as JSON text; stops
    counting as soon as it does, so a huge graph costs no more than the limit to refuse."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            for k, item in v.items():
                total += len(str(k)) + 2
                stack.append(item)
        elif isinstance(v, (list, tuple)):
            total += 2 + len(v)
            stack.extend(v)
        else:
            total += 8
        if total > limit:
            return True
    return False


_RUN_FOLDER = re.compile(r"[0-9]{8}-[0-9]{6}-[A-Za-z0-9_-]{1,64}")
_WORKFLOW_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}\.json")


def _slug(name: str, default: str = "workflow") -> str:
    s = _SAFE.sub("_", name.strip().lower()).strip("._-")
    return s[:60] or default


def node_signatures(wf: Workflow) -> dict[str, str]:
    """Per node, a digest of everything in the graph its result depends on: its type, version and
    params, and the same of every node upstream with the wires between them (titles and positions
    aside). Equal digests mean the same result from the same input files, so a preview, an output
    or a run's "done" still belongs to the node on the canvas only while its digest is unchanged."""
    into: dict[str, list] = {}
    for e in wf.edges:
        into.setdefault(e.target_node, []).append((e.target_port, e.source_node, e.source_port))
    sigs: dict[str, str] = {}

    def sig(node: str, path: frozenset) -> str:
        if node in sigs:
            return sigs[node]
        entry = wf.nodes.get(node)
        if entry is None or node in path:  # a wire from nowhere, or a loop (validation reports it)
            return "?"
        wires = sorted((port, sig(src, path | {node}), out) for port, src, out in into.get(node, []))
        text = json.dumps([entry.type, entry.version, entry.params, bool(entry.bypass), wires], sort_keys=True,
                          default=str)
        sigs[node] = hashlib.sha256(text.encode()).hexdigest()[:20]
        return sigs[node]

    for node in wf.nodes:
        sig(node, frozenset())
    return sigs


class EditorError(Exception):
    """A request from the browser that cannot be done; the message is shown to the user as is."""


@dataclass
class Run:
    """One run of one session's graph; its thread executes, ``states()`` relays."""

    id: str  # the job id: the run is in the job history (`reelgraph jobs`, the service's API)
    session: str
    folder: Path
    graph_nodes: list[str]
    cancel: CancelToken = field(default_factory=CancelToken)
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    result: RunResult | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    state: dict = field(default_factory=dict)
    output_path: Path | None = None
    outputs: list[Path] = field(default_factory=list)
    output_node: str | None = None  # the node whose video is ``output_path``
    signatures: dict[str, str] = field(default_factory=dict)  # node_signatures of the graph it ran
    abandoned: bool = False  # no page reads its events any more
    targets: list[str] = field(default_factory=list)  # "Run to here": only these and what they need
    other_graph: bool = False  # it ran a graph that was not the canvas's (queued earlier, another seed)

    @property
    def running(self) -> bool:
        return not self.done.is_set()


class Editor:
    """Shared by every session of one app: the registry, the cache, the workspace and the runs."""

    def __init__(self, workspace: str | os.PathLike, runs_dir: str | os.PathLike | None = None,
                 cache: bool | str | os.PathLike | Cache = True, registry: Registry | None = None,
                 max_upload: int = DEFAULT_MAX_UPLOAD, max_workflow: int = MAX_WORKFLOW,
                 data: str | os.PathLike | None = None):
        self.max_upload = max_upload
        self.max_workflow = max_workflow
        self.workspace = Path(workspace).resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.registry = registry or default_registry()
        self.cache = open_cache(cache)
        if runs_dir is None:
            base = self.cache.root if self.cache is not None else Path(self.workspace)
            runs_dir = Path(base) / "editor-runs"
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        # runs are jobs of the one run driver, recorded in the job history that `reelgraph jobs` and
        # the service read; this runner only runs what the editor starts (it takes no queued jobs)
        self.jobs = JobRunner(data if data is not None else default_data_dir(), self.cache, claim=False,
                              registry=self.registry, workspace=self.workspace)
        self.catalog = build_catalog(self.registry)
        self._types = {n["type"] for n in self.catalog["nodes"]}
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}  # session -> its latest run
        # session -> node -> (its signature when they were made, previews of its last run)
        self._previews: dict[str, dict[str, tuple[str, list]]] = {}
        self._latest: dict[str, dict[str, str]] = {}  # session -> node_signatures of its canvas now
        self.showing: dict[str, str] = {}  # session -> the run whose video its player shows (ui/app.py)

    # ------------------------------------------------------------------ reading what the browser sends
    def workflow(self, value: Any) -> Workflow:
        """The browser's graph as a Workflow whose relative paths resolve in the workspace."""
        if isinstance(value, str) and len(value) > self.max_workflow or \
                isinstance(value, dict) and _json_size_over(value, self.max_workflow):
            raise WorkflowError(Issue(f"the workflow is too large for the editor (over {size_text(self.max_workflow)})",
                                      fix="shorten its texts, or run it with `reelgraph run WORKFLOW`"))
        if isinstance(value, str):
            return loads(value, source=str(self.workspace / "editor.json"))
        if not isinstance(value, dict):
            raise WorkflowError(Issue("the editor sent no graph", fix="reload the page"))
        try:
            raw = copy.deepcopy(value)  # migrations may change it; the caller's value stays as sent
        except RecursionError:
            raise WorkflowError(Issue("the workflow is nested too deeply to read",
                                      fix="send a workflow as the editor saves it")) from None
        return from_dict(raw, source=str(self.workspace / "editor.json"))

    def _known_types(self, wf: Workflow) -> None:
        unknown = sorted({n.type for n in wf.nodes.values()} - self._types)
        if unknown:
            raise EditorError(f"this workflow uses node types this reelgraph does not have: {', '.join(unknown)}"
                              " — install the node pack that provides them (see `reelgraph nodes`)")

    # ------------------------------------------------------------------ checking (stale / cached marks)
    def check(self, value: Any, session: str = "") -> dict:
        """``run_state`` for a graph that has just been edited: its issues and what a run would redo."""
        wf: Workflow | None = None
        try:
            wf = self.workflow(value)
            issues = [_issue(i) for i in validate(wf, self.registry)]
        except WorkflowError as e:
            issues = [_issue(i) for i in e.issues]
        sigs = node_signatures(wf) if wf is not None else {}
        if session:
            with self._lock:
                self._latest[session] = sigs
        current = self._runs.get(session)
        if current is not None and current.running:
            # Plan marks would fight the live run's statuses; its own updates keep coming, and
            # what was edited since it started is marked as such (see ``_as_seen``).
            state = self._as_seen(current, copy.deepcopy(current.state))
            state["issues"] = issues
            return state
        nodes: dict[str, dict] = {}
        cost = None
        if not issues and wf is not None:
            cache = self.cache if self.cache is not None else False
            # the plan's marks plus what each node will cost on this machine (graph/estimates.py)
            cost = estimate(wf, cache=cache, registry=self.registry)
            for entry in cost.nodes:
                status = "cached" if entry.status == "cached" else "stale"
                nodes[entry.node] = {"status": status, "message": None if status == "cached" else entry.reason}
                if status == "stale":
                    nodes[entry.node]["estimate"] = _node_cost(entry)
        # A preview shows only on the node that made it: a deleted node's are forgotten (a new node
        # that gets its id starts blank), and an edited node's are marked as from before the change.
        if wf is not None:
            kept = self._previews.get(session, {})
            for node in [n for n in kept if n not in sigs]:
                del kept[node]
            for node, (made_by, pv) in kept.items():
                nodes.setdefault(node, {"status": "idle"})["previews"] = (
                    pv if sigs[node] == made_by else [{**p, "old": True} for p in pv])
        last = self._runs.get(session)
        out = None
        if last is not None and last.output_node and \
                sigs.get(last.output_node) == last.signatures.get(last.output_node):
            out = last.state.get("output")
        stale = sum(1 for n in nodes.values() if n["status"] == "stale")
        state = {"run_id": last.id if last else None, "status": "idle", "nodes": nodes, "issues": issues,
                 "output": out}
        if issues:
            _say(state, ("run.problems", f"{_plural(len(issues), 'problem')} to fix before running",
                         {"n": len(issues)}))
        elif not nodes:
            _say(state, ("run.empty", "Empty canvas: drag nodes from the palette", {}))
        elif stale:
            ready = ("run.ready", f"Ready: {_plural(stale, 'node')} will run, {len(nodes) - stale} cached",
                     {"n": stale, "cached": len(nodes) - stale})
            if cost is not None:
                _say(state, ready, ("run.about", f"about {estimates.fmt_seconds(cost.seconds)} on this machine",
                                    {"time": cost.seconds}))
            else:
                _say(state, ready)
        else:
            _say(state, ("run.all_cached", "Ready: everything is cached", {}))
        if cost is not None and stale:
            state["estimate"] = {"seconds": cost.seconds, "lo": cost.lo, "hi": cost.hi, "ram_mb": cost.ram_mb,
                                 "vram_mb": cost.vram_mb, "warnings": cost.warnings,
                                 "measured_calls": cost.measured_calls}
        return state

    def _issues(self, value: Any) -> list[dict]:
        try:
            wf = self.workflow(value)
        except WorkflowError as e:
            return [_issue(i) for i in e.issues]
        return [_issue(i) for i in validate(wf, self.registry)]

    # ------------------------------------------------------------------ running
    def start(self, value: Any, session: str, targets: list[str] | None = None, canvas: Any = None) -> Run:
        """Validate and start a run for ``session``; raises WorkflowError / EditorError. With
        ``targets`` ("Run to here"), only what those nodes need runs; the rest keep their marks.
        ``canvas`` is the graph on the canvas when it differs from the one run (a run queued
        earlier, a take with another seed): the run's results are judged against it."""
        wf = self.workflow(value)
        try:
            on_canvas = node_signatures(self.workflow(canvas)) if canvas is not None else None
        except WorkflowError:
            on_canvas = None
        self._known_types(wf)
        targets = list(targets or [])
        for node in targets:
            if not isinstance(node, str) or node not in wf.nodes:
                raise EditorError(f"Run to here: there is no node {node!r} in this graph — select a node on the canvas")
        # what a full run would redo, for the nodes this run leaves out (they must not go blank)
        marks = self.check(value, session)["nodes"] if targets else {}
        with self._lock:
            current = self._runs.get(session)
            if current is not None and current.running:
                raise EditorError("a run is already going in this tab — wait for it or press Stop")
            self._prune_runs()
            spec = JobSpec(wf.to_dict(), targets=targets, source="editor", workspace=str(self.workspace),
                           write_files=True)
            run = Run("", session, self.runs_dir, [])
            # compiles the graph (a WorkflowError lists every problem) and starts it
            job_id, live = self.jobs.start_now(spec, listeners=[run.events.put], keep_outputs=KEEP_RUNS)
            run.id, run.cancel, run.graph_nodes = job_id, live.cancel, list(live.order)
            run.signatures = node_signatures(wf)
            self._latest[session] = on_canvas if on_canvas is not None else run.signatures
            run.other_graph = on_canvas is not None and on_canvas != run.signatures
            run.folder = self.runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{job_id}"
            run.folder.mkdir(parents=True)
            # the history shows what made each run, and opens it back onto the canvas
            (run.folder / "workflow.json").write_text(wf.to_json(), encoding="utf-8")
            run.targets = targets
            left_out = {n: st for n, st in marks.items() if n not in set(run.graph_nodes)}
            run.state = {"run_id": job_id, "status": "running",
                         "nodes": {**left_out, **{n: {"status": "queued"} for n in run.graph_nodes}},
                         "issues": [], "output": None}
            _say(run.state, ("run.starting", "Starting…", {}))
            self._runs.pop(session, None)
            self._runs[session] = run  # dicts keep insertion order: the oldest sessions come first
            kept = self._previews.get(session, {})
            self._previews[session] = {n: v for n, v in kept.items() if n in left_out}
            excess = len(self._runs) - KEEP_SESSIONS
            for old in [k for k, r in self._runs.items() if not r.running][:max(excess, 0)]:
                del self._runs[old]
                self._previews.pop(old, None)
                self._latest.pop(old, None)
                self.showing.pop(old, None)

        def wait_for_the_job():
            live.done.wait()
            run.result = live.result
            if run.result is None:  # failed outside its nodes (the cache's disk): the job says why
                errors = live.state.get("errors") or [{"message": "the run crashed"}]
                run.error = RuntimeError(errors[0].get("message"))
            run.events.put(None)
            if run.abandoned:  # no page reads its events
                self._release(run)
            run.done.set()
            if run.abandoned:  # abandoned just now: states() saw it still running
                self._release(run)

        threading.Thread(target=wait_for_the_job, name=f"reelgraph-ui-run-{job_id}", daemon=True).start()
        return run

    def stop(self, session: str) -> bool:
        run = self._runs.get(session)
        if run is None or not run.running:
            return False
        run.cancel.cancel()
        return True

    def states(self, run: Run, interval: float = 0.1) -> Iterator[dict]:
        """Snapshots of ``run.state`` as events arrive (at most one per ``interval``), then the last one."""
        t0 = time.perf_counter()
        last_sent = 0.0
        dirty = True
        finished = False
        try:
            while not finished:
                try:
                    ev = run.events.get(timeout=interval)
                    if ev is None:
                        finished = True
                    else:
                        self._apply(run, ev)
                        dirty = True
                        while True:  # drain what is already there before sending a snapshot
                            try:
                                ev = run.events.get_nowait()
                            except queue.Empty:
                                break
                            if ev is None:
                                finished = True
                                break
                            self._apply(run, ev)
                except queue.Empty:
                    pass
                now = time.perf_counter()
                if dirty and not finished and now - last_sent >= interval:
                    self._say_running(run, now - t0)
                    last_sent, dirty = now, False
                    yield self._as_seen(run, copy.deepcopy(run.state))
            # the job thread marks the run done right after its last event: the final state goes out
            # only then, so a Run pressed on seeing it is never refused as "already going"
            run.done.wait(timeout=30)
            self._finish(run)
            self._release(run)
            yield self._as_seen(run, copy.deepcopy(run.state))
        finally:
            if not finished:  # the browser went away: don't keep computing, nor its events, for nobody
                run.abandoned = True
                run.cancel.cancel()
                if not run.running:
                    self._release(run)

    def _as_seen(self, run: Run, state: dict) -> dict:
        """A run's state as the canvas must show it now: nodes deleted since it started are left
        out, and a node changed since (its params, or anything upstream) that the run finished is
        marked to run again, not "done" with the old settings."""
        now = self._latest.get(run.session)
        if now is None or now == run.signatures:
            return state
        # a queued run (or a take with another seed) ran settings the canvas does not have; a run
        # of the canvas's own graph differs from it only by what was edited while it ran
        key, why = (("other_settings", "ran with other settings than the canvas has (a queued run, or another seed)")
                    if run.other_graph else ("changed_during", "changed during the run"))
        changed = 0
        for node in list(state["nodes"]):
            if node not in now:
                del state["nodes"][node]
            elif now[node] != run.signatures.get(node):
                st = state["nodes"][node]
                if st["status"] in ("done", "cached", "skipped"):
                    st.update(status="stale", progress=None,
                              previews=[{**p, "old": True} for p in st.get("previews") or []])
                    _say(st, (f"run.node_{key}", f"{why}: run again to use the canvas's settings", {}))
                changed += 1
        if run.output_node and now.get(run.output_node) != run.signatures.get(run.output_node):
            state["output"] = None  # the video is the old graph's: the player must not offer it as this one's
        if changed and state["status"] != "running":
            _say_more(state, (f"run.{key}", f"{_plural(changed, 'node')} {why}: run again to use the "
                                             "canvas's settings", {"n": changed}))
        return state

    @staticmethod
    def _release(run: Run) -> None:
        """Drop what only the live run needed: its queued events and every node's values (the page
        keeps its statuses and previews; the API its outputs)."""
        while True:
            try:
                run.events.get_nowait()
            except queue.Empty:
                break
        if run.result is not None and run.result.values:
            run.result = dataclasses.replace(run.result, values={})

    @staticmethod
    def _say_running(run: Run, seconds: float) -> None:
        nodes = run.state["nodes"].values()
        finished = sum(1 for n in nodes if n["status"] in ("done", "cached", "failed", "skipped"))
        running = [k for k, n in run.state["nodes"].items() if n["status"] == "running"]
        counts = {"finished": finished, "total": len(run.state["nodes"])}
        head = (("run.stopping", f"Stopping…: {finished}/{counts['total']} nodes", counts) if run.cancel.cancelled
                else ("run.running", f"Running {seconds:.1f} s: {finished}/{counts['total']} nodes",
                      {**counts, "time": seconds}))
        if running:
            _say(run.state, head, f"{', '.join(running[:3])}{'…' if len(running) > 3 else ''}")
        else:
            _say(run.state, head)

    def _apply(self, run: Run, ev: Event) -> None:
        nodes = run.state["nodes"]
        node = nodes.get(ev.node) if ev.node else None
        if ev.event == "node_started" and node is not None:
            calls = ev.data.get("calls")
            node.update(status="running", progress=0.0, calls=calls, calls_cached=ev.data.get("cached_calls"),
                        calls_done=ev.data.get("cached_calls"), error=None, message=None, warning=None)
        elif ev.event == "node_progress" and node is not None:
            node["status"] = "running"
            node["progress"] = ev.progress
            if node.get("calls") and ev.progress is not None:
                node["calls_done"] = round(ev.progress * node["calls"])
        elif ev.event == "node_finished" and node is not None:
            parts: list = [f"{ev.seconds:.1f} s" if not ev.cached else ("run.from_cache", "from cache", {})]
            if node.get("calls") and node.get("calls_cached") and not ev.cached:
                # a mapped node that redid only some elements says so: "re-rendered 1 of 6"
                redone = node["calls"] - node["calls_cached"]
                parts.insert(0, ("run.redone", f"re-rendered {redone} of {node['calls']}, "
                                 f"{node['calls_cached']} from cache",
                                 {"n": redone, "calls": node["calls"], "cached": node["calls_cached"]}))
            # a warning (auto rendered the draft, a prompt was ignored) stays on the node after it finished
            if node.get("warning"):
                parts.append(node["warning"])
            node.update(status="cached" if ev.cached else "done", progress=None)
            _say(node, *parts, sep=" · ")
            if node.get("calls"):
                node["calls_done"] = node["calls"]
            previews = self._save_previews(run, ev.node, ev.outputs or {})
            if previews:
                node["previews"] = previews
                made_by = run.signatures.get(ev.node, "")
                self._previews.setdefault(run.session, {})[ev.node] = (made_by, previews)
        elif ev.event == "node_failed" and node is not None:
            node.update(status="failed", progress=None, error=ev.error, message=None, say=None)
        elif ev.event == "node_skipped" and node is not None:
            node.update(status="skipped", progress=None, message=ev.message, say=None)
        elif ev.event == "node_warning" and node is not None:
            node["message"] = node["warning"] = ev.message
            node["say"] = None

    def _save_previews(self, run: Run, node: str, outputs: dict[str, Any]) -> list[dict]:
        previews: list[dict] = []
        for port, value in outputs.items():
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if len(previews) >= MAX_PREVIEWS:
                    return previews
                if isinstance(item, t.MediaRef) and item.path and Path(item.path).is_file():
                    suffix = f"-{i + 1}" if isinstance(value, list) else ""
                    dest = run.folder / f"{node}-{port}{suffix}{item.ext}"
                    _place(Path(item.path), dest)
                    previews.append({"kind": item.kind, "url": file_url(dest), "port": port,
                                     "name": dest.name})
                elif isinstance(item, str) and item.strip() and len(items) <= MAX_PREVIEWS and i < 3:
                    text = item if len(item) <= TEXT_PREVIEW else item[:TEXT_PREVIEW] + "…"
                    previews.append({"kind": "text", "text": text, "port": port})
        return previews

    def _finish(self, run: Run) -> None:
        try:
            self._finish_state(run)
        finally:
            self._record(run)

    def _finish_state(self, run: Run) -> None:
        state = run.state
        res = run.result
        if run.error is not None or res is None:
            err = run.error
            state["status"] = "failed"
            if err:
                _say(state, ("run.crashed", "The run crashed", {}), f"{type(err).__name__}: {err}")
            else:
                _say(state, ("run.crashed", "The run crashed", {}))
            return
        state["status"] = {"ok": "done", "failed": "failed", "cancelled": "cancelled"}.get(res.status, res.status)
        for n in state["nodes"].values():
            if n["status"] in ("queued", "running"):
                n.update(status="skipped", progress=None)
        media: list[Path] = []
        producers: list[str] = []
        for node, ports in res.outputs.items():
            for port, value in ports.items():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, t.MediaRef) and item.path and Path(item.path).is_file():
                        media.append(run.folder / f"{node}-{port}{item.ext}" if not isinstance(value, list)
                                     else run.folder / f"{node}-{port}-{len(media) + 1}{item.ext}")
                        producers.append(node)
                        _place(Path(item.path), media[-1])
        run.outputs = media
        videos = [(m, n) for m, n in zip(media, producers, strict=True)
                  if m.suffix.lower() in (".mp4", ".webm", ".mov", ".mkv", ".m4v")]
        if videos:
            run.output_path, run.output_node = videos[-1]
            state["output"] = {"kind": "video", "url": file_url(run.output_path), "name": run.output_path.name,
                               "node": run.output_node}
        s = res.seconds
        if res.status == "ok":
            _say(state, ("run.done", f"Done in {s:.1f} s: {len(res.ran)} ran, {len(res.cached)} cached",
                         {"time": s, "ran": len(res.ran), "cached": len(res.cached)}))
        elif res.status == "cancelled":
            n = len(res.ran) + len(res.cached)
            _say(state, ("run.stopped", f"Stopped after {s:.1f} s: {n} nodes finished (kept in the cache)",
                         {"time": s, "n": n}))
        else:
            _say(state, ("run.failed", f"Failed: {res.failures[0]}", {"error": str(res.failures[0])}))

    def _record(self, run: Run) -> None:
        """The run's line in the history, beside its files (written once, when it ends)."""
        state = run.state
        res = run.result
        record = {"id": run.id, "status": state.get("status"), "message": state.get("message"),
                  "seconds": round(res.seconds, 3) if res is not None else None,
                  "targets": run.targets, "video": run.output_path.name if run.output_path else None,
                  "outputs": [p.name for p in run.outputs]}
        try:
            tmp = run.folder / ".run.json.tmp"
            tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, run.folder / "run.json")
        except OSError as e:  # the history loses one line; the run's results are unaffected
            log.warning("could not record run %s: %s", run.id, e)

    def history(self, limit: int = KEEP_RUNS) -> list[dict]:
        """Past runs, the newest first: what ran, how it ended, its video and files."""
        out = []
        started = {}
        for p in self.runs_dir.glob("*-*"):
            try:
                started[p] = (p / "workflow.json").stat().st_mtime_ns  # two runs in one second keep their order
            except OSError:
                continue  # not a run of the editor (or being removed)
        for folder in sorted(started, key=lambda p: (started[p], p.name), reverse=True)[:limit]:
            wf_file = folder / "workflow.json"
            try:
                record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                live = next((r for r in self._runs.values() if r.folder == folder and r.running), None)
                record = {"status": "running" if live else "unfinished", "message": "", "outputs": []}
            try:
                name = json.loads(wf_file.read_text(encoding="utf-8")).get("name") or ""
            except (OSError, ValueError):
                name = ""
            files = [folder / n for n in record.get("outputs") or [] if (folder / n).is_file()]
            video = folder / record["video"] if record.get("video") else None
            out.append({"id": folder.name.rsplit("-", 1)[-1], "run": folder.name, "name": name,
                        "status": record.get("status"), "message": record.get("message") or "",
                        "seconds": record.get("seconds"), "targets": record.get("targets") or [],
                        "started": wf_file.stat().st_mtime,
                        "video": {"url": file_url(video), "name": video.name} if video and video.is_file() else None,
                        "files": [{"name": f.name, "url": file_url(f)} for f in files]})
        return out

    def open_run(self, run: Any) -> dict:
        """The workflow a past run ran, to open back onto the canvas."""
        if not isinstance(run, str) or not _RUN_FOLDER.fullmatch(run):
            return {"ok": False, "error": f"no run {run!r} in the history"}
        path = self.runs_dir / run / "workflow.json"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return {"ok": False,
                    "error": f"the run {run} is no longer in the history (only the last {KEEP_RUNS} are kept)"}
        res = self.open_text(text, f"the run of {run}")
        if res.get("ok"):
            res["message"] = f"Opened the workflow of the run {run}"
        return res

    def _prune_runs(self) -> None:
        active = {r.folder for r in self._runs.values() if r.running}
        folders = sorted((p for p in self.runs_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
        for p in folders[:-KEEP_RUNS] if len(folders) > KEEP_RUNS else []:
            if p not in active:
                shutil.rmtree(p, ignore_errors=True)

    def run_blocking(self, value: Any, session: str) -> tuple[Run, dict]:
        """Run to the end (the headless API): the run and its final state."""
        run = self.start(value, session)
        last = collections.deque(self.states(run, interval=0.5), maxlen=1)
        return run, last[0] if last else run.state

    # ------------------------------------------------------------------ files
    def _uploaded(self, path: Any, upload_root: str | os.PathLike, name: str = "") -> Path:
        """A path the browser got from ``upload()``: it must lie in Gradio's upload folder, and be
        no larger than the upload limit (Gradio enforces it too; this holds for any way in)."""
        if not isinstance(path, str) or not path:
            raise EditorError("no file was sent")
        try:
            p = Path(path).resolve()
            ok = Path(upload_root).resolve() in p.parents and p.is_file()
        except (OSError, ValueError):  # a NUL byte, a loop of links
            ok = False
        if not ok:
            raise EditorError("that file was not uploaded through the editor — use Open or drop the file")
        size = p.stat().st_size
        if size > self.max_upload:
            raise EditorError(f"{name or p.name} is {size_text(size)}, over the editor's upload limit of "
                              f"{size_text(self.max_upload)} — start it with a larger --max-upload "
                              "(or $REELGRAPH_MAX_UPLOAD)")
        return p

    def _graph_payload(self, wf: Workflow, message: str) -> dict:
        self._known_types(wf)
        return {"ok": True, "graph": wf.to_dict(), "message": message}

    def open_text(self, text: Any, name: str = "workflow.json") -> dict:
        if not isinstance(text, str) or not text.strip():
            return {"ok": False, "error": f"{name}: the file is empty"}
        if len(text) > self.max_workflow:
            return {"ok": False, "error": f"{name} is too large for a workflow (over {size_text(self.max_workflow)})"}
        try:
            wf = loads(text)
            return self._graph_payload(wf, f"Opened {name}")
        except WorkflowError as e:
            return {"ok": False, "error": f"{name} is not a reelgraph workflow: "
                                          + "; ".join(_describe(i) for i in e.issues[:3])}
        except EditorError as e:
            return {"ok": False, "error": f"{name}: {e}"}

    def open_file(self, path: Any, name: str, upload_root: str | os.PathLike) -> dict:
        try:
            p = self._uploaded(path, upload_root, name)
        except EditorError as e:
            return {"ok": False, "error": str(e)}
        name = name or p.name
        if Path(name).suffix.lower() == ".json" or p.suffix.lower() == ".json":
            if p.stat().st_size > self.max_workflow:
                return {"ok": False, "error": f"{name} is too large for a workflow (over "
                                              f"{size_text(self.max_workflow)})"}
            try:
                return self.open_text(p.read_text(encoding="utf-8"), name)
            except UnicodeDecodeError:
                return {"ok": False, "error": f"{name} is not a text file, so not a workflow"}
        if not looks_like_media(p) and not looks_like_media(name):
            return {"ok": False, "error": f"{name}: open a workflow (.json) or a PNG/MP4/WebM made by reelgraph"}
        try:
            wf = load(p)
        except WorkflowError as e:
            return {"ok": False, "error": f"{name}: " + "; ".join(i.message for i in e.issues[:2])}
        except (OSError, ValueError) as e:
            return {"ok": False, "error": f"{name}: cannot read it ({e})"}
        try:
            return self._graph_payload(wf, f"Restored the workflow embedded in {name}")
        except EditorError as e:
            return {"ok": False, "error": f"{name}: {e}"}

    def save(self, value: Any) -> dict:
        try:
            wf = self.workflow(value)
        except WorkflowError as e:
            return {"ok": False, "error": "cannot save: " + "; ".join(_describe(i) for i in e.issues[:3])}
        issues = [_issue(i) for i in validate(wf, self.registry)]
        return {"ok": True, "text": wf.to_json(), "name": _slug(wf.name) + ".json", "issues": issues}

    # ------------------------------------------------------------------ workflows kept in the workspace
    # They sit at the workspace's top, beside uploads/ and media/, so their relative paths mean the
    # same to `reelgraph run WORKSPACE/NAME.json` as to the editor.
    def workspace_workflows(self, limit: int = 200) -> list[dict]:
        """The workspace's workflows, the most recently saved first."""
        files = sorted((p for p in self.workspace.glob("*.json") if p.is_file()),
                       key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
        out = []
        for p in files:
            try:
                if p.stat().st_size > self.max_workflow:
                    continue
                wf = loads(p.read_text(encoding="utf-8"), source=str(p))
            except (OSError, ValueError, WorkflowError):
                continue  # not a workflow (or not readable): not offered
            out.append({"file": p.name, "name": wf.name or p.stem, "nodes": len(wf.nodes),
                        "modified": p.stat().st_mtime})
        return out

    def _workspace_file(self, file: Any) -> Path:
        if not isinstance(file, str) or not _WORKFLOW_FILE.fullmatch(file):
            raise EditorError(f"{file!r} is not a workflow file name: letters, digits, '.', '_' and '-', "
                              "ending in .json")
        return self.workspace / file

    def save_workflow(self, value: Any, file: Any = None, overwrite: bool = False) -> dict:
        """Save the canvas into the workspace as FILE (default: named after the workflow). A new
        name that is already taken is refused unless ``overwrite``: nothing is replaced by surprise."""
        try:
            wf = self.workflow(value)
        except WorkflowError as e:
            return {"ok": False, "error": "cannot save: " + "; ".join(_describe(i) for i in e.issues[:3])}
        try:
            path = self._workspace_file(file or _slug(wf.name) + ".json")
        except EditorError as e:
            return {"ok": False, "error": str(e)}
        if path.exists() and not overwrite:
            return {"ok": False, "exists": True, "file": path.name,
                    "error": f"{path.name} is already in the workspace: choose another name, or replace it"}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(wf.to_json(), encoding="utf-8")
        os.replace(tmp, path)  # a crash mid-write leaves the last save whole
        issues = [_issue(i) for i in validate(wf, self.registry)]
        return {"ok": True, "file": path.name, "path": str(path), "issues": issues}

    def open_workflow(self, file: Any) -> dict:
        try:
            path = self._workspace_file(file)
            text = path.read_text(encoding="utf-8")
        except EditorError as e:
            return {"ok": False, "error": str(e)}
        except OSError:
            return {"ok": False, "error": f"{file} is no longer in the workspace"}
        res = self.open_text(text, path.name)
        if res.get("ok"):
            res["file"] = path.name
        return res

    # ------------------------------------------------------------------------------ the storyboard view
    STORY_TYPE = "story.parse_storyboard"

    def storyboard(self, value: Any, node: Any = None) -> dict:
        """The shots of a storyboard node as its own parser reads them (durations, cameras and
        seeds resolved), for the storyboard view."""
        try:
            wf = self.workflow(value)
        except WorkflowError as e:
            return {"ok": False, "error": "; ".join(_describe(i) for i in e.issues[:3])}
        data = wf.to_dict()
        boards = [n for n, entry in data["nodes"].items() if entry.get("type") == self.STORY_TYPE]
        if not boards:
            return {"ok": False, "boards": [], "error": "No storyboard on the canvas: add a Parse Storyboard node "
                                                         "(Story) and write the shots in its script"}
        node = node if node in boards else boards[0]
        alone = {**data, "nodes": {node: data["nodes"][node]}, "edges": []}
        try:
            result = run_workflow(alone, cache=False, registry=self.registry, workspace=self.workspace)
        except WorkflowError as e:
            return {"ok": False, "boards": boards, "node": node, "error": "; ".join(_describe(i) for i in e.issues[:3])}
        if result.failures:
            f = result.failures[0]
            return {"ok": False, "boards": boards, "node": node,
                    "error": f"{f.message}" + (f" — {f.fix}" if f.fix else "")}
        params = data["nodes"][node].get("params") or {}
        fmt = params.get("format") or "auto"
        script = params.get("script") or ""
        editable = (detect_format(script) if fmt == "auto" else fmt) == "text"
        shots = [{"number": i + 1, "prompt": s.prompt, "duration": s.duration, "camera": s.camera,
                  "transition": s.transition, "narration": s.narration, "seed": s.seed}
                 for i, s in enumerate(result.outputs[node]["shots"])]
        return {"ok": True, "boards": boards, "node": node, "editable": editable, "shots": shots}

    def edit_shot(self, value: Any, node: Any, shot: Any, key: Any, new: Any) -> dict:
        """The storyboard node's script with one field of one shot changed (nothing else moves)."""
        try:
            wf = self.workflow(value)
        except WorkflowError as e:
            return {"ok": False, "error": "; ".join(_describe(i) for i in e.issues[:3])}
        entry = wf.to_dict()["nodes"].get(node) if isinstance(node, str) else None
        if entry is None or entry.get("type") != self.STORY_TYPE:
            return {"ok": False, "error": f"no storyboard node {node!r} on the canvas"}
        script = (entry.get("params") or {}).get("script") or ""
        if not isinstance(key, str) or isinstance(new, (dict, list)):
            return {"ok": False, "error": "a shot field is set to one value"}
        try:
            out = edit_shot(script, shot, key, new)
        except ScriptError as e:
            return {"ok": False, "error": f"shot {shot}, {key}: {e.message}" + (f" — {e.fix}" if e.fix else "")}
        return {"ok": True, "script": out}

    def import_media(self, path: Any, name: str, upload_root: str | os.PathLike, url: str | None = None) -> dict:
        """Copy an uploaded file into the workspace's uploads/ and return the param value for it."""
        try:
            p = self._uploaded(path, upload_root, name)
        except EditorError as e:
            return {"ok": False, "error": str(e)}
        h = hashlib.sha256()
        with open(p, "rb") as f:  # in pieces: a 1 GB video must not be read into memory at once
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()[:10]
        clean = _slug(Path(name or p.name).stem, "file") + Path(name or p.name).suffix.lower()
        dest = self.workspace / "uploads" / f"{digest}-{clean}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copyfile(p, dest)
        return {"ok": True, "value": dest.relative_to(self.workspace).as_posix(), "url": url}

    # ------------------------------------------------------------------ autosave (never lose work)
    _CLIENT = re.compile(r"[A-Za-z0-9-]{8,64}")

    def _autosave_path(self, client: Any) -> Path | None:
        if not isinstance(client, str) or not self._CLIENT.fullmatch(client):
            return None
        return self.workspace / ".reelgraph" / "autosave" / f"{client}.json"

    def autosave(self, client: Any, graph: Any, base: Any = "") -> dict:
        """Keep one browser's canvas in the workspace, as it is (problems and all: it is work in
        progress), to be restored after a reload or a crash."""
        path = self._autosave_path(client)
        if path is None:
            return {"ok": False, "error": "no autosave without a browser id"}
        if not isinstance(graph, dict) or _json_size_over(graph, self.max_workflow):
            return {"ok": False, "error": f"not autosaved: the workflow is over {size_text(self.max_workflow)}"}
        base_text = base if isinstance(base, str) and len(base) <= self.max_workflow else ""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"graph": graph, "base": hashlib.sha256(base_text.encode()).hexdigest(),
                                   "saved_at": time.time()}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # a crash mid-write leaves the last autosave whole
        return {"ok": True}

    def restore(self, client: Any, base: Any = "") -> dict:
        """This browser's autosave, if it was made on the same starting graph the page has now
        (`reelgraph ui other.json` does not bring back a different workflow's work)."""
        path = self._autosave_path(client)
        if path is None or not path.is_file():
            return {"ok": False}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"ok": False}
        base_text = base if isinstance(base, str) else ""
        if not isinstance(data, dict) or data.get("base") != hashlib.sha256(base_text.encode()).hexdigest():
            return {"ok": False}
        return {"ok": True, "graph": data.get("graph"), "saved_at": data.get("saved_at")}

    def examples(self) -> list[dict]:
        from reelgraph import workflows
        out = []
        for name in workflows.names():
            try:
                title = load(workflows.path(name)).name or name
            except WorkflowError:
                continue
            out.append({"id": name, "title": title})
        first = [e for e in out if e["id"] == "storyboard_to_clip"]
        return first + [e for e in out if e["id"] != "storyboard_to_clip"]

    def load_example(self, example_id: Any) -> dict:
        from reelgraph import workflows
        if not isinstance(example_id, str) or example_id not in workflows.names():
            return {"ok": False, "error": f"no example named {example_id!r}"}
        src = workflows.path(example_id)
        wf = load(src)
        # Examples name their media relative to their own folder; give the workspace a copy.
        media = src.parent / "media"
        if media.is_dir():
            for f in media.iterdir():
                dest = self.workspace / "media" / f.name
                if f.is_file() and not dest.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, dest)
        return self._graph_payload(wf, f"Opened the example “{wf.name or example_id}”")


def _place(src: Path, dest: Path) -> None:
    """Put a cached file into a run folder: a hard link where possible (no copy), else a copy."""
    if dest.exists():
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
