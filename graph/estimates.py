"""Estimates before a run: seconds and peak memory per node and for the whole run, with a range.

How a prediction is made, per call a run would make (cached calls cost nothing):

1. **Cost drivers.** Every call's inputs and outputs are boiled down to a few numbers that drive
   its cost (``drivers``): pixels × frames of the video it makes (or reads), pixels of an image,
   seconds of audio, characters of text, denoising steps, plus a key naming what runs it (backend,
   model). The same function reads real outputs after a call and *sketched* outputs before one:
   a node says what it will make (``Node.sketch``: a 1280×720 image, 96 frames at 24 fps...)
   without making it, so the drivers of calls downstream of uncomputed nodes are known too.
2. **Measurements.** Every call that runs records its drivers, wall seconds, peak RAM and peak VRAM
   (``Measurements``: an SQLite file beside the cache; ``graph.measure`` takes them).
3. **A model per node type.** For the calls of one node type and key measured on this machine,
   seconds ≈ overhead + rate × work (non-negative least squares; only the rate when every
   measured call had the same work), with a range from how far the measurements scatter around it.
4. **A prior** for what never ran here: ``Node.estimate_prior`` (model nodes answer from the
   shipped per-preset table, scaled to steps, pixels and frames and to this GPU), else a guess
   marked as one.
5. **The whole run** is a replay of the scheduler on the predicted calls: dependencies, the
   machine's cores and one model call per device at a time, so concurrency is counted.

Warnings say before a run when it will not fit in VRAM or RAM, and which setting fixes it.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
import sqlite3
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import types as t
from .dispatch import Dispatcher
from .errors import NodeError

log = logging.getLogger("reelgraph")

SKETCH = "sketch"  # the digest of a media ref that stands for a file not made yet
MIN_SPREAD = 0.2  # the narrowest range we claim: ±20 %
FIXED_SHARE_REST = 0.75  # of a call measured at one size only, the share that scales with its work
PRIOR_SPREAD = 0.5  # a table figure scaled to this call: ±50 %
GUESS_SECONDS = 2.0  # a call of a node never measured and without a table figure
MODEL_GUESS_SECONDS = 30.0  # the same for a model call (a generation): an order of magnitude, no more


# -- sketches: media not made yet ------------------------------------------------------------------

def sketch_media(kind: str, **meta: Any) -> t.MediaRef:
    """A stand-in for a file a node will make: its kind and metadata (width, height, frames, fps,
    duration...), no bytes. Estimates read it like a real ref."""
    ext = {"image": ".png", "video": ".mp4", "audio": ".wav"}[kind]
    return t.MediaRef(kind, SKETCH, ext, 0, meta={k: v for k, v in meta.items() if v is not None})


def is_sketch(value: Any) -> bool:
    if isinstance(value, t.MediaRef):
        return value.digest == SKETCH
    if isinstance(value, (list, tuple)):
        return any(is_sketch(v) for v in value)
    if isinstance(value, Mapping):
        return any(is_sketch(v) for v in value.values())
    return False


def _placeholder(typ: t.PortType) -> Any:
    if typ.is_list:
        return []
    return {t.Text: "", t.Choice: "", t.Int: 0, t.Float: 0.0, t.Bool: False}.get(typ)


def _medias(value: Any, kind: str) -> list[t.MediaRef]:
    if isinstance(value, t.MediaRef):
        return [value] if value.kind == kind else []
    if isinstance(value, (list, tuple)):
        return [m for v in value for m in _medias(v, kind)]
    return []


def passthrough(kind: str, values: Mapping[str, Any]) -> t.MediaRef | None:
    """What a node that edits media (captions, mux, save) makes: the media of ``kind`` it reads,
    joined end to end when it reads several (concatenation)."""
    found = [m for v in values.values() for m in _medias(v, kind)]
    if not found:
        return None
    first = dict(found[0].meta)
    if len(found) > 1 and kind in ("video", "audio"):
        first["duration"] = sum(float(m.meta.get("duration") or 0) for m in found)
        if kind == "video":
            first["frames"] = sum(int(m.meta.get("frames") or 0) for m in found)
    return sketch_media(kind, **first)


def sketch_outputs(spec, values: Mapping[str, Any]) -> dict[str, Any]:
    """What a call with ``values`` will output, as far as it can be told without running it: the
    node's own ``sketch``, then media passed through, then typed placeholders."""
    try:
        made = dict(spec.cls.sketch(dict(values)) or {})
    except Exception:  # a sketch is a guess; a broken one must not break planning
        log.debug("sketch of %s failed", spec.type, exc_info=True)
        made = {}
    out: dict[str, Any] = {}
    for name, port in spec.outputs.items():
        if name in made:
            out[name] = made[name]
            continue
        typ = port.type
        kind = next((k for k, v in t.MEDIA_KINDS.items() if v == typ.name), None)
        if kind is not None:
            out[name] = passthrough(kind, values) or sketch_media(kind)
        elif typ.is_list and typ.item.is_media:
            kind = next(k for k, v in t.MEDIA_KINDS.items() if v == typ.item.name)
            out[name] = _medias(list(values.values()), kind) or []
        else:
            out[name] = _placeholder(typ)
    return out


# -- cost drivers ------------------------------------------------------------------------------------

def _volume(value: Any, acc: dict[str, float]) -> None:
    if isinstance(value, t.MediaRef):
        m = value.meta
        w, h = float(m.get("width") or 0), float(m.get("height") or 0)
        if value.kind == "video":
            frames = float(m.get("frames") or 0) or float(m.get("duration") or 0) * float(m.get("fps") or 0)
            acc["video"] += w * h * frames
            acc["frames"] += frames
            if m.get("sample_rate") or m.get("has_audio"):
                acc["audio"] += float(m.get("duration") or 0)
        elif value.kind == "image":
            acc["image"] += w * h
        else:
            acc["audio"] += float(m.get("duration") or 0)
    elif isinstance(value, str):
        acc["chars"] += len(value)
    elif isinstance(value, (list, tuple)):
        acc["items"] += len(value)
        for v in value:
            _volume(v, acc)
    elif isinstance(value, t.ShotValue):
        acc["chars"] += len(value.prompt or "")


def volume(values: Mapping[str, Any]) -> dict[str, float]:
    acc = dict.fromkeys(("video", "frames", "image", "audio", "chars", "items"), 0.0)
    for v in values.values():
        _volume(v, acc)
    return acc


def drivers(spec, values: Mapping[str, Any], outputs: Mapping[str, Any],
            models: Iterable = ()) -> tuple[str, dict[str, float]]:
    """(key, drivers) of one call: the key names what runs it (backend, models), the drivers are
    the numbers its cost grows with. ``work`` is the one the fit uses: pixels × frames of video
    made (else read), else pixels of images, else seconds of audio, else characters, times the
    denoising steps when the call sets them."""
    made, read = volume(outputs), volume({k: v for k, v in values.items() if k not in spec.params})
    d: dict[str, float] = {f"out_{k}": v for k, v in made.items() if v}
    d.update({f"in_{k}": v for k, v in read.items() if v})
    for k in ("video", "image", "audio"):
        if made[k] or read[k]:
            d["work"] = made[k] or read[k]
            d["work_kind"] = {"video": 1.0, "image": 2.0, "audio": 3.0}[k]
            break
    else:
        d["work"] = max(1.0, made["chars"] or read["chars"])
        d["work_kind"] = 4.0
    steps = values.get("steps")
    if isinstance(steps, (int, float)) and not isinstance(steps, bool) and steps > 0:
        d["steps"] = float(steps)
        d["work"] *= float(steps)
    try:
        extra = spec.cls.cost_drivers(dict(values), dict(outputs)) or {}
        d.update({k: float(v) for k, v in extra.items()})
    except Exception:
        log.debug("cost_drivers of %s failed", spec.type, exc_info=True)
    model_ids = ",".join(sorted(getattr(m, "id", str(m)) for m in models))
    backend = values.get("backend")
    key = f"{backend if isinstance(backend, str) else ''}|{model_ids}"
    return key, d


# -- measurements --------------------------------------------------------------------------------------

@dataclass
class CostRecord:
    type: str
    key: str
    drivers: dict[str, float]
    seconds: float
    load_seconds: float = 0.0
    ram_mb: float = 0.0
    vram_mb: float | None = None
    device: str = "cpu"
    at: float = 0.0


class Measurements:
    """Every measured call, per machine: an SQLite file (by default beside the cache). At most
    ``keep`` calls per (node type, key) are kept: the newest."""

    def __init__(self, path: str | os.PathLike, keep: int = 400):
        self.path = Path(path)
        self.keep = keep
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("pragma journal_mode=wal")
        db.execute("create table if not exists calls (id integer primary key, type text, key text, "
                   "drivers text, seconds real, load_seconds real, ram_mb real, vram_mb real, "
                   "device text, at real)")
        db.execute("create index if not exists calls_type on calls(type, key, id)")
        return db

    def add(self, records: Iterable[CostRecord]) -> None:
        rows = [(r.type, r.key, json.dumps(r.drivers, sort_keys=True), r.seconds, r.load_seconds,
                 r.ram_mb, r.vram_mb, r.device, r.at or time.time()) for r in records]
        if not rows:
            return
        with self._lock:
            try:
                db = self._db()
                try:
                    with db:
                        db.executemany("insert into calls (type, key, drivers, seconds, load_seconds, "
                                       "ram_mb, vram_mb, device, at) values (?,?,?,?,?,?,?,?,?)", rows)
                        for typ, key in {(r[0], r[1]) for r in rows}:
                            db.execute("delete from calls where type=? and key=? and id not in (select id "
                                       "from calls where type=? and key=? order by id desc limit ?)",
                                       (typ, key, typ, key, self.keep))
                finally:
                    db.close()
            except (sqlite3.Error, OSError) as e:  # measuring must never fail a run
                log.warning("could not record call costs in %s: %s", self.path, e)

    def of(self, types: Iterable[str]) -> dict[str, list[CostRecord]]:
        """The kept records of these node types, oldest first, by type."""
        types = sorted(set(types))
        out: dict[str, list[CostRecord]] = {typ: [] for typ in types}
        if not self.path.exists() or not types:
            return out
        try:
            db = self._db()
            try:
                marks = ",".join("?" * len(types))
                rows = db.execute(f"select type, key, drivers, seconds, load_seconds, ram_mb, vram_mb, device, "
                                  f"at from calls where type in ({marks}) order by id", types).fetchall()
            finally:
                db.close()
        except (sqlite3.Error, OSError) as e:
            log.warning("could not read call costs from %s: %s", self.path, e)
            return out
        for typ, key, drv, sec, load, ram, vram, dev, at in rows:
            out[typ].append(CostRecord(typ, key, json.loads(drv), sec, load or 0.0, ram or 0.0, vram, dev, at))
        return out

    def count(self) -> int:
        if not self.path.exists():
            return 0
        try:
            db = self._db()
            try:
                return int(db.execute("select count(*) from calls").fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:
            return 0

    def clear(self) -> None:
        with self._lock:
            try:
                db = self._db()
                try:
                    with db:
                        db.execute("delete from calls")
                finally:
                    db.close()
            except sqlite3.Error as e:
                log.warning("could not clear %s: %s", self.path, e)


def measurements_for(cache) -> Measurements | None:
    """The measurements kept beside ``cache`` (a Cache), or at ``$REELGRAPH_MEASUREMENTS``."""
    env = os.environ.get("REELGRAPH_MEASUREMENTS")
    if env:
        return Measurements(env)
    root = getattr(cache, "root", None)
    if root is None or getattr(cache, "read_only", False):
        return None
    return Measurements(Path(root) / "measurements.db")


# -- the fitted model --------------------------------------------------------------------------------

@dataclass
class Prior:
    """What a node can say about a call it never ran here (``Node.estimate_prior``)."""

    seconds: float | None = None  # the call, model loading excluded
    load_seconds: float = 0.0  # loading its model, once per run
    vram_mb: float | None = None
    ram_mb: float | None = None
    spread: float = PRIOR_SPREAD
    source: str = ""
    model: str = ""  # the model it would load (a model call holds a device, and loads once per run)
    warnings: list[dict] = field(default_factory=list)  # {"message", "fix"}


@dataclass
class Fit:
    overhead: float
    rate: float
    spread_lo: float  # predicted × (1 - spread_lo) .. × (1 + spread_hi)
    spread_hi: float
    n: int
    ram_mb: float
    vram_mb: float | None
    load_seconds: float
    typical: float = 0.0  # the median measured call, for calls whose size is unknown

    def seconds(self, work: float | None) -> float:
        return self.typical if work is None else self.overhead + self.rate * work


def fit(records: list[CostRecord]) -> Fit | None:
    """seconds = overhead + rate × work over measured calls (both ≥ 0)."""
    pts = [(float(r.drivers.get("work", 1.0)), max(0.0, r.seconds - r.load_seconds)) for r in records]
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    lo_x, hi_x = min(xs), max(xs)
    overhead, rate = 0.0, 0.0
    if len(pts) >= 3 and lo_x > 0 and hi_x / lo_x >= 1.3:
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        rate = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
        overhead = my - rate * mx
        if rate < 0:
            rate, overhead = 0.0, my
        elif overhead < 0:
            overhead, rate = 0.0, sum(x * y for x, y in pts) / sum(x * x for x in xs)
    else:
        # all calls did about the same work: time mostly scales with work, and a quarter of a call
        # is taken as fixed cost (starting ffmpeg, opening files) until calls of other sizes are measured
        rate = FIXED_SHARE_REST * statistics.median(y / x for x, y in pts if x > 0) if any(x > 0 for x in xs) else 0.0
        overhead = statistics.median(ys) * (1 - FIXED_SHARE_REST) if rate else statistics.median(ys)
    ratios = sorted(y / max(1e-9, overhead + rate * x) for x, y in pts)
    n = len(ratios)
    lo = ratios[max(0, int(n * 0.1))] if n >= 5 else min(ratios)
    hi = ratios[min(n - 1, int(math.ceil(n * 0.9)) - 1)] if n >= 5 else max(ratios)
    spread = MIN_SPREAD if n >= 3 else 0.35
    loads = [r.load_seconds for r in records if r.load_seconds > 0.05]
    vrams = [r.vram_mb for r in records if r.vram_mb]
    return Fit(overhead, rate, max(spread, 1 - lo), max(spread, hi - 1), n,
               ram_mb=max(r.ram_mb for r in records), vram_mb=max(vrams) if vrams else None,
               load_seconds=statistics.median(loads) if loads else 0.0, typical=statistics.median(ys))


# -- the estimate ---------------------------------------------------------------------------------------

@dataclass
class CallEstimate:
    seconds: float
    lo: float
    hi: float
    ram_mb: float | None
    vram_mb: float | None
    load_seconds: float
    model: str  # the models it loads, "" for none
    source: str
    cpu: float
    gpu: int


@dataclass
class NodeEstimate:
    node: str
    type: str
    status: str  # as in `plan`: cached | run | partial | maybe
    reason: str
    calls: int  # calls it would make (0 when cached)
    cached_calls: int
    seconds: float  # its calls added up (as if alone on the machine), model loading included
    lo: float
    hi: float
    ram_mb: float | None
    vram_mb: float | None
    load_seconds: float
    source: str  # where the figure comes from: measured here, a table figure, a guess
    known: bool  # its calls' sizes are known (False: upstream could not be sketched)
    warnings: list[dict] = field(default_factory=list)


@dataclass
class RunEstimate:
    nodes: list[NodeEstimate]
    seconds: float  # the whole run, with concurrency (a replay of the scheduler)
    lo: float
    hi: float
    ram_mb: float | None  # peak process RAM
    vram_mb: float | None  # peak GPU memory
    machine: dict
    warnings: list[dict]
    measured_calls: int  # how many measurements this machine has

    def to_dict(self) -> dict:
        return asdict(self)

    def node(self, node_id: str) -> NodeEstimate:
        return next(n for n in self.nodes if n.node == node_id)


def _machine(dispatcher=None) -> dict:
    from .dispatch import available_cpus
    cores, devices = (dispatcher.capacity() if dispatcher is not None else (float(available_cpus()), 1))
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6
    except (ValueError, OSError, AttributeError):
        ram = 0.0
    return {"cores": cores, "devices": devices, "ram_mb": round(ram)}


def predict_call(spec, key: str, drv: dict[str, float] | None, fits: dict[tuple[str, str], Fit | None],
                 prior: Prior | None, models: tuple) -> CallEstimate:
    """One call's estimate; ``drv`` None when its size is unknown (a typical call is assumed)."""
    cpu = spec.resources.cpu
    model = ",".join(sorted(m.id for m in models)) or (prior.model if prior is not None else "")
    gpu = max(spec.resources.gpu, 1) if model else spec.resources.gpu
    f = fits.get((spec.type, key))
    work = float(drv.get("work", 1.0)) if drv is not None else None
    if f is not None:
        sec = f.seconds(work)
        src = f"measured here ({f.n} call{'s' if f.n != 1 else ''})" + ("" if drv is not None else
                                                                         ", a typical call")
        return CallEstimate(sec, sec * (1 - f.spread_lo), sec * (1 + f.spread_hi), f.ram_mb,
                            f.vram_mb if f.vram_mb is not None else (prior.vram_mb if prior else None),
                            f.load_seconds or (prior.load_seconds if prior else 0.0), model, src, cpu, gpu)
    if prior is not None and prior.seconds is not None:
        sec = prior.seconds
        return CallEstimate(sec, sec * (1 - prior.spread), sec * (1 + 2 * prior.spread), prior.ram_mb,
                            prior.vram_mb, prior.load_seconds, model, prior.source, cpu, gpu)
    # never measured here with this key: the same node type's other measurements (another model or
    # backend) say at least how heavy it is, else a guess
    same = [fv for (typ, _k), fv in fits.items() if typ == spec.type and fv is not None]
    if same and prior is None:  # (a model call is nothing like the same node's draft calls)
        sec = statistics.median(fv.seconds(work) for fv in same)
        return CallEstimate(sec, sec * 0.3, sec * 3.0, max(fv.ram_mb for fv in same),
                            prior.vram_mb if prior else None, prior.load_seconds if prior else 0.0, model,
                            "guess: measured here with other settings", cpu, gpu)
    guess = GUESS_SECONDS if prior is None else MODEL_GUESS_SECONDS
    why = "guess: never run here" + (f" ({prior.source})" if prior is not None and prior.source else "")
    return CallEstimate(guess, guess * 0.1, guess * 10, prior.ram_mb if prior else None,
                        prior.vram_mb if prior else None, prior.load_seconds if prior else 0.0, model,
                        why, cpu, gpu)


def _replay(order: list[str], deps: dict[str, set[str]], calls: dict[str, list[CallEstimate]],
            capacity: tuple[float, int], pick: str) -> float:
    """The makespan of the run: calls start when their node's inputs are done and there is room
    (cores for CPU work, one model call per device), longest first; loading a model happens once."""
    cores, devices = capacity
    followers: dict[str, list[str]] = {n: [] for n in order}
    for n in order:
        for d in deps[n]:
            followers[d].append(n)
    waiting = {n: len(deps[n]) for n in order}
    left = {n: len(calls.get(n, [])) for n in order}
    ready: list[tuple[str, CallEstimate]] = []
    running: list[tuple[float, int, str, float, int]] = []  # (end, seq, node, cpu, gpu)
    loaded: set[str] = set()
    seq = 0
    now = 0.0
    free_cpu, free_gpu = cores, devices

    def finished(first: str) -> None:
        # a loop, not recursion: a long chain of cached nodes must not overflow the stack
        todo = [first]
        while todo:
            n = todo.pop()
            for m in followers[n]:
                waiting[m] -= 1
                if waiting[m] == 0:
                    start(m, todo)

    def start(n: str, todo: list[str]) -> None:
        if left[n] == 0:
            todo.append(n)  # nothing to run (cached): done at once
        ready.extend((n, c) for c in calls.get(n, []))

    roots: list[str] = []
    for n in order:
        if waiting[n] == 0:
            start(n, roots)
    for n in roots:
        finished(n)
    while ready or running:
        ready.sort(key=lambda item: -getattr(item[1], pick))
        for item in list(ready):
            n, c = item
            need_cpu = min(c.cpu, cores)
            if need_cpu > free_cpu + 1e-9 or c.gpu > free_gpu:
                continue
            ready.remove(item)
            dur = getattr(c, pick)
            if c.model and c.model not in loaded:
                loaded.add(c.model)
                dur += c.load_seconds
            free_cpu -= need_cpu
            free_gpu -= c.gpu
            seq += 1
            heapq.heappush(running, (now + dur, seq, n, need_cpu, c.gpu))
        if not running:
            break  # what is left cannot fit this machine at all (more GPUs than it has)
        end, _, n, used_cpu, used_gpu = heapq.heappop(running)
        now = max(now, end)
        free_cpu += used_cpu
        free_gpu += used_gpu
        left[n] -= 1
        if left[n] == 0:
            finished(n)
    return now


def estimate(graph, cache, *, workspace: str | os.PathLike | None = None, dispatcher=None,
             measurements: Measurements | None = None) -> RunEstimate:
    """Predict the run of ``graph`` (a CompiledGraph) with ``cache`` (a Cache or None) on this machine."""
    from .executor import _run_instant, cached_outputs, gather_calls, plan, workspace_of
    ws = Path(workspace) if workspace is not None else workspace_of(graph)
    entries = {e.node: e for e in plan(graph, cache, look_ahead=True, workspace=ws)}
    store = measurements if measurements is not None else measurements_for(cache)
    records = store.of({cn.spec.type for cn in graph.nodes.values()}) if store is not None else {}
    fits: dict[tuple[str, str], Fit | None] = {}
    for typ, recs in records.items():
        by_key: dict[str, list[CostRecord]] = {}
        for r in recs:
            by_key.setdefault(r.key, []).append(r)
        for key, rs in by_key.items():
            fits[(typ, key)] = fit(rs)

    values: dict[str, dict[str, Any]] = {}
    per_node: dict[str, list[CallEstimate]] = {}
    out: list[NodeEstimate] = []
    for n in graph.order:
        cn = graph.nodes[n]
        spec = cn.spec
        entry = entries[n]
        upstream = {link.src for link in cn.links.values()}
        calls = None
        warnings: list[dict] = []
        fails = False
        lenient = _Lenient()
        if all(u in values for u in upstream):
            try:
                calls = gather_calls(cn, values, ws, where=lenient)
            except NodeError as e:  # it would fail before it starts: say why, cost nothing
                warnings.append({"message": f"will fail: {e.message}", "fix": e.fix or ""})
                fails = True
            except Exception as e:  # noqa: BLE001 - the run reports it; the estimate goes on
                log.debug("estimate: %s cannot gather its calls: %s", n, e)
        estimates: list[CallEstimate] = []
        cached_calls = 0
        if calls is None and not fails:
            # its inputs could not be told before they are made: typical calls, as many as the
            # widest mapped node so far when it maps
            key, _drv = drivers(spec, dict(cn.params), {})
            count = max((len(per_node[m]) for m in per_node if graph.nodes[m].maps), default=1) if cn.maps else 1
            prior = _prior(spec, dict(cn.params), {}, (), warnings)
            estimates.extend(predict_call(spec, key, None, fits, prior, ()) for _ in range(max(1, count)))
            known = False
        elif calls is None:
            known = False
        else:
            known = True
            outs: list[dict[str, Any] | None] = []
            for problem in lenient.problems:  # e.g. its model is not downloaded: estimated anyway
                warnings.append({"message": f"will fail: {problem.message}", "fix": problem.fix or ""})
            sketched_in = [is_sketch(c.kwargs) or bool(lenient.problems) for c in calls]
            from_cache = [None if s else cached_outputs(cache, c) for c, s in zip(calls, sketched_in)]
            hits = list(from_cache)
            if not any(sketched_in) and any(h is None for h in hits) and \
                    all(spec.cls.runs_instantly(c.kwargs) for c in calls):
                hits = _run_instant(graph, cn, calls, hits, ws)  # exact values for what follows
            for c, hit, cached in zip(calls, hits, from_cache):
                if cached is not None:
                    cached_calls += 1
                    outs.append(cached)
                    continue
                made = hit if hit is not None else sketch_outputs(spec, c.kwargs)
                outs.append(made)
                key, drv = drivers(spec, c.kwargs, made, c.models)
                prior = _prior(spec, c.kwargs, drv, c.models, warnings)
                estimates.append(predict_call(spec, key, drv, fits, prior, c.models))
            made_all = [o for o in outs if o is not None]
            if len(made_all) == len(outs):
                values[n] = ({p: [o[p] for o in made_all] for p in spec.outputs} if cn.maps else made_all[0])
        if entry.status == "cached":
            estimates, cached_calls = [], (len(calls) if calls else 1)
        per_node[n] = estimates
        total = sum(e.seconds for e in estimates)
        loads = {e.model: e.load_seconds for e in estimates if e.model}
        rams = [e.ram_mb for e in estimates if e.ram_mb is not None]
        vrams = [e.vram_mb for e in estimates if e.vram_mb is not None]
        sources = sorted({e.source for e in estimates})
        uniq: list[dict] = []
        for w in warnings:
            if w not in uniq:
                uniq.append(w)
        out.append(NodeEstimate(
            node=n, type=spec.type, status=entry.status, reason=entry.reason, calls=len(estimates),
            cached_calls=cached_calls, seconds=total + sum(loads.values()),
            lo=sum(e.lo for e in estimates) + sum(loads.values()),
            hi=sum(e.hi for e in estimates) + sum(loads.values()),
            ram_mb=max(rams) if rams else None, vram_mb=max(vrams) if vrams else None,
            load_seconds=sum(loads.values()),
            source="; ".join(sources) if sources else ("fails before it starts" if fails else "cached"),
            known=known, warnings=uniq if estimates or fails else []))

    deps = {n: {link.src for link in graph.nodes[n].links.values()} for n in graph.order}
    capacity = dispatcher.capacity() if dispatcher is not None else None
    machine = _machine(dispatcher)
    cap = capacity or (machine["cores"], machine["devices"])
    total = _replay(list(graph.order), deps, per_node, cap, "seconds")
    lo = _replay(list(graph.order), deps, per_node, cap, "lo")
    hi = _replay(list(graph.order), deps, per_node, cap, "hi")
    rams = [n.ram_mb for n in out if n.ram_mb is not None]
    vrams = [n.vram_mb for n in out if n.vram_mb is not None]
    run_warnings = [dict(w, node=n.node) for n in out for w in n.warnings]
    ram_peak = max(rams) if rams else None
    if ram_peak and machine["ram_mb"] and ram_peak > 0.9 * machine["ram_mb"]:
        top = max(out, key=lambda n: n.ram_mb or 0)
        run_warnings.append({"node": top.node, "message": f"needs about {ram_peak / 1e3:.1f} GB of RAM; this "
                             f"machine has {machine['ram_mb'] / 1e3:.1f} GB", "fix": "lower the resolution or "
                             "the clip length of that node, or run on a machine with more memory"})
    return RunEstimate(out, total, lo, hi, ram_peak, max(vrams) if vrams else None, machine, run_warnings,
                       store.count() if store is not None else 0)


class _Lenient(Dispatcher):
    """Resolves calls here, but keeps a model that cannot load (weights not downloaded yet) as a
    problem to report instead of failing: the estimate still says what the call would cost once
    it can run."""

    def __init__(self):
        self.problems: list[NodeError] = []

    def resolve(self, cls, values: dict, workspace: Path, *, keyed: bool = True):
        try:
            return super().resolve(cls, values, workspace, keyed=keyed)
        except NodeError as e:
            if not any(p.message == e.message for p in self.problems):
                self.problems.append(e)
            return None, ()


def _prior(spec, values: dict, drv: dict, models: tuple, warnings: list[dict]) -> Prior | None:
    try:
        prior = spec.cls.estimate_prior(values, drv, models)
    except Exception:
        log.debug("estimate_prior of %s failed", spec.type, exc_info=True)
        return None
    if prior is not None:
        warnings.extend(prior.warnings)
    return prior


def record(store: Measurements | None, items: list[tuple[Any, dict, dict, tuple, dict]]) -> None:
    """Record finished calls: (spec, kwargs, outputs, models, cost) each, cost as from ``measure``."""
    if store is None or not items:
        return
    rows = []
    for spec, kwargs, outputs, models, cost in items:
        try:
            key, drv = drivers(spec, kwargs, outputs, models)
        except Exception:
            log.debug("drivers of %s failed", spec.type, exc_info=True)
            continue
        rows.append(CostRecord(spec.type, key, drv, float(cost.get("seconds", 0.0)),
                               float(cost.get("load_seconds", 0.0)), float(cost.get("ram_mb", 0.0)),
                               cost.get("vram_mb"), str(cost.get("device", "cpu")), time.time()))
    store.add(rows)


# -- showing it -------------------------------------------------------------------------------------------

def fmt_seconds(s: float) -> str:
    if s < 1:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        m, sec = divmod(int(round(s)), 60)
        return f"{m} min {sec:02d} s"
    h, rem = divmod(int(round(s)), 3600)
    return f"{h} h {rem // 60:02d} min"


def fmt_mb(mb: float | None) -> str:
    if mb is None:
        return "—"
    return f"{mb / 1e3:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"
