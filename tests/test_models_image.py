"""The image model backends (image.keyframe, image.upscale, video.upscale with backend=diffusers),
run for real through the engine on tiny random pipelines (tests/tiny/image.py) on the CPU.

(docs/model-backends.md: the model path keeps the draft's outputs: frame size, PNG/MP4, frame count,
fps, sound; per-step progress; cancellation stores nothing; wrong kinds of model are refused.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tiny
from conftest import make_workflow
from PIL import Image as PILImage
from reelgraph import graph
from reelgraph.graph import CancelToken, RunContext
from tiny import image as tiny_image

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # the libraries' own deprecations, nothing these tests can act on
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]

FOX = "a red fox in fresh snow at sunrise"
STEP = re.compile(r"^(?:tile (\d+)/(\d+) )?step (\d+)/(\d+)$")


@pytest.fixture(scope="module")
def sd(tmp_path_factory) -> Path:
    return tiny_image.build_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory) -> Path:
    return tiny_image.build_upscaler(tmp_path_factory.mktemp("models") / "tiny-x4")


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory) -> Path:
    return tiny_image.build_sdxl(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="module")
def flux(tmp_path_factory) -> Path:
    return tiny_image.build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


def keyframe_flow(model, prompt=FOX, **params) -> dict:
    values = {"resolution": 64, "seed": 1, "steps": 2, "backend": "diffusers", "model": str(model), **params}
    return make_workflow({"prompt": ("text.constant", {"text": prompt}),
                          "frame": ("image.keyframe", values)}, [("prompt.out", "frame.prompt")])


def run(flow, tmp_path, **kwargs):
    kwargs.setdefault("cache", False)
    return graph.run(flow, workspace=tmp_path, **kwargs)


def pixels(ref) -> np.ndarray:
    with PILImage.open(ref.path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def steps_seen(events, node) -> list[tuple]:
    """(tile, tiles, step, steps) of each per-step progress event of ``node``."""
    found = []
    for e in events:
        if e.event == "node_progress" and e.node == node and e.message and (m := STEP.match(e.message)):
            found.append(tuple(int(g) if g else None for g in m.groups()))
    return found


def write_png(path: Path, w: int, h: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 / w, y * 255 / h, (x + y) % 64 * 4], -1) + rng.normal(0, 8, (h, w, 3))
    PILImage.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path)
    return path


# ---------------------------------------------------------------------------------------------
# image.keyframe

@pytest.mark.parametrize("params,size", [({"aspect": "16:9"}, (114, 64)),
                                         ({"aspect": "custom", "width": 90, "height": 120}, (90, 120))])
def test_keyframe_model_gives_the_frame_size_and_meta(sd, tmp_path, params, size):
    result = run(keyframe_flow(sd, **params), tmp_path)
    assert result.ok, result.failures
    ref = result.value("frame.image")
    with PILImage.open(ref.path) as im:
        assert im.size == size and im.format == "PNG" and im.mode == "RGB"
    assert (ref.width, ref.height) == size
    assert (ref.model, ref.seed, ref.prompt, ref.steps) == (str(sd), 1, FOX, 2)
    assert pixels(ref).std() > 1  # a picture, not a flat fill


def test_keyframe_model_same_seed_same_pixels_other_seed_differs(sd, tmp_path):
    a, b, c = (run(keyframe_flow(sd, seed=s), tmp_path) for s in (7, 7, 8))
    assert a.ok and b.ok and c.ok
    assert np.array_equal(pixels(a.value("frame.image")), pixels(b.value("frame.image")))
    assert not np.array_equal(pixels(a.value("frame.image")), pixels(c.value("frame.image")))


def test_keyframe_model_reports_each_denoising_step(sd, tmp_path, every_progress_event):
    events = []
    result = run(keyframe_flow(sd, steps=3), tmp_path, on_event=events.append)
    assert result.ok, result.failures
    assert [s[2:] for s in steps_seen(events, "frame") if s[2] > 0] == [(1, 3), (2, 3), (3, 3)]


def test_keyframe_model_cancelled_at_the_first_step_stores_nothing(sd, tmp_path, stop_after):
    token = CancelToken()
    stop_after(token, "frame", r"^step 1/4$")
    events: list = []
    cache = tmp_path / "cache"
    result = graph.run(keyframe_flow(sd, steps=4), workspace=tmp_path, cache=cache, cancel=token,
                       on_event=events.append)
    assert result.status == "cancelled" and result.failures == []
    assert "frame" in result.skipped and "frame" not in result.ran
    assert [s[2] for s in steps_seen(events, "frame") if s[2] > 0] == [1]  # step 2 never reported
    assert not any(e.event in ("node_finished", "node_failed") and e.node == "frame" for e in events)
    assert not list(cache.rglob("*.png")) and not list(tmp_path.rglob("store/**/*.png"))


def test_keyframe_model_starts_from_the_reference(sd, tmp_path, every_progress_event):
    flow = keyframe_flow(sd, seed=3)
    flow["nodes"]["look"] = {"type": "image.keyframe", "params": {"resolution": 64, "seed": 5}}  # a draft
    flow["edges"] += [{"from": "prompt.out", "to": "look.prompt"}, {"from": "look.image", "to": "frame.reference"}]
    events = []
    with_ref = run(flow, tmp_path, on_event=events.append)
    assert with_ref.ok, with_ref.failures
    ref = with_ref.value("frame.image")
    assert (ref.width, ref.height) == (114, 64) and ref.reference_strength == pytest.approx(0.35)
    # the steps asked for are the steps run, whatever part of the schedule the strength skips
    assert [s[2:] for s in steps_seen(events, "frame") if s[2] > 0] == [(1, 2), (2, 2)]
    plain = run(keyframe_flow(sd, seed=3), tmp_path).value("frame.image")
    assert not np.array_equal(pixels(ref), pixels(plain))
    stronger = run(flow, tmp_path, overrides={"frame.reference_strength": 0.9}).value("frame.image")
    assert not np.array_equal(pixels(ref), pixels(stronger))


def test_keyframe_refuses_a_model_of_another_kind_naming_the_field(upscaler, tmp_path):
    result = run(keyframe_flow(upscaler), tmp_path)
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "frame" and failure.field == "model"
    assert "StableDiffusionUpscalePipeline" in failure.message and "StableDiffusionPipeline" in failure.fix


def test_keyframe_preset_id_resolves_from_the_hugging_face_cache(sd, tmp_path):
    tiny.to_hub_cache(sd, tmp_path / "hf-home" / "hub", "stabilityai/sd-turbo")
    flow = keyframe_flow("sd-turbo", steps=0)
    flow["nodes"]["default"] = {"type": "image.keyframe",
                                "params": {"resolution": 64, "seed": 1, "backend": "diffusers", "model": ""}}
    flow["edges"].append({"from": "prompt.out", "to": "default.prompt"})
    result = run(flow, tmp_path)
    assert result.ok, result.failures
    for node in ("frame", "default"):  # an empty model is the cpu tier's default preset: sd-turbo
        ref = result.value(f"{node}.image")
        assert (ref.width, ref.height) == (114, 64)
        assert (ref.model, ref.steps, ref.guidance) == ("sd-turbo", 2, 0.0)  # the preset's defaults
    assert np.array_equal(pixels(result.value("frame.image")), pixels(result.value("default.image")))


def test_keyframe_without_the_weights_fails_before_it_runs_saying_how_to_get_them(tmp_path):
    events = []
    result = run(keyframe_flow(""), tmp_path, on_event=events.append)  # the default: sd-turbo, not pulled
    [failure] = result.failures
    assert failure.field == "model" and "sd-turbo" in failure.message
    assert "reelgraph models pull sd-turbo" in failure.fix and "backend draft" in failure.fix
    assert not any(e.event == "node_progress" and e.node == "frame" for e in events)


def test_keyframe_sdxl_model_with_reference(sdxl, tmp_path):
    flow = keyframe_flow(sdxl, aspect="9:16")
    first = run(flow, tmp_path)
    assert first.ok, first.failures
    assert (first.value("frame.image").width, first.value("frame.image").height) == (64, 114)
    flow["nodes"]["look"] = {"type": "image.keyframe", "params": {"resolution": 64, "aspect": "1:1"}}
    flow["edges"] += [{"from": "prompt.out", "to": "look.prompt"}, {"from": "look.image", "to": "frame.reference"}]
    second = run(flow, tmp_path)
    assert second.ok, second.failures
    ref = second.value("frame.image")
    assert (ref.width, ref.height) == (64, 114) and ref.model == str(sdxl)
    assert not np.array_equal(pixels(first.value("frame.image")), pixels(ref))


def test_keyframe_flux_model_with_reference(flux, tmp_path, monkeypatch):
    from reelgraph.nodes.image import _keyframe_model
    # FluxPipeline's native size is a fixed 1024 px whatever the weights: too slow for a tiny model
    monkeypatch.setattr(_keyframe_model, "native_geometry", lambda pipe: (32, 16))
    flow = keyframe_flow(flux)
    flow["nodes"]["negative"] = {"type": "text.constant", "params": {"text": "people"}}
    flow["edges"].append({"from": "negative.out", "to": "frame.negative_prompt"})
    events = []
    first = run(flow, tmp_path, on_event=events.append)
    assert first.ok, first.failures
    assert (first.value("frame.image").width, first.value("frame.image").height) == (114, 64)
    assert any(e.event == "node_warning" and "negative_prompt is ignored" in e.message for e in events)
    flow["nodes"]["look"] = {"type": "image.keyframe", "params": {"resolution": 64}}
    flow["edges"] += [{"from": "prompt.out", "to": "look.prompt"}, {"from": "look.image", "to": "frame.reference"}]
    second = run(flow, tmp_path)
    assert second.ok, second.failures
    assert not np.array_equal(pixels(first.value("frame.image")), pixels(second.value("frame.image")))


# ---------------------------------------------------------------------------------------------
# image.upscale

def upscale_flow(model, picture: str, **nodes) -> dict:
    return make_workflow(
        {"load": ("io.load_image", {"path": picture}),
         **{name: ("image.upscale", {"backend": "diffusers", "model": str(model), **p}) for name, p in nodes.items()}},
        [("load.image", f"{name}.image") for name in nodes])


def test_image_upscale_model_gives_the_mode_sizes(upscaler, tmp_path):
    write_png(tmp_path / "small.png", 40, 24)
    result = run(upscale_flow(upscaler, "small.png", x2={"mode": "x2"}, x4={"mode": "x4"},
                              sized={"mode": "to_size", "width": 100}), tmp_path)
    assert result.ok, result.failures
    for name, size in (("x2", (80, 48)), ("x4", (160, 96)), ("sized", (100, 60))):
        ref = result.value(f"{name}.image")
        with PILImage.open(ref.path) as im:
            assert im.size == size == (ref.width, ref.height) and im.format == "PNG"
        assert ref.model == str(upscaler)


def test_image_upscale_model_tiles_a_large_input(upscaler, tmp_path, every_progress_event):
    write_png(tmp_path / "wide.png", 160, 48)  # wider than one 128 px tile
    events = []
    result = run(upscale_flow(upscaler, "wide.png", big={"mode": "x2"}), tmp_path, on_event=events.append)
    assert result.ok, result.failures
    ref = result.value("big.image")
    assert (ref.width, ref.height) == (320, 96) and pixels(ref).shape == (96, 320, 3)
    seen = [s for s in steps_seen(events, "big") if s[2] > 0]
    assert seen == [(t, 2, i, 20) for t in (1, 2) for i in range(1, 21)]  # 2 tiles × the preset's 20 steps
    progress = [e.progress for e in events if e.event == "node_progress" and e.node == "big"]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_image_upscale_refuses_a_text_to_image_model(sd, tmp_path):
    write_png(tmp_path / "small.png", 40, 24)
    result = run(upscale_flow(sd, "small.png", big={"mode": "x2"}), tmp_path)
    [failure] = result.failures
    assert failure.field == "model" and "StableDiffusionPipeline" in failure.message


class NearestX4:
    """Stands in for the ×4 upscaler: nearest-neighbour ×4, so a tiled result must equal the whole
    picture's exactly wherever the tiles are and however they are blended."""

    def __init__(self):
        self.tiles = []

    def __call__(self, prompt=None, image=None, num_inference_steps=20, guidance_scale=0.0, noise_level=20,
                 generator=None, output_type="np", callback=None, callback_steps=1):
        self.tiles.append(image.size)
        for i in range(num_inference_steps):
            callback(i, 0, None)
        arr = np.asarray(image, np.float32) / 255.0
        return SimpleNamespace(images=[arr.repeat(4, 0).repeat(4, 1)])


def test_tiled_upscale_blends_without_seams(tmp_path):
    from reelgraph.graph import LoadedModel
    from reelgraph.nodes.image._upscale_model import upscale
    pipe = NearestX4()
    pipe.vae_scale_factor = 4
    loaded = LoadedModel(pipe, 0, info={"pipeline": "StableDiffusionUpscalePipeline", "label": "nearest"})
    src = PILImage.open(write_png(tmp_path / "big.png", 300, 150)).convert("RGB")
    out = upscale(RunContext.standalone(tmp_path), loaded, src, (1200, 600))
    assert len(pipe.tiles) == 6 and set(pipe.tiles) == {(128, 128)}  # 3 × 2 tiles of the padded 304 × 152
    expected = np.asarray(src, np.int16).repeat(4, 0).repeat(4, 1)
    assert np.abs(np.asarray(out, np.int16) - expected).max() <= 1


class FlatPerTile(NearestX4):
    """Each tile comes back a different flat grey: the worst disagreement tiles can have."""

    def __call__(self, image=None, callback=None, **kw):
        super().__call__(image=image, callback=callback, **kw)
        level = 0.2 + 0.3 * (len(self.tiles) - 1)
        return SimpleNamespace(images=[np.full((image.size[1] * 4, image.size[0] * 4, 3), level, np.float32)])


def test_tiles_are_feathered_into_each_other(tmp_path):
    from reelgraph.graph import LoadedModel
    from reelgraph.nodes.image._upscale_model import upscale
    pipe = FlatPerTile()
    pipe.vae_scale_factor = 4
    loaded = LoadedModel(pipe, 0, info={"pipeline": "StableDiffusionUpscalePipeline", "label": "flat"})
    src = PILImage.new("RGB", (200, 64))  # two tiles side by side, overlapping by 56 px
    row = np.asarray(upscale(RunContext.standalone(tmp_path), loaded, src, (800, 256)), np.float32)[128, :, 0]
    assert row[0] == pytest.approx(0.2 * 255, abs=1) and row[-1] == pytest.approx(0.5 * 255, abs=1)
    steps = np.abs(np.diff(row))
    # a hard seam would jump 76 levels at once; the crossfade over the 224 px (56 × 4) overlap
    # spreads it into steps of at most one level
    assert steps.max() <= 1 and np.all(np.diff(row) >= -0.5)


# ---------------------------------------------------------------------------------------------
# video.upscale

def make_clip(path: Path, size=(32, 24), fps=6, seconds=1.0, audio=True) -> Path:
    from reelgraph.nodes.common import ffmpeg
    cmd = [ffmpeg.exe(), "-v", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=s={size[0]}x{size[1]}:r={fps}:d={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:a", "aac", "-shortest"]
    subprocess.run([*cmd, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.mark.parametrize("audio", [True, False])
def test_video_upscale_model_keeps_frames_fps_and_sound(upscaler, tmp_path, audio):
    from mediaprobe import probe
    make_clip(tmp_path / "clip.mp4", audio=audio)
    flow = make_workflow({"load": ("io.load_video", {"path": "clip.mp4"}),
                          "big": ("video.upscale", {"mode": "x2", "backend": "diffusers", "model": str(upscaler)})},
                         [("load.video", "big.video")])
    result = run(flow, tmp_path)
    assert result.ok, result.failures
    ref = result.value("big.video")
    info = probe(ref.path)
    [v] = info["video"]
    assert v["codec"] == "h264" and v["pix_fmt"] == "yuv420p"
    assert (v["width"], v["height"]) == (64, 48) == (ref.width, ref.height)
    assert (v["frames"], v["fps"]) == (6, pytest.approx(6)) and (ref.frames, ref.fps) == (6, 6.0)
    assert bool(info["audio"]) == audio == ref.has_audio
    assert ref.model == str(upscaler)
