"""Editor benchmarks: one line per figure (see BENCHMARKS.md).

    .venv/bin/python bench/editor.py

- page ready: goto → every node of the storyboard workflow drawn, median of 3 fresh tabs (goal < 2 s)
- 200-node graph: open time, and pan frame time p95 against the 15-node storyboard (ratio)
- 500-node graph: open time, and pan frame time p95 at fit (the whole graph, far form) and at 100 % zoom
  (its middle), each against the 15-node storyboard (ratio) and against the goal (p95 < 50 ms)
- a run through the editor (run_state relay, previews) / the same run through graph.run (goal ≈ 1)

Debian's chromium through playwright, like the browser tests (REELGRAPH_CHROMIUM overrides the path).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import CHROMIUM_FLAGS, chromium_path, free_port  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from reelgraph import graph, workflows  # noqa: E402
from reelgraph.ui.session import Editor  # noqa: E402

START = """() => { window.__frames = []; window.__rec = true; let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__rec) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""


ZOOM = "() => new DOMMatrix(getComputedStyle(document.querySelector('.svelte-flow__viewport')).transform).a"
DRAWN = "() => document.querySelectorAll('.svelte-flow__node').length"


def pan_frames(page, back: bool = False) -> list[float]:
    """Frame times while one drag of the pane runs (frames after it are not counted): 40 moves up and
    left (585 × 234 px), and with ``back`` 39 more that return to where it started."""
    box = page.locator(".svelte-flow__pane").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(START)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in list(range(40)) + (list(range(38, -1, -1)) if back else []):
        page.mouse.move(x - i * 15, y - i * 6)
    page.mouse.up()
    return page.evaluate("() => { window.__rec = false; return window.__frames.slice(1); }")


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[int(len(values) * 0.95) - 1]


def pan_p95(page, rounds: int = 0) -> float:
    """95th-percentile frame time while panning. ``rounds=0``: one drag out (the 200-node figure's
    gesture since issue 4); ``rounds=n``: n drags out and back, frames pooled (~250 frames, a steadier
    p95, and the view ends where it began)."""
    if not rounds:
        return p95(pan_frames(page))
    frames = []
    for _ in range(rounds):
        frames += pan_frames(page, back=True)
        page.wait_for_timeout(200)
    return p95(frames)


def settle(page) -> float:
    """Wait until the view stops moving (fit view runs once the nodes are measured); the zoom."""
    last = None
    for _ in range(50):
        page.wait_for_timeout(200)
        zoom = page.evaluate(ZOOM)
        if zoom == last:
            return zoom
        last = zoom
    return last


def zoom_to(page, zoom: float) -> float:
    """Zoom with the wheel about the pane's centre, as a user does (2^(-deltaY × 0.002) per event)."""
    box = page.locator(".svelte-flow__pane").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(6):
        now = page.evaluate(ZOOM)
        if abs(now / zoom - 1) < 0.005:
            return settle(page)
        page.mouse.wheel(0, -math.log2(zoom / now) / 0.002)
        page.wait_for_timeout(250)
    raise SystemExit(f"could not zoom to {zoom} (at {page.evaluate(ZOOM)})")


def chain(n: int) -> dict:
    nodes = {f"n{i}": {"type": "text.template" if i else "text.constant",
                       "params": {"template": "{a}+"} if i else {"text": "x"},
                       "position": [(i % 20) * 320, (i // 20) * 260]} for i in range(n)}
    edges = [{"from": f"n{i - 1}.{'text' if i > 1 else 'out'}", "to": f"n{i}.a"} for i in range(1, n)]
    return {"schema": "reelgraph/workflow", "version": 1, "name": f"{n} nodes", "nodes": nodes, "edges": edges}


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    """`reelgraph ui` in its own process, as a user runs it (not sharing the GIL with the browser driver)."""
    port = free_port()
    env = {**os.environ, "REELGRAPH_CACHE_DIR": str(root / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "reelgraph.ui.cli", "ui", "--port", str(port),
                             "--workspace", str(root / "ws")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise SystemExit("reelgraph ui did not start")


def browser_figures(root: Path) -> None:
    proc, url = serve(root)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        loads = []
        for _ in range(3):
            ctx = b.new_context(viewport={"width": 1600, "height": 1000})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_selector('.rg-node[data-id="save"]')
            loads.append(time.perf_counter() - t0)
            ctx.close()
        print(f"page ready (storyboard workflow, loopback): {statistics.median(loads):.2f} s median of 3 "
              f"({min(loads):.2f}–{max(loads):.2f}; goal < 2 s)")
        ctx = b.new_context(viewport={"width": 1600, "height": 1000})
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_selector('.rg-node[data-id="save"]')
        page.wait_for_timeout(500)
        small = pan_p95(page)
        opened = open_chain(page, root, 200)
        page.wait_for_timeout(500)
        big = pan_p95(page)
        print(f"200-node graph: opened in {opened:.2f} s; pan frame p95 {big:.0f} ms vs {small:.0f} ms with "
              f"15 nodes: ratio {big / small:.2f} (headless, software rendering)")
        ctx.close()
        graph500(b, url, root)
        b.close()
    proc.terminate()
    proc.wait(10)


def open_chain(page, root: Path, n: int) -> float:
    """Open an ``n``-node chain through the Open button: seconds until its first node is drawn."""
    path = root / f"chain{n}.json"
    path.write_text(json.dumps(chain(n)))
    t0 = time.perf_counter()
    page.get_by_test_id("open-input").set_input_files(str(path))
    page.wait_for_selector('.rg-node[data-id="n0"]')
    return time.perf_counter() - t0


def graph500(b, url: str, root: Path) -> None:
    """A 500-node graph in a fresh tab: open time, then pan p95 at fit and at 100 % zoom (3 drags out and
    back each), against the storyboard panned the same way in the same tab."""
    ctx = b.new_context(viewport={"width": 1600, "height": 1000})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector('.rg-node[data-id="save"]')
    settle(page)
    small = pan_p95(page, rounds=3)
    opened = open_chain(page, root, 500)
    print(f"500-node graph: opened in {opened:.2f} s (Open → first node drawn)")
    figures = {}
    for label in ("fit", "100 %"):
        zoom = settle(page) if label == "fit" else zoom_to(page, 1.0)
        form = "far form" if page.locator(".rg-zoom-far").count() else "full form"
        drawn = page.evaluate(DRAWN)
        p = pan_p95(page, rounds=3)
        figures[label] = p
        where = f"at fit (zoom {zoom:.2f}, the whole graph" if label == "fit" else "at 100 % zoom (its middle"
        print(f"500-node graph {where}, {form}, {drawn} nodes drawn): pan frame p95 {p:.0f} ms "
              f"vs {small:.0f} ms with 15 nodes: ratio {p / small:.2f} (headless, software rendering)")
    worst = max(figures.values())
    print(f"500-node graph pan frame p95: {figures['fit']:.0f} ms at fit, {figures['100 %']:.0f} ms at 100 % zoom "
          f"(goal < 50 ms: {'met' if worst < 50 else 'missed'})")
    ctx.close()


def run_overhead(root: Path) -> None:
    wf = json.loads(workflows.path("storyboard_to_clip").read_text())
    ratios = []
    for i in range(3):
        t0 = time.perf_counter()
        graph.run(wf, cache=root / f"api-cache-{i}", workspace=root)
        plain = time.perf_counter() - t0
        ed = Editor(root / "ws", cache=root / f"ed-cache-{i}", runs_dir=root / f"runs-{i}")
        t0 = time.perf_counter()
        run = ed.start(wf, "bench")
        for _ in ed.states(run):
            pass
        through = time.perf_counter() - t0
        ratios.append(through / plain)
    print(f"storyboard run through the editor / graph.run, empty caches: {statistics.median(ratios):.2f} "
          f"median of 3 ({', '.join(f'{r:.2f}' for r in ratios)}; goal ≈ 1)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        browser_figures(Path(tmp))
        run_overhead(Path(tmp))
