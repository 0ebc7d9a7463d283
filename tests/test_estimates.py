"""Know before you run: every call is measured, and estimates come from those measurements, from the
shipped per-preset table for models never run here, or are marked as guesses."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from reelgraph import graph
from reelgraph.graph import estimates as est
from reelgraph.graph.estimates import CostRecord, Measurements, fit, sketch_media

ROOT = Path(__file__).resolve().parents[1]
STORYBOARD = ROOT / "workflows" / "storyboard_to_clip.json"


def story(shots: int, seconds: float) -> str:
    lines = ["# Estimates", "style: flat colours"]
    for i in range(shots):
        lines += [f"## Shot {i + 1}", f"A red kite over hill number {i + 1}.", f"duration: {seconds:g}",
                  f"narration: Kite {i + 1} flies."]
    return "\n".join(lines) + "\n"


def small(shots: int, seconds: float) -> dict:
    """The storyboard workflow at a small frame size, so a test run takes a second or two."""
    return {"story.script": story(shots, seconds), "keyframe.resolution": 144}


@pytest.fixture
def cache(tmp_path):
    return graph.Cache(tmp_path / "cache")


def records(cache) -> list[tuple]:
    db = sqlite3.connect(Path(cache.root) / "measurements.db")
    try:
        return db.execute("select type, key, drivers, seconds, ram_mb from calls").fetchall()
    finally:
        db.close()


def test_every_call_that_runs_records_its_time_memory_and_cost_drivers(cache):
    result = graph.run(STORYBOARD, overrides=small(2, 1), cache=cache)
    assert result.ok
    rows = records(cache)
    by_type: dict[str, list] = {}
    for typ, key, drv, seconds, ram in rows:
        by_type.setdefault(typ, []).append((key, json.loads(drv), seconds, ram))
    animate = by_type["video.image_to_video"]
    assert len(animate) == 2  # one per shot
    key, drv, seconds, ram = animate[0]
    assert key == "draft|"
    assert drv["out_frames"] == 24  # 1 s at 24 fps
    assert drv["out_video"] == 256 * 144 * 24  # pixels × frames it made
    assert seconds > 0 and ram > 10
    assert by_type["audio.speech"][0][1]["out_audio"] > 0  # seconds of speech
    # a re-run measures only what ran again (nodes that are never cached, like the file save)
    again = graph.run(STORYBOARD, overrides=small(2, 1), cache=cache)
    new = records(cache)[len(rows):]
    assert {r[0] for r in new} == \
        {graph.compile(STORYBOARD).nodes[n].spec.type for n in again.ran}
    assert "video.image_to_video" not in {r[0] for r in new}


def test_node_finished_events_carry_what_the_node_cost(cache):
    events = []
    graph.run(STORYBOARD, overrides=small(1, 1), cache=cache, on_event=events.append)
    done = {e.node: e for e in events if e.event == "node_finished"}
    cost = done["animate"].to_dict()["cost"]
    assert cost["calls"] == 1 and cost["seconds"] > 0 and cost["ram_mb"] > 0


def test_before_anything_ran_here_the_estimate_says_it_is_a_guess(cache):
    e = graph.estimate(STORYBOARD, overrides=small(2, 1), cache=cache)
    assert e.measured_calls == 0
    animate = e.node("animate")
    assert animate.status == "run" and animate.calls == 2
    assert animate.source.startswith("guess")
    assert animate.lo < animate.seconds < animate.hi
    assert e.seconds > 0


def test_after_one_run_a_longer_storyboard_is_estimated_from_the_measurements(cache):
    graph.run(STORYBOARD, overrides=small(2, 1), cache=cache)
    first = [r for r in records(cache) if r[0] == "video.image_to_video"]
    f = fit([CostRecord("video.image_to_video", r[1], json.loads(r[2]), r[3]) for r in first])

    e = graph.estimate(STORYBOARD, overrides=small(4, 2), cache=cache)
    animate = e.node("animate")
    assert animate.calls == 4 and animate.known
    assert animate.source == "measured here (2 calls)"
    # four shots, each with twice the frames of a measured one
    assert animate.seconds == pytest.approx(4 * f.seconds(256 * 144 * 48), rel=1e-6)
    assert animate.seconds > 4 * f.seconds(256 * 144 * 24)
    assert animate.lo < animate.seconds < animate.hi
    # sizes downstream of nodes not yet run are sketched: the upscaler doubles the sketched frames
    upscale = e.node("upscale")
    assert upscale.known and upscale.calls == 4
    # the whole run replays the scheduler: never more than the nodes one after another
    assert 0 < e.seconds <= sum(n.seconds for n in e.nodes) + 1e-9
    assert e.ram_mb and e.ram_mb > 10


def test_cached_nodes_cost_nothing(cache):
    graph.run(STORYBOARD, overrides=small(2, 1), cache=cache)
    e = graph.estimate(STORYBOARD, overrides=small(2, 1), cache=cache)
    again = {n.node for n in e.nodes if n.status != "cached"}
    assert again == {"save"}  # writing the file is never cached
    assert all(n.seconds == 0 and n.calls == 0 for n in e.nodes if n.node not in again)
    assert e.seconds == pytest.approx(e.node("save").seconds)
    # one shot edited: only its calls cost anything
    changed = small(2, 1)
    changed["story.script"] = changed["story.script"].replace("hill number 2", "a lake")
    e = graph.estimate(STORYBOARD, overrides=changed, cache=cache)
    assert e.node("animate").calls == 1 and e.node("animate").cached_calls == 1
    assert e.node("music").status == "cached"


def test_the_fit_finds_overhead_and_rate_and_scales_with_work():
    recs = [CostRecord("t", "k", {"work": w}, 0.5 + 0.01 * w) for w in (10, 20, 40, 80)]
    f = fit(recs)
    assert f.overhead == pytest.approx(0.5, abs=1e-6) and f.rate == pytest.approx(0.01, abs=1e-9)
    assert f.seconds(160) == pytest.approx(2.1)
    same = fit([CostRecord("t", "k", {"work": 100}, s) for s in (1.0, 1.2, 0.8)])
    # one size measured: three quarters of a call scale with its work, a quarter is fixed
    assert same.seconds(100) == pytest.approx(1.0) and same.seconds(200) == pytest.approx(1.75)
    assert same.spread_lo >= 0.2 and same.spread_hi >= 0.2


def test_nodes_sketch_what_they_will_make_without_making_it():
    reg = graph.default_registry()
    key = reg.get("image.keyframe").cls.sketch({"aspect": "16:9", "resolution": 720, "width": 0, "height": 0})
    assert dict(key["image"].meta) == {"width": 1280, "height": 720}
    clip = reg.get("video.image_to_video").cls.sketch({"image": key["image"], "seconds": 2.5, "fps": 24})
    assert clip["video"].meta["frames"] == 60 and clip["video"].meta["width"] == 1280
    up = reg.get("video.upscale").cls.sketch({"video": clip["video"], "mode": "x2", "width": 0, "height": 0})
    assert (up["video"].meta["width"], up["video"].meta["height"], up["video"].meta["frames"]) == (2560, 1440, 60)
    talk = reg.get("audio.speech").cls.sketch({"text": "one two three four five six seven eight", "speed": 160})
    assert talk["audio"].meta["duration"] == pytest.approx(3.0)
    # a node without its own sketch passes its media through (captions, mux, save) ...
    spec = reg.get("video.caption")
    out = est.sketch_outputs(spec, {"video": clip["video"], "text": "hi"})
    assert out["video"].meta["frames"] == 60
    # ... and a concatenation joins them end to end
    joined = est.sketch_outputs(reg.get("assemble.concat"), {"videos": [clip["video"]] * 3})
    assert joined["video"].meta["frames"] == 180
    assert est.is_sketch(joined) and not est.is_sketch({"x": 1})
    assert sketch_media("audio", duration=2.0).digest == est.SKETCH


@pytest.fixture
def gpu(monkeypatch):
    """Pretend this machine has a GPU of a given name and memory (nothing here needs torch)."""
    from reelgraph.nodes.models import device

    def use(name: str, memory_gb: float) -> None:
        monkeypatch.setattr(device, "probe", lambda: device.Probe("cuda", memory_gb, name))
    return use


def keyframe_with(model: str, **extra) -> dict:
    return {**small(2, 1), "keyframe.backend": "diffusers", "keyframe.model": model, **extra}


def test_a_model_never_run_here_is_estimated_from_the_table_scaled_to_this_gpu(cache, gpu):
    gpu("NVIDIA H100 80GB HBM3", 80.0)
    e = graph.estimate(STORYBOARD, overrides=keyframe_with("flux-dev", **{"keyframe.resolution": 1024,
                                                                          "keyframe.aspect": "1:1"}),
                       cache=cache)
    key = e.node("keyframe")
    # 28 steps × 0.24 s at 1024² on an H100 (published), per keyframe, plus loading the model once
    assert key.calls == 2 and "table: flux-dev published on H100" in key.source
    per_call = (key.seconds - key.load_seconds) / 2
    assert 28 * 0.235 < per_call < 28 * 0.245
    assert key.load_seconds > 0 and key.vram_mb and key.vram_mb > 30_000
    # the weights are not here: the estimate says so, with the command that fetches them
    assert any("reelgraph models pull flux-dev" in w["fix"] for w in key.warnings)
    # an A100 has a third of an H100's bf16 throughput: the same figure, scaled
    gpu("NVIDIA A100-SXM4-80GB", 80.0)
    slower = graph.estimate(STORYBOARD, overrides=keyframe_with("flux-dev", **{"keyframe.resolution": 1024,
                                                                               "keyframe.aspect": "1:1"}),
                            cache=cache).node("keyframe")
    assert (slower.seconds - slower.load_seconds) > 2.5 * (key.seconds - key.load_seconds)
    assert "scaled from H100" in slower.source


def test_a_model_that_will_not_fit_is_flagged_with_the_setting_that_fixes_it(cache, gpu, monkeypatch):
    gpu("NVIDIA GeForce RTX 4090", 24.0)
    hd = {"keyframe.resolution": 720}  # 1280×720: more than FLUX's native 768², more memory
    e = graph.estimate(STORYBOARD, overrides=keyframe_with("flux-dev", **hd), cache=cache)
    fits = [w for w in e.warnings if "GPU" in w["message"]]
    assert "sequential offload" in fits[0]["message"]
    assert fits and fits[0]["node"] == "keyframe"
    assert "sdxl-turbo" in fits[0]["fix"]  # a preset that fits this card
    monkeypatch.setenv("REELGRAPH_OFFLOAD", "none")  # forced resident: it cannot fit at all
    e = graph.estimate(STORYBOARD, overrides=keyframe_with("flux-dev", **hd), cache=cache)
    fits = [w for w in e.warnings if "GPU memory" in w["message"]]
    assert fits and "REELGRAPH_OFFLOAD=model" in fits[0]["fix"]
    # a preset that fits raises nothing about memory
    monkeypatch.delenv("REELGRAPH_OFFLOAD")
    e = graph.estimate(STORYBOARD, overrides=keyframe_with("sdxl-turbo", **hd), cache=cache)
    assert not [w for w in e.warnings if "GPU" in w["message"]]


def test_a_measurement_store_that_cannot_be_written_never_fails_a_run(cache, monkeypatch, tmp_path):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    monkeypatch.setenv("REELGRAPH_MEASUREMENTS", str(tmp_path / "blocked" / "m.db"))
    assert graph.run(STORYBOARD, overrides=small(1, 1), cache=cache).ok


def test_measurements_keep_only_the_newest_calls_per_node_and_key(tmp_path):
    m = Measurements(tmp_path / "m.db", keep=3)
    m.add(CostRecord("a", "k", {"work": float(i)}, float(i)) for i in range(5))
    m.add([CostRecord("b", "k", {"work": 1.0}, 1.0)])
    kept = m.of(["a", "b"])
    assert [r.seconds for r in kept["a"]] == [2.0, 3.0, 4.0] and len(kept["b"]) == 1
    assert m.count() == 4


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reelgraph.ui.cli", *args], capture_output=True, text=True,
                          timeout=240, env=env)


def test_reelgraph_plan_estimate_prints_each_node_and_the_whole_run(tmp_path):
    import os
    env = {**os.environ, "REELGRAPH_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "120"}
    sets = ["--set", f"story.script={story(2, 1)}", "--set", "keyframe.resolution=144"]
    first = run_cli("plan", "--estimate", str(STORYBOARD), *sets, env=env)
    assert first.returncode == 0, first.stderr
    assert "nothing measured on this machine yet" in first.stdout
    assert run_cli("run", str(STORYBOARD), *sets, "-q", "-o", str(tmp_path / "a.mp4"), env=env).returncode == 0
    longer = ["--set", f"story.script={story(3, 2)}", "--set", "keyframe.resolution=144"]
    out = run_cli("plan", "--estimate", str(STORYBOARD), *longer, env=env)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "run ×3" in rows["animate"] and "measured" in rows["animate"]
    assert "whole run: about" in out.stdout and "peak RAM" in out.stdout
    data = json.loads(run_cli("plan", "--estimate", "--json", str(STORYBOARD), *longer, env=env).stdout)
    assert data["seconds"] > 0 and data["measured_calls"] > 0
    assert {n["node"] for n in data["nodes"]} >= {"animate", "keyframe", "save"}
