"""The Ray engine against the local engine, one line per figure (see BENCHMARKS.md, "Ray engine").

A Ray cluster of several nodes on this machine (tests/raykit.py: logical GPUs, pretend models that
sleep), so the figures are the engine's own cost and its parallelism, not a GPU's speed.

    .venv/bin/python bench/ray.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
# this file is named like the library: with its folder first on the path, `import ray` would import
# it (here, and on Ray's workers, which get the driver's script folder on their path)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(TESTS))

import raykit  # noqa: E402
from conftest import make_workflow  # noqa: E402
from reelgraph import graph  # noqa: E402
from reelgraph.ui.cluster import RayDispatcher  # noqa: E402


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_ok(wf, engine, cache, reg=None, **kw):
    result = graph.run(wf, cache=cache, registry=reg, engine=engine, **kw)
    if not result.ok:
        raise SystemExit(f"bench run failed: {result.failures}")
    return result


def per_node_overhead(cluster, reg, tmp: Path, n: int = 60, repeats: int = 3) -> None:
    # a fresh cache each time so every node really runs; no-op CPU calls (Ray tasks on the cluster)
    engine = RayDispatcher(address=cluster.address)
    try:
        local, ray_ = [], []
        for r in range(repeats):
            nodes = {f"n{i}": ("raytest.sleep_here", {"seconds": 0.0, "label": f"{r}-{i}"}) for i in range(n)}
            wf = make_workflow(nodes)
            local.append(timed(lambda wf=wf, r=r: run_ok(wf, "local", tmp / f"l{r}", reg)))
            ray_.append(timed(lambda wf=wf, r=r: run_ok(wf, engine, tmp / f"r{r}", reg)))
    finally:
        engine.close()
    lo, ra = statistics.median(local), statistics.median(ray_)
    over = (ra - lo) / n * 1000
    print(f"per-node overhead, {n} independent no-op CPU calls, ray vs local: {over:.2f} ms/node "
          f"(goal <= 5: {'met' if over <= 5 else 'NOT met'}; {ra * 1000 / n:.2f} vs {lo * 1000 / n:.2f} ms/node, "
          f"median of {repeats})")


def gpu_scaling(cluster, reg, tmp: Path) -> None:
    nodes = {f"g{i}": ("raytest.generate", {"model": "m", "seconds": 0.5, "label": i}) for i in range(8)}
    wf = make_workflow(nodes)
    times = {}
    for gpus in (1, 4):
        engine = RayDispatcher(address=cluster.address, gpus=gpus)
        try:
            # warm: the workers start and load their model once, as in a long-lived service
            warm = make_workflow({f"w{i}": ("raytest.generate", {"model": "m", "seconds": 0.05, "label": 100 + i})
                                  for i in range(gpus)})
            run_ok(warm, engine, tmp / f"warm{gpus}", reg)
            times[gpus] = timed(lambda engine=engine, gpus=gpus: run_ok(wf, engine, tmp / f"g{gpus}", reg))
        finally:
            engine.close()
    ratio = times[1] / times[4]
    print(f"8 independent 0.5 s model calls, 4 logical GPUs vs 1: {ratio:.2f}x of an ideal 4x "
          f"(goal >= 3.5: {'met' if ratio >= 3.5 else 'NOT met'}; {times[4]:.2f} s vs {times[1]:.2f} s)")


def storyboard_loads(cluster, tmp: Path) -> None:
    from reelgraph.workflows import path as workflow_path
    from tiny.build import build
    sets = build(tmp / "models")
    models = {v for k, v in sets.items() if k.endswith(".model")}
    engine = RayDispatcher(address=cluster.address, gpus=2)
    try:
        wf = graph.apply_overrides(graph.load(workflow_path("storyboard_to_clip")), sets, from_text=True)
        run_ok(wf, engine, tmp / "story")
        stats = engine.stats()
    finally:
        engine.close()
    loads, calls = sum(s["loads"] for s in stats), sum(s["calls"] for s in stats)
    used = sum(1 for s in stats if s["calls"])
    goal = len(models) * used
    print(f"model loads, 6-shot tiny-model storyboard on 2 logical GPUs: {loads} loads for {calls} model calls "
          f"(goal <= models x GPUs used = {len(models)} x {used} = {goal}: {'met' if loads <= goal else 'NOT met'})")


def main() -> None:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}  (info)")
    reg = raykit.registry()
    with tempfile.TemporaryDirectory(prefix="reelgraph-bench-ray-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["REELGRAPH_MODELS"] = str(tmp)  # set before Ray starts: its workers read model folders here
        # a head and one worker node holding 4 logical GPUs
        with raykit.local_cluster(tmp / "ray", head_cpus=2,
                                  workers=({"num_cpus": 2, "num_gpus": 4},)) as cluster:
            per_node_overhead(cluster, reg, tmp)
            gpu_scaling(cluster, reg, tmp)
            storyboard_loads(cluster, tmp)


if __name__ == "__main__":
    main()
