"""The Python API: the same power as the command line.

    from reelgraph import graph
    wf = graph.load("workflows/outline.json")
    result = graph.run(wf, overrides={"shots.text": "A fox\\nA hare"})
    print(result.outputs)
    for event in graph.iter_events(wf):
        print(event.event, event.node)
"""

from __future__ import annotations

import json
import os
import queue
import reprlib
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import types as t
from . import workflow as wfmod
from .cache import Cache
from .context import CancelToken
from .dispatch import Dispatcher
from .errors import Issue, WorkflowError
from .events import Event, Listener
from .executor import LocalExecutor, PlanEntry, RunResult
from .executor import plan as _plan
from .registry import Registry, default_registry
from .validate import CompiledGraph, compile_workflow
from .validate import validate as _validate
from .workflow import Workflow

WorkflowLike = Workflow | str | os.PathLike | Mapping[str, Any]


def load(source: WorkflowLike) -> Workflow:
    """A workflow from a file path, a JSON string, a dict, or a Workflow (returned as is).

    Raises WorkflowError for anything else, naming what was given.
    """
    if isinstance(source, Workflow):
        return source
    if isinstance(source, Mapping):
        return wfmod.from_dict(dict(source))
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return wfmod.loads(source)
    if (isinstance(source, str) and source.strip()) or isinstance(source, os.PathLike):
        return wfmod.load(source)
    raise WorkflowError(_not_a_workflow(source))


def _not_a_workflow(source: object) -> Issue:
    expected = "give a file path, JSON text, a dict or a Workflow"
    if isinstance(source, str):
        return Issue("cannot read a workflow from an empty string", fix=expected, code="schema")
    given = "None" if source is None else f"{type(source).__name__} {reprlib.repr(source)}"
    if isinstance(source, (bytes, bytearray)):
        expected += " (decode bytes first: data.decode('utf-8'))"
    return Issue(f"cannot read a workflow from {given}", fix=expected, code="schema")


def validate(source: WorkflowLike, registry: Registry | None = None) -> list[Issue]:
    """Every problem in a workflow (empty when valid); never raises for a bad workflow."""
    try:
        wf = load(source)
    except WorkflowError as e:
        return e.issues
    return _validate(wf, registry)


def parse_param_text(port, text: str) -> Any:
    """Read a command-line string as a value of ``port``'s type (``--set node.param=VALUE``)."""
    typ = port.type
    if typ in (t.Text, t.Choice):
        return text
    if typ == t.Bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"cannot read {text!r} as Bool (use true or false)")
    if typ == t.Int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as Int") from None
    if typ == t.Float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as Float") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if typ == t.Any:
            return text
        raise ValueError(f"cannot read {text!r} as {typ}: give JSON") from None


def apply_overrides(wf: Workflow, overrides: Mapping[str, Any], registry: Registry | None = None,
                    *, from_text: bool = False) -> Workflow:
    """A copy of ``wf`` with ``{"node.param": value}`` set. With ``from_text`` values are strings
    (as typed on a command line) read according to each param's type."""
    if not overrides:
        return wf
    reg = registry if registry is not None else default_registry()
    new = wf.copy_with()
    issues: list[Issue] = []
    wired = {e.target for e in wf.edges}
    for ref, value in overrides.items():
        node_id, _, param = ref.partition(".")
        if not param:
            issues.append(Issue(f"override {ref!r} must name node.param", field=ref,
                                fix="write e.g. --set story.text=VALUE", code="override"))
            continue
        entry = new.nodes.get(node_id)
        if entry is None:
            import difflib
            close = difflib.get_close_matches(node_id, list(new.nodes), n=1)
            issues.append(Issue(f"no node {node_id!r} to set {param!r} on", node_id, param,
                                f"did you mean {close[0]!r}?" if close else
                                f"nodes are: {', '.join(new.nodes)}", "override"))
            continue
        spec = reg.get(entry.type)
        port = spec.params.get(param) if spec else None
        if spec is not None and port is None:
            issues.append(Issue(f"{entry.type} has no param {param!r}", node_id, param,
                                f"its params are: {', '.join(spec.params) or 'none'}", "override"))
            continue
        if ref in wired:
            issues.append(Issue("this param is wired from another node, so it cannot be set",
                                node_id, param, "remove the edge into it first", "override"))
            continue
        if from_text and port is not None and isinstance(value, str):
            try:
                value = parse_param_text(port, value)
            except ValueError as e:
                issues.append(Issue(str(e), node_id, param, None, "override"))
                continue
        entry.params[param] = value
    if issues:
        raise WorkflowError(issues, source=wf.source)
    return new


def compile(source: WorkflowLike, overrides: Mapping[str, Any] | None = None,
            registry: Registry | None = None, *, from_text: bool = False) -> CompiledGraph:
    """Load, apply overrides and validate; raises WorkflowError listing every problem."""
    wf = apply_overrides(load(source), overrides or {}, registry, from_text=from_text)
    return compile_workflow(wf, registry)


def open_cache(cache: bool | str | os.PathLike | Cache = True, max_bytes: int | None = None) -> Cache | None:
    """``True``: the default cache dir; a path: that dir; ``False``/``None``: no cache."""
    if isinstance(cache, Cache):
        return cache
    if cache is True:
        return Cache(max_bytes=max_bytes)
    if not cache:
        return None
    return Cache(Path(cache), max_bytes=max_bytes)


def run(source: WorkflowLike, *, overrides: Mapping[str, Any] | None = None,
        cache: bool | str | os.PathLike | Cache = True, registry: Registry | None = None,
        on_event: Listener | None = None, cancel: CancelToken | None = None,
        executor: LocalExecutor | None = None, workspace: str | os.PathLike | None = None,
        engine: str | Dispatcher | None = None, address: str | None = None) -> RunResult:
    """Run a workflow and return its result; node failures are in ``result.failures``.

    ``engine``: where node calls run: ``"local"`` (a thread pool here, the default), ``"ray"`` (a
    Ray cluster at ``address``: ``"auto"``, ``"HOST:PORT"``, or None for a Ray of this process's
    own; needs ``reelgraph[ray]``) or a Dispatcher. Ignored when ``executor`` is given.

    Raises WorkflowError (before anything runs) when the workflow is invalid, ValueError when the
    engine cannot start.
    """
    from .jobs import execute
    graph = compile(source, overrides, registry)
    own = executor is None
    if executor is None:
        options: dict[str, Any] = {"address": address} if address is not None else {}
        c = open_cache(cache)
        try:
            executor = LocalExecutor(c, engine=engine, **options)
        except BaseException:
            if c is not None and not isinstance(cache, Cache):
                c.close()
            raise
    ex = executor
    try:
        # the one run driver: the run's media are leased while it runs, and making room afterwards
        # never takes the outputs the caller is about to read
        result, _ = execute(graph, ex, listeners=[on_event] if on_event else [], cancel=cancel,
                            workspace=workspace)
        return result
    finally:
        if own:
            ex.close()
            if ex.cache is not None and not isinstance(cache, Cache):
                ex.cache.close()


def iter_events(source: WorkflowLike, **kwargs) -> Iterator[Event]:
    """Run a workflow in the background and yield its events as they happen.

    The generator's return value (``StopIteration.value``) is the RunResult. Closing the
    generator early cancels the run.
    """
    q: queue.SimpleQueue = queue.SimpleQueue()
    done = object()
    cancel = kwargs.pop("cancel", None) or CancelToken()
    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = run(source, on_event=q.put, cancel=cancel, **kwargs)
        except BaseException as e:
            box["error"] = e
        finally:
            q.put(done)

    thread = threading.Thread(target=target, name="reelgraph-run", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            yield item
    finally:
        if thread.is_alive():
            cancel.cancel()
            thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def plan(source: WorkflowLike, *, overrides: Mapping[str, Any] | None = None,
         cache: bool | str | os.PathLike | Cache = True, registry: Registry | None = None,
         from_text: bool = False, look_ahead: bool = True,
         workspace: str | os.PathLike | None = None) -> list[PlanEntry]:
    """What ``run`` would do now, without running anything heavy. ``from_text``: as in ``compile``;
    ``workspace``: as in ``run`` (where relative file paths point).

    ``look_ahead``: run instant nodes (parsing, text, numbers) that are not cached so that what
    follows them is judged on exact values (see ``executor.plan``).
    """
    graph = compile(source, overrides, registry, from_text=from_text)
    c = open_cache(cache)
    try:
        return _plan(graph, c, look_ahead=look_ahead, workspace=workspace)
    finally:
        if c is not None and not isinstance(cache, Cache):
            c.close()


def estimate(source: WorkflowLike, *, overrides: Mapping[str, Any] | None = None,
             cache: bool | str | os.PathLike | Cache = True, registry: Registry | None = None,
             from_text: bool = False, workspace: str | os.PathLike | None = None,
             engine: Dispatcher | None = None):
    """What ``run`` would cost now on this machine, without running anything heavy: a
    ``estimates.RunEstimate`` with predicted seconds (and a range), peak RAM and VRAM per node and
    for the whole run, what is cached, and warnings for what will not fit (see graph/estimates.py).
    ``engine``: a Dispatcher whose capacity the run is replayed on (default: this machine's cores,
    one device)."""
    from .estimates import estimate as _estimate
    graph = compile(source, overrides, registry, from_text=from_text)
    c = open_cache(cache)
    dispatcher = engine if isinstance(engine, Dispatcher) else None
    try:
        return _estimate(graph, c, workspace=workspace, dispatcher=dispatcher)
    finally:
        if c is not None and not isinstance(cache, Cache):
            c.close()
