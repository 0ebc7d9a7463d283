"""Engine benchmark: executor overhead, caching, concurrency and incremental re-runs.

    .venv/bin/python bench/engine.py            # prints one line per figure
    .venv/bin/python bench/engine.py --child WORKFLOW CACHE_DIR   # (used by the bench itself)

Every line reads ``name: value unit (goal ...)`` so runs can be compared with a diff or a grep.
The bench's nodes are defined here and registered in a private ``graph.Registry()``; nothing is
read from or written to the user's cache (each figure uses a fresh temporary cache dir).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reelgraph import graph
from reelgraph.graph import Float, Input, Int, Node, Output, Param, Resources

_MOD = 1_000_003  # keeps the values small: a chain of 1,000 nodes must not grow big integers


def _mix(x, i):
    return ((x or 0) * 31 + i) % _MOD


class NoopNode(Node):
    """Do nothing useful: pass a small number on (measures the executor, not the node)."""

    type = "bench.noop"
    version = "1.0.0"
    x = Input(Int, required=False)
    i = Param(Int, default=0)
    out = Output(Int)

    def run(self, ctx, x, i):
        return _mix(x, i)


class SleepNode(Node):
    """Wait (like a remote API call or a subprocess pipe) without keeping a core busy."""

    type = "bench.sleep"
    version = "1.0.0"
    resources = Resources(cpu=0)
    x = Input(Int, required=False)
    i = Param(Int, default=0)
    seconds = Param(Float, default=0.05, min=0)
    out = Output(Int)

    def run(self, ctx, x, i, seconds):
        time.sleep(seconds)
        return _mix(x, i)


class CpuSleepNode(SleepNode):
    """Sleep, but declared CPU-bound (Resources(cpu=1)): the executor caps these at the core count."""

    type = "bench.cpu_sleep"
    resources = Resources(cpu=1)


class JoinNode(Node):
    """Combine up to six numbers into one."""

    type = "bench.join"
    version = "1.0.0"
    resources = Resources(cpu=0)
    a = Input(Int, required=False)
    b = Input(Int, required=False)
    c = Input(Int, required=False)
    d = Input(Int, required=False)
    e = Input(Int, required=False)
    f = Input(Int, required=False)
    seconds = Param(Float, default=0.05, min=0)
    out = Output(Int)

    def run(self, ctx, a, b, c, d, e, f, seconds):
        time.sleep(seconds)
        acc = 0
        for v in (a, b, c, d, e, f):
            acc = _mix(acc, v or 0)
        return acc


def make_registry() -> graph.Registry:
    reg = graph.Registry()
    for cls in (NoopNode, SleepNode, CpuSleepNode, JoinNode):
        reg.register(cls, pack="bench")
    return reg


# -- workflows -----------------------------------------------------------------------------------

def _wf(nodes: dict, edges: list) -> dict:
    return {"schema": "reelgraph/workflow", "version": 1, "name": "bench", "nodes": nodes, "edges": edges}


def chain(n: int, type_: str = "bench.noop", **params) -> dict:
    nodes = {f"n{k:04d}": {"type": type_, "params": {"i": k, **params}} for k in range(n)}
    edges = [{"from": f"n{k - 1:04d}.out", "to": f"n{k:04d}.x"} for k in range(1, n)]
    return _wf(nodes, edges)


def wide(n: int, type_: str = "bench.noop", **params) -> dict:
    return _wf({f"n{k:04d}": {"type": type_, "params": {"i": k, **params}} for k in range(n)}, [])


def chains_joined(chains: int = 6, length: int = 3, seconds: float = 0.05) -> dict:
    nodes, edges = {}, []
    for c in range(chains):
        for k in range(length):
            nodes[f"c{c}_{k}"] = {"type": "bench.sleep", "params": {"i": c * 100 + k, "seconds": seconds}}
            if k:
                edges.append({"from": f"c{c}_{k - 1}.out", "to": f"c{c}_{k}.x"})
        edges.append({"from": f"c{c}_{length - 1}.out", "to": f"join.{'abcdef'[c]}"})
    nodes["join"] = {"type": "bench.join", "params": {"seconds": seconds}}
    return _wf(nodes, edges)


# -- helpers -------------------------------------------------------------------------------------

def line(name: str, value: str, unit: str, goal: str) -> None:
    print(f"{name}: {value} {unit} ({goal})", flush=True)


def info(name: str, value: str, unit: str, note: str = "info") -> None:
    print(f"{name}: {value} {unit} ({note})", flush=True)


def _ok(cond: bool) -> str:
    return "met" if cond else "MISSED"


def timed_executor_run(cg, cache) -> tuple[float, graph.RunResult]:
    """Seconds of one LocalExecutor.run of a compiled graph (a fresh executor: pool start included)."""
    ex = graph.LocalExecutor(cache)
    try:
        t0 = time.perf_counter()
        result = ex.run(cg)
        dt = time.perf_counter() - t0
    finally:
        ex.close()
    assert result.ok, result.failures
    return dt, result


class Counter:
    """An event listener counting nodes that really ran (node_finished with cached False)."""

    def __init__(self):
        self.ran: list[str] = []
        self.cached: list[str] = []

    def __call__(self, ev: graph.Event) -> None:
        if ev.event == "node_finished":
            (self.cached if ev.cached else self.ran).append(ev.node)


# -- figures -------------------------------------------------------------------------------------

def bench_overhead(reg, tmp: Path, shape: str, n: int = 1000, repeats: int = 7) -> None:
    """Executor wall time per node, median of ``repeats`` runs (each on a fresh executor; with the
    cache on, each first run gets a fresh cache dir)."""
    wf = chain(n) if shape == "chain" else wide(n)
    t0 = time.perf_counter()
    cg = graph.compile(wf, registry=reg)
    compile_s = time.perf_counter() - t0
    info(f"{shape} {n} no-op: load+validate", f"{compile_s / n * 1e6:.1f}", "µs/node")

    first, rerun, off = [], [], []
    for k in range(repeats):
        cache = graph.Cache(tmp / f"{shape}-cache-{k}")
        try:
            dt, r = timed_executor_run(cg, cache)
            assert len(r.ran) == n
            first.append(dt)
            dt, r = timed_executor_run(cg, cache)  # no recursion: a cached chain completes in a loop
            assert len(r.cached) == n
            rerun.append(dt)
        finally:
            cache.close()
        dt, r = timed_executor_run(cg, None)
        assert len(r.ran) == n
        off.append(dt)

    def fig(samples):
        us = sorted(x / n * 1e6 for x in samples)
        return us[len(us) // 2], f"median of {len(us)}, range {us[0]:.0f}–{us[-1]:.0f}"

    per, spread = fig(first)
    line(f"{shape} {n} no-op, cache on (first run)", f"{per:.1f}", "µs/node",
         f"goal < 200: {_ok(per < 200)}; {spread}")
    per, spread = fig(off)
    line(f"{shape} {n} no-op, cache off", f"{per:.1f}", "µs/node", f"goal < 200: {_ok(per < 200)}; {spread}")
    per, spread = fig(rerun)
    info(f"{shape} {n} no-op, cache on (fully cached re-run)", f"{per:.1f}", "µs/node", f"info; {spread}")


def bench_rerun(reg, tmp: Path) -> None:
    wf = chain(20, "bench.sleep", seconds=0.05)
    cache_dir = tmp / "rerun-cache"
    wf_path = tmp / "sleep20.json"
    wf_path.write_text(json.dumps(wf), encoding="utf-8")

    t0 = time.perf_counter()
    r = graph.run(wf_path, cache=cache_dir, registry=reg)
    first = time.perf_counter() - t0
    assert r.ok and len(r.ran) == 20, r
    info("20 × 0.05 s chain: first run", f"{first:.3f}", "s")

    t0 = time.perf_counter()
    r = graph.run(wf_path, cache=cache_dir, registry=reg)
    again = time.perf_counter() - t0
    assert r.ok and len(r.cached) == 20, r
    ratio = again / first
    info("20 × 0.05 s chain: cached re-run, same process", f"{again * 1e3:.2f}", "ms")
    line("cached re-run / first run, same process", f"{ratio:.4f}", "×", f"goal ≤ 0.01: {_ok(ratio <= 0.01)}")

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(wf_path), str(cache_dir)],
                          capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stdout}\n{proc.stderr}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    assert child["ran"] == 0 and child["cached"] == 20, child
    ratio = child["seconds"] / first
    info("20 × 0.05 s chain: cached re-run in a new process (load+validate+run)",
         f"{child['seconds'] * 1e3:.2f}", "ms")
    line("cached re-run / first run, new process", f"{ratio:.4f}", "×", f"goal ≤ 0.05: {_ok(ratio <= 0.05)}")
    info("new process wall time incl. interpreter start and imports", f"{wall:.3f}", "s")


def bench_concurrency(reg) -> None:
    serial = 8 * 0.2
    t0 = time.perf_counter()
    r = graph.run(wide(8, "bench.sleep", seconds=0.2), cache=False, registry=reg)
    dt = time.perf_counter() - t0
    assert r.ok and len(r.ran) == 8
    speedup = serial / dt
    line("8 independent 0.2 s waiting nodes (cpu=0): speed-up over serial", f"{speedup:.2f}", "×",
         f"goal ≥ 7: {_ok(speedup >= 7)}; {dt:.3f} s vs {serial:.1f} s serial")

    cores = graph.dispatch.available_cpus()
    expect = -(-8 // cores) * 0.2
    t0 = time.perf_counter()
    r = graph.run(wide(8, "bench.cpu_sleep", seconds=0.2), cache=False, registry=reg)
    dt = time.perf_counter() - t0
    assert r.ok and len(r.ran) == 8
    near = abs(dt - expect) <= 0.1 * expect + 0.05
    line(f"8 independent 0.2 s CPU-bound nodes (cpu=1) on {cores} cores", f"{dt:.3f}", "s",
         f"expected ≈ 8/{cores} × 0.2 = {expect:.2f} s: {_ok(near)}")


def bench_incremental(reg, tmp: Path) -> None:
    wf = chains_joined(6, 3, 0.05)
    cache_dir = tmp / "incremental-cache"
    first = Counter()
    r = graph.run(wf, cache=cache_dir, registry=reg, on_event=first)
    assert r.ok and len(first.ran) == 19, first.ran
    second = Counter()
    r = graph.run(wf, overrides={"c2_0.i": 12345}, cache=cache_dir, registry=reg, on_event=second)
    assert r.ok
    n = len(second.ran)
    line("6 chains × 3 nodes + join, one param of one chain edited: nodes re-run", f"{n}", "nodes",
         f"goal exactly 4: {_ok(n == 4)}; re-ran {', '.join(second.ran)}")


def child(wf_path: str, cache_dir: str) -> None:
    reg = make_registry()
    t0 = time.perf_counter()
    r = graph.run(wf_path, cache=cache_dir, registry=reg)
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "ran": len(r.ran), "cached": len(r.cached), "ok": r.ok}))


def main() -> None:
    reg = make_registry()
    info("machine", f"{graph.dispatch.available_cpus()} cores, Python {sys.version.split()[0]}", "", "info")
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reelgraph-bench-") as d:
        tmp = Path(d)
        graph.run(chain(3), cache=False, registry=reg)  # warm up imports and code paths
        bench_overhead(reg, tmp, "chain")
        bench_overhead(reg, tmp, "wide")
        bench_rerun(reg, tmp)
        bench_concurrency(reg)
        bench_incremental(reg, tmp)
    info("bench total", f"{time.perf_counter() - t_all:.1f}", "s")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
