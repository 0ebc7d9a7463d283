"""How good are estimates? After one run of the draft storyboard, predict storyboards of other lengths,
then run them and compare.

    .venv/bin/python bench/estimate.py

Every line reads ``name: value unit (goal ...)``. A fresh cache (so nothing is served from it and
nothing was measured before), the main workflow with the draft backends:

1. run ``workflows/storyboard_to_clip.json`` as shipped (6 shots × 4 s): every call is measured;
2. for another storyboard (10 shots × 3 s: 30 s of clip instead of 24), ``graph.estimate``
   predicts the whole run from those measurements alone, then the run is timed. Goal: within ±30 %.
   Then 3 shots × 7 s (info): with the first two runs measured.
3. ``plan_overhead``: what an estimate costs next to the plain plan the editor used to make on each
   edit (both with look-ahead, the same graph).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from reelgraph import graph

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "storyboard_to_clip.json"
CAMERAS = ("push_in", "pan_left", "tilt_up", "pull_out", "orbit_left", "pan_right", "static")


def line(name: str, value: str, unit: str, note: str) -> None:
    print(f"{name}: {value} {unit} ({note})", flush=True)


def storyboard(shots: int, seconds: float) -> str:
    lines = ["# Another story", "style: bright gouache, warm light"]
    for i in range(shots):
        lines += [f"## Shot {i + 1}", f"A paper boat number {i + 1} drifts down a rainy street gutter.",
                  f"duration: {seconds:g}", f"camera: {CAMERAS[i % len(CAMERAS)]}",
                  f"transition: {'crossfade' if i % 2 else 'cut'}",
                  f"narration: The boat passes stone number {i + 1}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    import reelgraph.nodes  # noqa: F401
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="reelgraph-bench-estimate-") as tmp:
        cache = graph.Cache(Path(tmp) / "cache")
        t0 = time.perf_counter()
        first = graph.run(WORKFLOW, cache=cache)
        assert first.ok, first.failures
        line("first_run", f"{time.perf_counter() - t0:.1f}", "s", "6 shots × 4 s, draft, everything measured")
        for shots, seconds, goal in ((10, 3.0, True), (3, 7.0, False)):
            over = {"story.script": storyboard(shots, seconds)}
            e = graph.estimate(WORKFLOW, overrides=over, cache=cache)
            t0 = time.perf_counter()
            result = graph.run(WORKFLOW, overrides=over, cache=cache)
            took = time.perf_counter() - t0
            assert result.ok, result.failures
            err = e.seconds / took - 1
            if goal:
                worst = max(worst, abs(err))
            inside = "inside" if e.lo <= took <= e.hi else "OUTSIDE"
            line(f"estimate_{shots}x{seconds:g}s", f"{err:+.0%}", "off",
                 f"estimated {e.seconds:.1f} s (range {e.lo:.1f}–{e.hi:.1f}, measured {inside}), "
                 f"measured {took:.1f} s for {shots} shots × {seconds:g} s; "
                 + ("goal within ±30 %" if goal else "info: few shots, less overlap than the measured run"))
        over = {"story.script": storyboard(5, 5.0)}
        plans, ests = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            graph.plan(WORKFLOW, overrides=over, cache=cache)
            plans.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            graph.estimate(WORKFLOW, overrides=over, cache=cache)
            ests.append(time.perf_counter() - t0)
        line("plan_overhead", f"{statistics.median(ests) / statistics.median(plans):.2f}", "× a plain plan",
             f"estimate {statistics.median(ests) * 1e3:.0f} ms vs plan {statistics.median(plans) * 1e3:.0f} ms, "
             "median of 5; info")
    return 0 if worst <= 0.30 else 1


if __name__ == "__main__":
    sys.exit(main())
