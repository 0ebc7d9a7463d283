"""The model backend of the video nodes (video.image_to_video, video.extend) with tiny random
diffusers pipelines on the CPU, run through the engine; and video.interpolate's 2.0 upgrade.

The tiny models (tests/tiny/video.py) render 32-64 px, a few frames per generation at 8 fps: the
node's contract (exact frame count, fps, size, H.264) is what is checked, not the pictures.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import make_workflow
from mediaprobe import frame_difference, probe, video_frames
from PIL import Image as PILImage
from PIL import ImageDraw
from reelgraph import graph
from reelgraph.graph import CancelToken
from tiny import to_hub_cache

pytestmark = pytest.mark.usefixtures("one_torch_thread")

W, H = 80, 48  # the keyframe, hence the clip's size; the tiny models render 32-64 px


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny import video
    root = tmp_path_factory.mktemp("tiny-i2v")
    return {"svd": video.build_svd(root / "svd"), "ltx": video.build_ltx(root / "ltx"),
            "wan": video.build_wan(root / "wan"), "flf": video.build_wan(root / "flf", last_frame=True)}


def picture(w: int = W, h: int = H, seed: int = 0) -> PILImage.Image:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None, None]
    img = PILImage.fromarray((np.array([40, 70, 140]) * (1 - y) + np.array([230, 160, 90]) * y
                              + np.zeros((1, w, 1))).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        cx, cy, r = rng.random() * w, rng.random() * h, 3 + rng.random() * h * 0.2
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return img


def shot(tmp_path, model, *, last: bool = False, prompt: str | None = "a paper boat on a street",
         **params) -> dict:
    """A workflow: load the picture (and a closing one), animate it with the model."""
    picture().save(tmp_path / "in.png")
    nodes = {"key": ("io.load_image", {"path": "in.png"}),
             "shot": ("video.image_to_video", {"seconds": 0.5, "fps": 12, "backend": "diffusers",
                                               "model": str(model), **params})}
    edges = [("key.image", "shot.image")]
    if prompt is not None:
        nodes["text"] = ("text.constant", {"text": prompt})
        edges.append(("text.out", "shot.prompt"))
    if last:
        PILImage.new("RGB", (W, H), (250, 250, 250)).save(tmp_path / "last.png")
        nodes["end"] = ("io.load_image", {"path": "last.png"})
        edges.append(("end.image", "shot.last_frame"))
    return make_workflow(nodes, edges)


def run(flow, tmp_path, cache: str = "c", **kw):
    events = []
    result = graph.run(flow, cache=tmp_path / cache, workspace=tmp_path, on_event=events.append, **kw)
    return result, events


def warnings_of(events, node: str = "shot") -> list[str]:
    return [e.message for e in events if e.event == "node_warning" and e.node == node]


def contract(ref, frames: int, fps: float, size=(W, H)) -> None:
    v = probe(ref.path)["video"][0]
    assert (v["codec"], v["pix_fmt"]) == ("h264", "yuv420p")
    assert (v["width"], v["height"], v["frames"]) == (*size, frames)
    assert v["fps"] == pytest.approx(fps)
    assert (ref.meta["frames"], ref.meta["fps"], ref.meta["width"], ref.meta["height"]) == (frames, fps, *size)


# ---------------------------------------------------------------------------------------------
# video.image_to_video

def test_ltx_clip_has_the_exact_frames_fps_and_size_and_names_its_model(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("reelgraph.graph.context._PROGRESS_INTERVAL", 0.0)
    result, events = run(shot(tmp_path, tiny["ltx"], camera="pan_left"), tmp_path)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    contract(ref, 6, 12)  # round(0.5 × 12)
    assert ref.meta["model"] == str(tiny["ltx"]) and ref.meta["generations"] == 1
    assert warnings_of(events) == []
    # steps 0: the model's own default (2 for the tiny model, from its reelgraph.json)
    assert [e.message for e in events if e.node == "shot" and "step" in (e.message or "")] == \
        ["step 0/2", "step 1/2", "step 2/2"]


def test_a_shot_longer_than_one_generation_chains_them_and_reports_every_step(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("reelgraph.graph.context._PROGRESS_INTERVAL", 0.0)  # every event, unthrottled
    # 2 s at 10 fps: model frames up to 15.2 at 8 fps; the tiny LTX makes 9 (8 new) per generation
    result, events = run(shot(tmp_path, tiny["ltx"], seconds=2.0, fps=10, steps=3), tmp_path)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    contract(ref, 20, 10)
    assert ref.meta["generations"] == 2
    steps = [e.message for e in events if e.event == "node_progress" and e.node == "shot"
             and re.search(r"step [1-9]\d*/3$", e.message or "")]
    assert steps == [f"part {p}/2 step {s}/3" for p in (1, 2) for s in (1, 2, 3)]
    fractions = [e.progress for e in events if e.event == "node_progress" and e.node == "shot"
                 and "step" in (e.message or "")]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_the_same_seed_gives_the_same_clip_another_seed_another(tiny, tmp_path):
    def frames(seed, cache):
        result, _ = run(shot(tmp_path, tiny["ltx"], seed=seed), tmp_path, cache=cache)
        assert result.ok, result.failures
        return video_frames(result.value("shot.video").path)

    a, b, c = frames(3, "c1"), frames(3, "c2"), frames(4, "c3")
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b) == 6
    assert max(frame_difference(x, y) for x, y in zip(a, c)) > 1.0


@pytest.mark.parametrize("at", ["the first progress event", "the first denoising step"])
def test_cancelling_stores_nothing(tiny, tmp_path, stop_after, at):
    token = CancelToken()
    stop_after(token, "shot", "" if at == "the first progress event" else r"step 1/")
    seen = []

    def on_event(e):
        if e.event == "node_progress" and e.node == "shot":
            seen.append(e.message)

    result = graph.run(shot(tmp_path, tiny["ltx"], seconds=2.0, fps=10), cache=tmp_path / "c",
                       workspace=tmp_path, on_event=on_event, cancel=token)
    assert result.status == "cancelled"
    assert "shot" not in result.values
    assert not any(re.search(r"step 2/|part 2/", m or "") for m in seen)  # it stopped at once
    with graph.open_cache(tmp_path / "c") as cache:
        assert cache.count() == 2  # the picture and the prompt; not the shot
        assert list(cache.store.tmp_dir.glob("*.mp4")) == []
        assert not [p for p in cache.store.objects.rglob("*.mp4")]


def test_a_hub_repo_id_resolves_from_the_hugging_face_cache(tiny, tmp_path):
    to_hub_cache(tiny["ltx"], tmp_path / "hf-home" / "hub", "some-org/tiny-ltx")
    result, _ = run(shot(tmp_path, "some-org/tiny-ltx", seconds=0.25, fps=8), tmp_path)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    contract(ref, 2, 8)
    assert ref.meta["model"] == "some-org/tiny-ltx"


def test_svd_animates_without_a_prompt_and_says_it_ignores_one(tiny, tmp_path):
    result, events = run(shot(tmp_path, tiny["svd"], seconds=0.5, fps=8, motion=0.9), tmp_path)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    contract(ref, 4, 8)
    assert ref.meta["generations"] == 1
    [warning] = warnings_of(events)
    assert "takes no prompt" in warning


def test_wan_image_to_video(tiny, tmp_path):
    result, events = run(shot(tmp_path, tiny["wan"], seconds=0.5, fps=6, camera="push_in"), tmp_path)
    assert result.ok, result.failures
    contract(result.value("shot.video"), 3, 6)
    assert warnings_of(events) == []


def test_a_model_without_a_last_frame_cross_fades_to_it_and_says_so(tiny, tmp_path):
    result, events = run(shot(tmp_path, tiny["ltx"], last=True), tmp_path)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    contract(ref, 6, 12)
    assert any("cross-fades to last_frame" in w for w in warnings_of(events))
    end = video_frames(ref.path)[-1]
    assert abs(float(end.mean()) - 250) < 4  # it ends on the white closing frame


def test_a_first_and_last_frame_model_takes_the_last_frame(tiny, tmp_path):
    result, events = run(shot(tmp_path, tiny["flf"], last=True, seconds=0.5, fps=6), tmp_path)
    assert result.ok, result.failures
    contract(result.value("shot.video"), 3, 6)
    assert warnings_of(events) == []
    # longer than one generation (8 frames at 8 fps): that generation, slowed down to fit
    result, events = run(shot(tmp_path, tiny["flf"], last=True, seconds=1.5, fps=6), tmp_path)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    contract(ref, 9, 6)
    assert ref.meta["generations"] == 1
    assert any("slowed down" in w for w in warnings_of(events))
    # without a last frame it cannot run: the failure names last_frame
    result, _ = run(shot(tmp_path, tiny["flf"], seconds=0.5, fps=6), tmp_path)
    [failure] = result.failures
    assert (failure.node, failure.field) == ("shot", "last_frame")


def test_a_model_of_another_kind_fails_naming_model(tmp_path):
    from tiny.image import build_sd
    build_sd(tmp_path / "tiny-sd")
    result, _ = run(shot(tmp_path, tmp_path / "tiny-sd"), tmp_path)
    [failure] = result.failures
    assert (failure.node, failure.field) == ("shot", "model")
    assert "StableDiffusionPipeline" in str(failure) and "LTXImageToVideoPipeline" in failure.fix


def test_the_prompt_says_the_camera_move_and_the_motion():
    from reelgraph.nodes.video._i2v_model import _segments, full_prompt
    assert full_prompt("A boat.", "pan_left", 0.15, 0.5) == "A boat. camera pans left, gentle natural motion"
    assert full_prompt(None, "push_in", 0.0, 0.1) == "static camera, almost still, minimal motion"
    assert full_prompt("", "orbit_right", 0.5, 1.0).startswith("camera orbits right")
    assert _segments(15, 9, 4) == [9, 9] and _segments(3, 121, 8) == [9] and _segments(30, 25, 1) == [25, 7]


def test_what_each_pipeline_is_asked(tiny):
    import diffusers
    import torch
    from reelgraph.graph.models import LoadedModel
    from reelgraph.nodes.video._i2v_model import Shot

    def asked(name, folder, **kw):
        pipe = getattr(diffusers, name).from_pretrained(str(folder), dtype=torch.float32)
        loaded = LoadedModel(pipe, 0, info={"pipeline": name, "label": "tiny"})
        s = Shot(loaded, size=(W, H), times=[i / 12 for i in range(6)], prompt="a boat", amplitude=0.15,
                 seed=0, steps=0, **kw)
        return s, s._kwargs(PILImage.new("RGB", s.model_size), None, s.plan[0], None)

    _, kw = asked("StableVideoDiffusionPipeline", tiny["svd"], camera="pan_left", motion=0.9)
    assert "prompt" not in kw and kw["motion_bucket_id"] == 230 and kw["fps"] == 8
    assert (kw["width"], kw["height"], kw["num_frames"], kw["num_inference_steps"]) == (112, 64, 5, 2)
    _, kw = asked("LTXImageToVideoPipeline", tiny["ltx"], camera="pan_left", motion=0.5)
    assert kw["prompt"] == "a boat. camera pans left, gentle natural motion" and kw["frame_rate"] == 8
    assert (kw["width"], kw["height"], kw["num_frames"]) == (96, 64, 5)  # 4n+1, multiples of 32


def test_steps_default_to_the_models_own():
    reg = graph.default_registry()
    for type_id in ("video.image_to_video", "video.extend"):
        spec = reg.get(type_id)
        assert (spec.params["steps"].default, spec.params["steps"].min) == (0, 0)
        # steps came in 1.1.0 (later minor versions keep it)
        assert tuple(int(x) for x in spec.version.split(".")) >= (1, 1, 0)


# ---------------------------------------------------------------------------------------------
# video.extend

def test_extend_continues_with_the_model_for_exactly_its_seconds(tiny, tmp_path):
    picture().save(tmp_path / "in.png")
    flow = make_workflow({
        "key": ("io.load_image", {"path": "in.png"}),
        "shot": ("video.image_to_video", {"seconds": 1.0, "fps": 12, "camera": "pan_right"}),  # the draft
        "more": ("video.extend", {"seconds": 0.75, "backend": "diffusers", "model": str(tiny["ltx"])}),
        "only": ("video.extend", {"seconds": 0.75, "include_source": False, "backend": "diffusers",
                                  "model": str(tiny["ltx"])}),
    }, [("key.image", "shot.image"), ("shot.video", "more.video"), ("shot.video", "only.video")])
    result, _ = run(flow, tmp_path)
    assert result.ok, result.failures
    source = result.value("shot.video")
    more, only = result.value("more.video"), result.value("only.video")
    contract(more, 12 + 9, 12)
    contract(only, 9, 12)
    assert more.meta["continuation_frames"] == only.meta["continuation_frames"] == 9
    assert more.meta["model"] == str(tiny["ltx"])
    # the source comes first, untouched; the continuation is the same with or without it
    src, out, cont = video_frames(source.path), video_frames(more.path), video_frames(only.path)
    assert max(frame_difference(a, b) for a, b in zip(src, out[:12])) < 1.5
    assert max(frame_difference(a, b) for a, b in zip(cont, out[12:])) < 1.5


def test_extend_refuses_a_first_and_last_frame_model(tiny, tmp_path):
    picture().save(tmp_path / "in.png")
    flow = make_workflow({
        "key": ("io.load_image", {"path": "in.png"}),
        "shot": ("video.image_to_video", {"seconds": 0.5, "fps": 12}),
        "more": ("video.extend", {"seconds": 0.5, "backend": "diffusers", "model": str(tiny["flf"])}),
    }, [("key.image", "shot.image"), ("shot.video", "more.video")])
    result, _ = run(flow, tmp_path)
    [failure] = result.failures
    assert (failure.node, failure.field) == ("more", "model") and "ltx-video" in failure.fix


# ---------------------------------------------------------------------------------------------
# video.interpolate: 2.0 dropped backend/model (frame interpolation is not a diffusers model)

@pytest.mark.parametrize("backend", ["draft", "auto", "diffusers"])
def test_interpolate_saved_with_backend_and_model_still_loads_and_runs(tmp_path, backend):
    picture().save(tmp_path / "in.png")
    flow = make_workflow({
        "key": ("io.load_image", {"path": "in.png"}),
        "shot": ("video.image_to_video", {"seconds": 0.5, "fps": 12}),
        "smooth": {"type": "video.interpolate", "version": "1.0.0",
                   "params": {"fps": 24, "method": "blend", "backend": backend, "model": "some/model"}},
    }, [("key.image", "shot.image"), ("shot.video", "smooth.video")])
    assert graph.validate(flow) == []
    assert graph.compile(flow).nodes["smooth"].params == {"fps": 24, "method": "blend"}
    result, _ = run(flow, tmp_path)
    assert result.ok, result.failures
    v = probe(result.value("smooth.video").path)["video"][0]
    assert (v["frames"], v["fps"]) == (12, pytest.approx(24))


def test_interpolate_2_has_no_backend_param(tmp_path):
    flow = make_workflow({"smooth": {"type": "video.interpolate", "version": "2.0.0",
                                     "params": {"fps": 24, "backend": "draft"}}})
    issues = [(i.node, i.field, i.code) for i in graph.validate(flow) if i.field != "video"]
    assert issues == [("smooth", "backend", "unknown_param")]


def test_one_step_on_a_terminal_shift_schedule_runs_two_and_says_so(tiny, tmp_path):
    # LTX-Video's own scheduler stretches its sigmas to a terminal shift: one step would divide by zero
    import json
    import shutil
    model = tmp_path / "ltx-terminal"
    shutil.copytree(tiny["ltx"], model)
    config_path = model / "scheduler" / "scheduler_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "shift_terminal": 0.1}))
    events = []
    result = graph.run(shot(tmp_path, model, steps=1), cache=tmp_path / "c", workspace=tmp_path,
                       on_event=events.append)
    assert result.ok, result.failures
    assert any("needs at least 2 steps" in w and "ran 2" in w for w in warnings_of(events))
    frames = video_frames(result.value("shot.video").path)
    assert all(np.isfinite(f).all() and f.std() > 0 for f in frames)
