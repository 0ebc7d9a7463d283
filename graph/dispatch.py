"""Where node calls run: the dispatcher half of the executor.

The scheduler (``executor._Run``) decides *what* may run now: dependencies, mapping, caching, events
and resource accounting. A dispatcher decides *where* a call runs and reports back. It is small:

- ``capacity()``: the cores and devices it can run calls on (the scheduler never asks for more);
- ``resolve(cls, values, workspace, keyed=)``: a call's cache-key fingerprint and the models it needs, looked
  up where the call would run (a GPU worker finds its own model files and GPUs, not the head node's);
- ``submit(call, scope)``: run one call and, from any thread, ``scope.report`` exactly one of
  ``("done", call, outputs, cost)``, ``("error", call, exc, traceback)`` or ``("stale", call, bad_refs)``,
  plus any number of ``("event", call, kind, fields)`` before it;
- ``cancel_run(scope)``: the run was cancelled (calls also watch ``scope.cancel``);
- ``close()``.

``ThreadDispatcher`` (engine ``local``) runs calls on a thread pool in this process. Other engines
come from the entry-point group ``reelgraph.engines`` (Ray's is ``reelgraph.ui.cluster``), so nothing
here imports them. ``run_call`` is how any engine runs one call wherever it landed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .context import RunContext
from .errors import Cancelled, NodeError

if TYPE_CHECKING:
    from .cache import ArtifactStore
    from .context import CancelToken
    from .executor import Call, LocalExecutor
    from .models import ModelManager
    from .node import ModelNeed, Node
    from .types import MediaRef
    from .workflow import Workflow

log = logging.getLogger("reelgraph")

ENGINE_GROUP = "reelgraph.engines"  # entry points: name -> a Dispatcher class taking (address=...)


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RunScope:
    """What every call of one run shares, handed to the dispatcher with each call."""

    run_id: str
    workspace: Path
    workflow: Workflow
    cancel: CancelToken
    store: ArtifactStore
    report: Callable[[tuple], None]  # into the run's inbox; safe from any thread


class Dispatcher:
    """Runs node calls somewhere (see the module docstring). Subclass and override ``submit``."""

    name = "dispatcher"

    def bind(self, executor: LocalExecutor) -> None:
        """Called once by the executor that owns this dispatcher (its cache, store and models)."""
        self.executor = executor

    def capacity(self) -> tuple[float, int]:
        """(cores, devices): how much may run at once. A machine without a GPU has one device,
        the CPU, for model calls."""
        return float(available_cpus()), 1

    def resolve(self, cls: type[Node], values: dict, workspace: Path, *,
                keyed: bool = True) -> tuple[str | None, tuple[ModelNeed, ...]]:
        """A call's fingerprint (extra cache-key material; only when ``keyed``) and the models it needs."""
        return resolve_here(cls, values, workspace, keyed)

    def submit(self, call: Call, scope: RunScope) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def cancel_run(self, scope: RunScope) -> None:
        """The run was cancelled: stop its calls at their next progress step."""

    def describe(self) -> str:
        """One line for logs and ``reelgraph run``: where calls run."""
        cpu, gpu = self.capacity()
        return f"{self.name}: {cpu:g} cores, {gpu} device{'s' if gpu != 1 else ''}"

    def close(self) -> None:
        pass


def resolve_here(cls: type[Node], values: dict, workspace: Path, keyed: bool = True):
    """``Dispatcher.resolve`` in this process (a cluster worker calls it too)."""
    models = tuple(cls.models_for(values, workspace) or ())
    return (cls.fingerprint(values, workspace) if keyed else None), models


def missing_in_store(store: ArtifactStore, call: Call) -> list[MediaRef]:
    """The media among ``call``'s inputs that are missing or damaged, checked against ``store``
    alone (a cluster worker has no cache index): bytes against digests once per process."""
    from .cache import media_in
    bad = []
    for ref in media_in(call.kwargs):
        ours = not ref.path or str(store.path_of(ref)) == ref.path
        if not (store.verify(ref) if ours else Path(ref.path).is_file()):
            bad.append(ref)
    return bad


def run_call(call: Call, ctx: RunContext, models: ModelManager,
             missing: Callable[[Call], list[MediaRef]]) -> tuple:
    """Run one call here: ``("done", outputs, cost)``, ``("stale", bad_refs)`` or ``("error", exc, tb)``;
    ``cost`` is what the call took (``measure.Measure.to_dict``: seconds, peak RAM and VRAM).

    Inputs are checked before use: a file deleted by another program, evicted by another process or
    damaged on disk is re-rendered by its producer (``stale``), never read.
    """
    from .executor import normalize_outputs
    from .measure import measure
    cn = call.node
    try:
        ctx.check_cancelled()
        bad = missing(call)
        if bad:
            return ("stale", bad)
        with measure() as cost:
            if call.models:
                t_load = time.perf_counter()
                with models.use(call.models, report=lambda message: ctx.progress(0.0, message)) as loaded:
                    cost.load_seconds = time.perf_counter() - t_load
                    ctx.models = loaded
                    result = cn.spec.cls().run(ctx, **call.kwargs)
            else:
                result = cn.spec.cls().run(ctx, **call.kwargs)
        return ("done", normalize_outputs(cn, result), cost.to_dict())
    except BaseException as e:  # reported, never raised into a pool or a cluster worker
        tb = None
        if not isinstance(e, (NodeError, Cancelled)):
            try:
                tb = traceback.format_exc()
            except Exception:
                tb = None
        return ("error", e, tb)
    finally:
        ctx.cleanup()


class ThreadDispatcher(Dispatcher):
    """Engine ``local``: calls run on a thread pool in this process."""

    name = "local"

    def __init__(self, cpu_slots: float | None = None, gpu_slots: int = 1, max_workers: int | None = None):
        self.cpu_slots = float(cpu_slots) if cpu_slots is not None else float(available_cpus())
        self.gpu_slots = max(1, int(gpu_slots))
        self.max_workers = max_workers or max(32, 4 * available_cpus())
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def capacity(self) -> tuple[float, int]:
        return self.cpu_slots, self.gpu_slots

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="reelgraph-node")
            return self._pool

    def submit(self, call: Call, scope: RunScope) -> None:
        self.pool.submit(self._work, call, scope)

    def _work(self, call: Call, scope: RunScope) -> None:
        ctx = RunContext(node_id=call.node.id, store=scope.store, workspace=scope.workspace,
                         cancel=scope.cancel, element=call.element, workflow=scope.workflow,
                         emit=lambda kind, **kw: scope.report(("event", call, kind, kw)))
        ex = self.executor
        kind, *rest = run_call(call, ctx, ex.models, ex.missing_inputs)
        scope.report((kind, call, *rest))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


def engine_names() -> list[str]:
    """The engines this installation offers: ``local`` and any from the entry-point group."""
    from importlib.metadata import entry_points
    return ["local", *sorted({ep.name for ep in entry_points(group=ENGINE_GROUP)} - {"local"})]


def open_engine(engine: str | Dispatcher | None = None, **options: Any) -> Dispatcher:
    """A dispatcher by name (``local``, ``ray``, or another engine's entry point) or as given.
    ``options`` go to its constructor (``address=`` for Ray). Raises ValueError naming the fix."""
    if isinstance(engine, Dispatcher):
        return engine
    name = (engine or "local").strip().lower()
    if name == "local":
        return ThreadDispatcher(**options)
    from importlib.metadata import entry_points
    found = [ep for ep in entry_points(group=ENGINE_GROUP) if ep.name == name]
    if not found:
        names = ", ".join(engine_names())
        hint = " (pip install 'reelgraph[ray]')" if name == "ray" else ""
        raise ValueError(f"no engine named {name!r}{hint}; engines here: {names}")
    try:
        cls = found[0].load()
    except ImportError as e:
        extra = "pip install 'reelgraph[ray]'" if name == "ray" else f"install the package of engine {name}"
        raise ValueError(f"engine {name!r} cannot load: {e} ({extra})") from None
    return cls(**options)
