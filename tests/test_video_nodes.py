"""The video nodes (video.image_to_video, extend, upscale, interpolate, subtitles).

Outputs are checked with tests/mediaprobe.py (PyAV decoding, independent of our ffmpeg helpers):
sizes, frame counts, rates and durations, and what the picture does (a static shot stays still, a
camera move moves the right way, smoothly; captions appear where and when they should).
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from mediaprobe import frame_difference, probe, video_frames
from PIL import Image as PILImage
from PIL import ImageDraw
from reelgraph import graph
from reelgraph.graph import (
    Cancelled,
    CancelToken,
    Image,
    Int,
    Node,
    NodeError,
    Output,
    Param,
    Registry,
    RunContext,
    WorkflowError,
)
from reelgraph.nodes.common import ffmpeg
from reelgraph.nodes.video.caption import CaptionNode
from reelgraph.nodes.video.extend import ExtendVideoNode
from reelgraph.nodes.video.image_to_video import ImageToVideoNode
from reelgraph.nodes.video.interpolate import InterpolateVideoNode
from reelgraph.nodes.video.subtitles import SubtitlesNode
from reelgraph.nodes.video.upscale import UpscaleVideoNode

W, H = 160, 90
MOVES = ("push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "orbit_left", "orbit_right")


# ---------------------------------------------------------------------------------------------
# inputs made here: pictures (Pillow) and clips (ffmpeg's test sources)

def scene(w: int = W, h: int = H, seed: int = 0) -> PILImage.Image:
    """A textured picture with shapes: a sky gradient, discs, stripes (enough detail to see motion)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None, None]
    img = PILImage.fromarray((np.array([40, 70, 140]) * (1 - y) + np.array([230, 160, 90]) * y
                              + np.zeros((1, w, 1))).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(10):
        cx, cy, r = rng.random() * w, rng.random() * h, 3 + rng.random() * h * 0.15
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    for x in range(0, w, 9):
        d.line([x, h * 0.7, x + 6, h], fill=(20, 20, 20), width=1)
    return img


def dot(w: int = W, h: int = H, at=(0.5, 0.5), sigma: float = 3.0) -> PILImage.Image:
    """A soft bright dot on a dark ground: easy to track."""
    yy, xx = np.mgrid[0:h, 0:w]
    v = 30 + 200 * np.exp(-((xx - at[0] * w) ** 2 + (yy - at[1] * h) ** 2) / (2 * sigma ** 2))
    return PILImage.fromarray(np.dstack([v] * 3).astype(np.uint8))


def square(w: int = W, h: int = H, half: int = 16) -> PILImage.Image:
    """A white square centred on a black ground (its apparent size measures the zoom)."""
    img = PILImage.new("RGB", (w, h), (0, 0, 0))
    ImageDraw.Draw(img).rectangle([w // 2 - half, h // 2 - half, w // 2 + half - 1, h // 2 + half - 1],
                                  fill=(255, 255, 255))
    return img


def store_image(ctx, img: PILImage.Image, name: str = "in.png"):
    path = ctx.workspace / name
    img.save(path)
    return ctx.store_file(path, "image", width=img.width, height=img.height)


def store_clip(ctx, source: str, seconds: float, *, audio: bool = False, name: str = "clip.mp4",
               pix_fmt: str = "yuv420p"):
    """A clip from an ffmpeg lavfi source (e.g. "testsrc2=s=160x90:r=12"), optionally with a tone."""
    path = ctx.workspace / name
    cmd = [ffmpeg.exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}:d={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", pix_fmt, str(path)]
    subprocess.run(cmd, check=True)
    return ctx.store_file(path, "video")


I2V = dict(last_frame=None, prompt=None, seconds=1.0, fps=12, camera="static", amplitude=0.15, motion=0.5,
           seed=0, steps=30, backend="draft", model="")


def i2v(ctx, image, **kw):
    return ImageToVideoNode().run(ctx, image=image, **{**I2V, **kw})


def extend(ctx, video, **kw):
    values = dict(prompt=None, seconds=0.5, camera="push_in", amplitude=0.15, motion=0.5, seed=0, steps=30,
                  include_source=True, backend="draft", model="")
    return ExtendVideoNode().run(ctx, video=video, **{**values, **kw})


def centroid(frame: np.ndarray, floor: float = 60.0) -> tuple[float, float]:
    w = np.clip(frame - floor, 0, None) ** 2
    yy, xx = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
    return float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())


def rgb_frames(ref):
    return video_frames(ref.path, gray=False)


def coarse(frame: np.ndarray, k: int = 4) -> np.ndarray:
    """k×k block means: compares pictures without the pixel-level noise of fine texture and the codec."""
    h, w = frame.shape[0] // k * k, frame.shape[1] // k * k
    return frame[:h, :w].reshape(h // k, k, w // k, k, *frame.shape[2:]).mean(axis=(1, 3))


# ---------------------------------------------------------------------------------------------
# video.image_to_video

def test_image_to_video_makes_an_h264_clip_at_the_image_size_with_round_seconds_times_fps_frames(ctx):
    ref = i2v(ctx, store_image(ctx, scene()), seconds=1.5, fps=12, camera="push_in")
    info = probe(ref.path)
    v = info["video"][0]
    assert (v["codec"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", W, H)
    assert v["fps"] == pytest.approx(12) and v["frames"] == 18 and v["duration"] == pytest.approx(1.5)
    assert info["audio"] == []
    assert (ref.kind, ref.width, ref.height, ref.fps, ref.frames, ref.duration, ref.has_audio) == \
        ("video", W, H, 12.0, 18, 1.5, False)


def test_image_to_video_rounds_odd_image_sizes_to_even(ctx):
    ref = i2v(ctx, store_image(ctx, scene(161, 91)), seconds=0.5, camera="pan_left")
    v = probe(ref.path)["video"][0]
    assert v["width"] % 2 == 0 and v["height"] % 2 == 0
    assert abs(v["width"] - 161) <= 1 and abs(v["height"] - 91) <= 1


def test_a_static_shot_does_not_move_and_shows_the_image(ctx):
    img = scene()
    frames = rgb_frames(i2v(ctx, store_image(ctx, img), seconds=1.0, camera="static"))
    assert len(frames) == 12
    assert max(frame_difference(frames[0], f) for f in frames) < 0.5
    assert frame_difference(frames[0], np.asarray(img, np.float32)) < 4  # only the codec's loss


@pytest.mark.parametrize("camera", MOVES)
def test_every_camera_move_moves(ctx, camera):
    frames = video_frames(i2v(ctx, store_image(ctx, scene()), seconds=1.0, camera=camera).path)
    assert frame_difference(frames[0], frames[-1]) > 4
    steps = [frame_difference(a, b) for a, b in zip(frames, frames[1:])]
    assert steps[0] < 0.7 * max(steps) and steps[-1] < 0.7 * max(steps)  # eased in and out


def test_amplitude_zero_keeps_any_move_still(ctx):
    frames = video_frames(i2v(ctx, store_image(ctx, scene()), camera="pan_left", amplitude=0.0).path)
    assert frame_difference(frames[0], frames[-1]) < 0.5


def square_width(frame: np.ndarray) -> int:
    return int((frame[frame.shape[0] // 2] > 128).sum())


def test_push_in_zooms_into_the_centre_steadily_and_pull_out_reverses_it(ctx):
    image = store_image(ctx, square())
    widths = [square_width(f) for f in video_frames(i2v(ctx, image, seconds=1.5, camera="push_in").path)]
    assert all(b >= a for a, b in zip(widths, widths[1:]))  # grows frame after frame
    assert widths[0] == pytest.approx(32, abs=1)
    assert widths[-1] / widths[0] == pytest.approx(1.15, abs=0.05)  # amplitude 0.15 = 15 % zoom
    frames = video_frames(i2v(ctx, image, seconds=1.5, camera="push_in").path)
    assert centroid(frames[-1], 128) == pytest.approx((W / 2 - 0.5, H / 2 - 0.5), abs=0.6)  # on centre
    widths = [square_width(f) for f in video_frames(i2v(ctx, image, seconds=1.5, camera="pull_out").path)]
    assert all(b <= a for a, b in zip(widths, widths[1:]))
    assert widths[0] / widths[-1] == pytest.approx(1.15, abs=0.05)


@pytest.mark.parametrize("camera, axis, sign", [
    ("pan_left", 0, +1), ("pan_right", 0, -1),  # the camera turns left: the scene slides right
    ("tilt_up", 1, +1), ("tilt_down", 1, -1),  # the camera looks up: the scene slides down
    ("orbit_left", 0, -1), ("orbit_right", 0, +1),  # circling left: the background drifts left
])
def test_pans_tilts_and_orbits_go_the_right_way_smoothly(ctx, camera, axis, sign):
    frames = video_frames(i2v(ctx, store_image(ctx, dot()), seconds=2.0, camera=camera).path)
    track = np.array([centroid(f)[axis] for f in frames])
    other = np.array([centroid(f)[1 - axis] for f in frames])
    travel = (track[-1] - track[0]) * sign
    size = (W, H)[axis]
    if camera.startswith("orbit"):
        assert travel > 0.05 * size
    else:
        assert travel == pytest.approx(0.15 * size, rel=0.15)  # amplitude: a fraction of the frame
    step = np.diff(track) * sign
    assert step.min() > -0.05  # never goes back
    assert np.abs(np.diff(step)).max() < 0.35  # eased, no jitter (in pixels per frame²)
    assert step[0] < 0.3 * step.max() and step[-1] < 0.3 * step.max()  # starts and stops gently
    if not camera.startswith("orbit"):
        assert np.ptp(other) < 0.3  # no drift across the move


def test_last_frame_cross_fades_over_the_second_half_and_ends_on_it(ctx):
    first, last = scene(seed=1), scene(seed=2)
    frames = rgb_frames(i2v(ctx, store_image(ctx, first, "a.png"), last_frame=store_image(ctx, last, "b.png"),
                            seconds=2.0, camera="push_in"))
    n = len(frames)
    end = np.asarray(last, np.float32)
    assert frame_difference(frames[-1], end) < 4
    assert frame_difference(frames[0], np.asarray(first, np.float32)) < 4
    gap = frame_difference(frames[0], end)
    assert frame_difference(frames[n // 2 - 2], end) > 0.7 * gap  # first half: still the image
    dists = [frame_difference(f, end) for f in frames[n // 2:]]
    assert all(b <= a + 0.5 for a, b in zip(dists, dists[1:]))  # fades steadily towards it


def test_last_frame_of_another_aspect_is_cropped_to_fit(ctx):
    ref = i2v(ctx, store_image(ctx, scene(), "a.png"), last_frame=store_image(ctx, scene(90, 90), "b.png"))
    assert (probe(ref.path)["video"][0]["width"], probe(ref.path)["video"][0]["height"]) == (W, H)


def test_the_same_inputs_give_the_same_clip_and_the_seed_changes_the_handheld_sway(tmp_path):
    def run(sub, **kw):
        c = RunContext.standalone(tmp_path / sub)
        return i2v(c, store_image(c, scene()), camera="pan_right", motion=0.9, **kw)

    a, b = run("a", seed=3), run("b", seed=3)
    assert a.digest == b.digest
    assert run("c", seed=4).digest != a.digest


def test_motion_above_0_6_adds_a_handheld_sway_to_a_static_shot(ctx):
    image = store_image(ctx, scene())
    calm = video_frames(i2v(ctx, image, seconds=2.0, motion=0.5).path)
    sway = video_frames(i2v(ctx, image, seconds=2.0, motion=1.0).path)
    assert max(frame_difference(calm[0], f) for f in calm) < 0.5
    assert max(frame_difference(sway[0], f) for f in sway) > 2


def test_image_to_video_refuses_bad_values_naming_the_field(ctx):
    image = store_image(ctx, scene())
    with pytest.raises(NodeError) as e:
        i2v(ctx, image, seconds=0.0)
    assert e.value.field == "seconds"
    with pytest.raises(NodeError) as e:
        i2v(ctx, image, camera="dolly_zoom")
    assert e.value.field == "camera" and "push_in" in e.value.fix and "orbit_right" in e.value.fix
    not_an_image = ctx.workspace / "notes.png"
    not_an_image.write_text("not a picture")
    with pytest.raises(NodeError) as e:
        i2v(ctx, ctx.store_file(not_an_image, "image"))
    assert e.value.field == "image" and e.value.fix
    with pytest.raises(NodeError) as e:  # no image-to-video preset runs on a CPU
        i2v(ctx, image, backend="diffusers")
    assert e.value.field == "model" and "backend draft" in e.value.fix


def test_cancelling_mid_render_stores_nothing_and_leaves_no_partial_file(tmp_path):
    token = CancelToken()
    ctx = RunContext.standalone(tmp_path, cancel=token)
    image = store_image(ctx, scene())
    before = sorted(ctx.store.objects.rglob("*"))
    calls = []
    progress = ctx.progress

    def cancel_on_the_fifth_frame(fraction, message=None):
        calls.append(fraction)
        if len(calls) == 5:
            token.cancel()
        progress(fraction, message)

    ctx.progress = cancel_on_the_fifth_frame
    with pytest.raises(Cancelled):
        i2v(ctx, image, seconds=2.0, camera="push_in")
    assert 5 <= len(calls) < 24
    assert sorted(ctx.store.objects.rglob("*")) == before
    assert list(ctx.store.tmp_dir.glob("*.mp4")) == []  # the partial file is gone already
    ctx.cleanup()
    assert list(ctx.store.tmp_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# video.extend

@pytest.fixture
def source(ctx):
    """A 1 s, 12 fps clip that pans (so its last frame is not its first)."""
    return i2v(ctx, store_image(ctx, scene(), "src.png"), seconds=1.0, camera="pan_right")


@pytest.mark.parametrize("camera", ["push_in", "pull_out", "pan_left", "tilt_down", "orbit_right", "static"])
def test_extend_continues_from_the_last_frame_at_the_source_fps(ctx, source, camera):
    src = rgb_frames(source)
    ref = extend(ctx, source, seconds=1.0, camera=camera, include_source=False)
    v = probe(ref.path)["video"][0]
    assert (v["width"], v["height"], v["fps"], v["frames"]) == (W, H, pytest.approx(12), 12)
    frames = rgb_frames(ref)
    assert frame_difference(coarse(frames[0]), coarse(src[-1])) < 2  # picks up where the clip stopped
    if camera == "static":
        assert frame_difference(frames[0], frames[-1]) < 0.5
    else:
        assert frame_difference(frames[0], frames[-1]) > 4
        steps = [frame_difference(a, b) for a, b in zip(frames, frames[1:])]
        assert steps[-1] < 0.7 * max(steps)  # eases out


def test_extend_with_the_source_is_one_clip_of_both(ctx, source):
    ref = extend(ctx, source, seconds=1.0, camera="pan_left")
    v = probe(ref.path)["video"][0]
    assert (v["frames"], v["fps"], v["duration"]) == (12 + 12, pytest.approx(12), pytest.approx(2.0))
    assert (ref.frames, ref.duration) == (24, 2.0)
    src, out = rgb_frames(source), rgb_frames(ref)
    assert max(frame_difference(a, b) for a, b in zip(src, out[:12])) < 3  # the source, unchanged
    # then the continuation, seamlessly: no jump bigger than its own steps
    steps = [frame_difference(a, b) for a, b in zip(out[12:], out[13:])]
    assert frame_difference(out[12], src[-1]) <= max(steps)
    assert frame_difference(coarse(out[12]), coarse(src[-1])) < 2
    assert frame_difference(out[-1], src[-1]) > 3


def test_extend_keeps_the_source_sound_under_the_source_part(ctx):
    clip = store_clip(ctx, "testsrc2=s=160x90:r=12", 1.0, audio=True)
    ref = extend(ctx, clip, seconds=0.5)
    info = probe(ref.path)
    assert ref.has_audio and info["audio"] and info["audio"][0]["duration"] == pytest.approx(1.0, abs=0.05)
    assert info["video"][0]["frames"] == 18
    assert not extend(ctx, clip, seconds=0.5, include_source=False).has_audio


def test_extend_refuses_a_file_that_is_not_a_video(ctx):
    junk = ctx.workspace / "junk.mp4"
    junk.write_bytes(b"\x00\x01 definitely not a movie" * 40)
    with pytest.raises(NodeError) as e:
        extend(ctx, ctx.store_file(junk, "video"))
    assert e.value.field == "video" and e.value.fix


# ---------------------------------------------------------------------------------------------
# video.upscale

def upscale(ctx, video, **kw):
    values = dict(mode="x2", width=1920, height=1080, method="lanczos", backend="draft", model="")
    return UpscaleVideoNode().run(ctx, video=video, **{**values, **kw})


def test_upscale_x2_x4_and_to_size_keep_frames_fps_and_sound(ctx):
    clip = store_clip(ctx, "testsrc2=s=160x90:r=12", 1.0, audio=True)
    for kw, size in [({"mode": "x2"}, (320, 180)), ({"mode": "x4", "method": "bicubic"}, (640, 360)),
                     ({"mode": "to_size", "width": 240, "height": 0}, (240, 136)),
                     ({"mode": "to_size", "width": 0, "height": 100}, (178, 100))]:
        ref = upscale(ctx, clip, **kw)
        info = probe(ref.path)
        v = info["video"][0]
        assert (v["width"], v["height"]) == size == (ref.width, ref.height)
        assert (v["frames"], v["fps"]) == (12, pytest.approx(12)) and ref.frames == 12
        assert info["audio"] and ref.has_audio


def test_upscale_refuses_sizes_above_8192_naming_the_field(ctx):
    wide = store_clip(ctx, "color=c=gray:s=2100x16:r=12", 0.2)
    with pytest.raises(NodeError) as e:
        upscale(ctx, wide, mode="x4")
    assert e.value.field == "mode" and "8192" in e.value.message and e.value.fix
    with pytest.raises(NodeError) as e:
        upscale(ctx, wide, mode="to_size", width=0, height=90)  # 11812 wide
    assert e.value.field == "height"  # the side the user set (the width follows from it)
    with pytest.raises(NodeError) as e:
        upscale(ctx, wide, mode="to_size", width=0, height=0)
    assert e.value.field == "width"


# ---------------------------------------------------------------------------------------------
# video.interpolate

def interpolate(ctx, video, **kw):
    return InterpolateVideoNode().run(ctx, video=video, **{"fps": 24, "method": "blend", **kw})


@pytest.mark.parametrize("method", ["blend", "motion"])
def test_interpolate_raises_the_frame_rate_and_keeps_the_duration(ctx, method):
    clip = i2v(ctx, store_image(ctx, dot()), seconds=1.0, camera="pan_left")  # 12 frames at 12 fps
    ref = interpolate(ctx, clip, fps=24, method=method)
    v = probe(ref.path)["video"][0]
    assert (v["fps"], v["frames"], v["duration"]) == (pytest.approx(24), 24, pytest.approx(1.0))
    assert (ref.fps, ref.frames, ref.duration) == (24.0, 24, 1.0)
    src, out = video_frames(clip.path), video_frames(ref.path)
    # the new in-between frame lies between its neighbours
    x0, x1, xm = centroid(src[6])[0], centroid(src[7])[0], centroid(out[13])[0]
    assert min(x0, x1) - 0.2 < xm < max(x0, x1) + 0.2


def test_interpolate_keeps_the_sound(ctx):
    clip = store_clip(ctx, "testsrc2=s=160x90:r=12", 1.0, audio=True)
    ref = interpolate(ctx, clip, fps=30)
    info = probe(ref.path)
    assert info["video"][0]["frames"] == 30 and info["audio"] and ref.has_audio


def test_interpolate_refuses_a_target_not_above_the_source_rate(ctx):
    clip = store_clip(ctx, "testsrc2=s=160x90:r=12", 0.5)
    for fps in (12, 8):
        with pytest.raises(NodeError) as e:
            interpolate(ctx, clip, fps=fps)
        assert e.value.field == "fps" and "12" in e.value.message and e.value.fix


# ---------------------------------------------------------------------------------------------
# video.subtitles

def subtitles(ctx, video, texts, starts, ends=None, **kw):
    values = dict(font_size=0, position="bottom", burn=True)
    return SubtitlesNode().run(ctx, video=video, texts=texts, starts=starts, ends=ends, **{**values, **kw})


SRT_CUE = re.compile(r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+?)\n(?:\n|$)", re.S)


def parse_srt(text: str) -> list[tuple[int, str, str, str]]:
    cues = [(int(n), a, b, t) for n, a, b, t in SRT_CUE.findall(text)]
    assert "\n\n".join(f"{n}\n{a} --> {b}\n{t}" for n, a, b, t in cues) + "\n" == text
    return cues


def test_subtitles_srt_numbers_cues_skips_empty_texts_and_times_them_by_the_rules(ctx):
    clip = store_clip(ctx, "color=c=gray:s=160x90:r=12", 2.0)
    out = subtitles(ctx, clip, ["Hello there", "", "Second line", "Last"], [0.0, 0.5, 1.0, 1.5], burn=False)
    assert out["video"] == clip  # burn off: the video passes through untouched
    assert parse_srt(out["srt"]) == [
        (1, "00:00:00,000", "00:00:00,500", "Hello there"),  # until the next start
        (2, "00:00:01,000", "00:00:01,500", "Second line"),
        (3, "00:00:01,500", "00:00:02,000", "Last"),  # the last one: until the clip's end
    ]
    out = subtitles(ctx, clip, ["A", "B"], [0.1, 1.0], ends=[0.7, 5.0], burn=False)
    assert parse_srt(out["srt"]) == [(1, "00:00:00,083", "00:00:00,667", "A"),  # snapped to 1/12 s
                                     (2, "00:00:01,000", "00:00:02,000", "B")]  # clamped to the clip
    out = subtitles(ctx, clip, ["A", "B"], [0.0, 0.5], ends=[1.5, 1.0], burn=False)
    assert [c[1:3] for c in parse_srt(out["srt"])] == [("00:00:00,000", "00:00:00,500"),  # min(end, next)
                                                       ("00:00:00,500", "00:00:01,000")]


def band_change(frames, base, rows) -> list[float]:
    return [float(np.abs(f[rows] - base[rows]).mean()) for f in frames]


def test_burned_captions_appear_in_the_bottom_band_only_while_on_and_keep_the_sound(ctx):
    clip = store_clip(ctx, "color=c=0x506070:s=160x90:r=12", 2.0, audio=True)
    out = subtitles(ctx, clip, ["HELLO WORLD"], [0.5], ends=[1.25])  # frames 6..14 (t = 0.5 .. 1.25)
    ref = out["video"]
    info = probe(ref.path)
    v = info["video"][0]
    assert (v["width"], v["height"], v["frames"], v["fps"]) == (W, H, 24, pytest.approx(12))
    assert info["audio"] and info["audio"][0]["duration"] == pytest.approx(2.0, abs=0.05) and ref.has_audio
    frames, base = video_frames(ref.path), video_frames(clip.path)[0]
    bottom = band_change(frames, base, slice(H * 2 // 3, H))
    top = band_change(frames, base, slice(0, H // 3))
    on = [i for i, d in enumerate(bottom) if d > 3]
    assert 5 <= on[0] <= 7 and 14 <= on[-1] <= 16 and on == list(range(on[0], on[-1] + 1))  # ±1 frame
    assert all(bottom[i] < 1 for i in range(0, 5)) and all(bottom[i] < 1 for i in range(17, 24))
    assert max(top) < 1
    caption = frames[10][H * 2 // 3:]
    assert caption.max() > 200 and caption.min() < 60  # white letters, dark box: legible contrast
    assert parse_srt(out["srt"]) == [(1, "00:00:00,500", "00:00:01,250", "HELLO WORLD")]


def test_captions_can_sit_at_the_top(ctx):
    clip = store_clip(ctx, "color=c=0x506070:s=160x90:r=12", 1.0)
    frames = video_frames(subtitles(ctx, clip, ["TOP"], [0.0], position="top", font_size=16)["video"].path)
    base = video_frames(clip.path)[0]
    assert band_change(frames, base, slice(0, H // 3))[3] > 3
    assert band_change(frames, base, slice(H * 2 // 3, H))[3] < 1


def caption(ctx, clip, text, **kw):
    args = dict(start=0.0, end=0.0, font_size=0, position="bottom")
    args.update(kw)
    return CaptionNode().run(ctx, video=clip, text=text, **args)


def test_caption_burns_one_text_between_start_and_end_of_the_clip(ctx):
    clip = store_clip(ctx, "color=c=0x506070:s=160x90:r=12", 2.0, audio=True)
    ref = caption(ctx, clip, "A SHOT CAPTION", start=0.5, end=1.25)  # frames 6..14
    frames, base = video_frames(ref.path), video_frames(clip.path)[0]
    bottom = band_change(frames, base, slice(H * 2 // 3, H))
    on = [i for i, d in enumerate(bottom) if d > 3]
    assert 5 <= on[0] <= 7 and 14 <= on[-1] <= 16
    assert max(band_change(frames, base, slice(0, H // 3))) < 1
    assert probe(ref.path)["audio"] and len(frames) == 24


def test_caption_without_end_lasts_to_the_clip_end_and_an_empty_text_changes_nothing(ctx):
    clip = store_clip(ctx, "color=c=0x506070:s=160x90:r=12", 1.0)
    frames, base = video_frames(caption(ctx, clip, "ALL ALONG").path), video_frames(clip.path)[0]
    assert min(band_change(frames, base, slice(H * 2 // 3, H))) > 3
    assert caption(ctx, clip, "  ") is clip


def test_caption_refuses_times_outside_the_clip_naming_the_field(ctx):
    clip = store_clip(ctx, "color=c=0x506070:s=160x90:r=12", 1.0)
    with pytest.raises(NodeError) as e:
        caption(ctx, clip, "X", start=0.8, end=0.4)
    assert e.value.field == "end"
    assert caption(ctx, clip, "X", start=0.5, end=0.5) is clip  # no time to show it: left as it is
    with pytest.raises(NodeError) as e:
        caption(ctx, clip, "X", start=3.0)
    assert e.value.field == "start"


def test_subtitles_refuse_lists_of_different_lengths_and_non_videos(ctx):
    clip = store_clip(ctx, "color=c=gray:s=160x90:r=12", 0.5)
    with pytest.raises(NodeError) as e:
        subtitles(ctx, clip, ["a", "b"], [0.0])
    assert e.value.field == "starts" and "2 texts" in e.value.message and e.value.fix
    with pytest.raises(NodeError) as e:
        subtitles(ctx, clip, ["a", "b"], [0.0, 0.2], ends=[0.1])
    assert e.value.field == "ends"
    junk = ctx.workspace / "junk.mp4"
    junk.write_text("hello")
    with pytest.raises(NodeError) as e:
        subtitles(ctx, ctx.store_file(junk, "video"), ["a"], [0.0])
    assert e.value.field == "video"


# ---------------------------------------------------------------------------------------------
# clips from elsewhere (io.load_video): odd sizes, other pixel formats

def test_odd_sized_4_4_4_clips_come_out_even_and_4_2_0(ctx):
    clip = store_clip(ctx, "testsrc2=s=161x91:r=12", 1.0, pix_fmt="yuv444p")
    for ref in (extend(ctx, clip, seconds=0.5), interpolate(ctx, clip, fps=24),
                subtitles(ctx, clip, ["odd"], [0.0])["video"]):
        v = probe(ref.path)["video"][0]
        assert (v["width"] % 2, v["height"] % 2, v["pix_fmt"]) == (0, 0, "yuv420p")
        assert (ref.width, ref.height) == (v["width"], v["height"])
        assert abs(v["width"] - 161) <= 1 and abs(v["height"] - 91) <= 1


# ---------------------------------------------------------------------------------------------
# through the engine: wiring, validation, failures

class PatternImageNode(Node):
    """A test keyframe: the textured scene at a given size."""

    type = "testvideo.pattern"
    version = "1.0.0"

    width = Param(Int, default=W, doc="Width.")
    height = Param(Int, default=H, doc="Height.")
    image = Output(Image, doc="The picture.")

    def run(self, ctx, width, height):
        path = ctx.temp_path(".png")
        scene(width, height).save(path)
        return ctx.store_file(path, "image", width=width, height=height)


@pytest.fixture
def registry():
    reg = Registry()
    for spec in graph.default_registry():
        reg.register(spec.cls, pack="builtin")
    reg.register(PatternImageNode, pack="tests")
    return reg


def test_a_storyboard_like_chain_runs_in_the_engine(tmp_path, wf, registry):
    flow = wf({
        "key": ("testvideo.pattern", {}),
        "shot": ("video.image_to_video", {"seconds": 1.0, "fps": 12, "camera": "push_in"}),
        "more": ("video.extend", {"seconds": 0.5, "camera": "pan_left"}),
        "smooth": ("video.interpolate", {"fps": 24}),
        "big": ("video.upscale", {"mode": "x2"}),
        "lines": ("text.split", {"text": "First caption\nSecond caption"}),
        "t0": ("number.constant", {"value": 0.0}), "t1": ("number.constant", {"value": 0.75}),
        "starts": ("list.build", {}),
        "subs": ("video.subtitles", {}),
    }, [("key.image", "shot.image"), ("shot.video", "more.video"), ("more.video", "smooth.video"),
        ("smooth.video", "big.video"), ("big.video", "subs.video"), ("lines.items", "subs.texts"),
        ("t0.out", "starts.item_1"), ("t1.out", "starts.item_2"), ("starts.items", "subs.starts")])
    result = graph.run(flow, cache=tmp_path / "c", registry=registry)
    assert result.ok, result.failures
    video = result.value("subs.video")
    v = probe(video.path)["video"][0]
    assert (v["width"], v["height"], v["fps"], v["frames"]) == (2 * W, 2 * H, pytest.approx(24), 36)
    assert [c[1:] for c in parse_srt(result.value("subs.srt"))] == [
        ("00:00:00,000", "00:00:00,750", "First caption"), ("00:00:00,750", "00:00:01,500", "Second caption")]


def test_engine_validation_refuses_zero_or_negative_seconds(tmp_path, wf, registry):
    for seconds in (0, -2.0):
        flow = wf({"key": ("testvideo.pattern", {}), "shot": ("video.image_to_video", {"seconds": seconds})},
                  [("key.image", "shot.image")])
        with pytest.raises(WorkflowError) as e:
            graph.run(flow, cache=tmp_path / "c", registry=registry)
        assert [(i.node, i.field) for i in e.value.issues] == [("shot", "seconds")]


def test_an_unknown_camera_wired_as_text_fails_naming_camera_and_listing_the_moves(tmp_path, wf, registry):
    flow = wf({"key": ("testvideo.pattern", {}), "cam": ("text.constant", {"text": "dolly_zoom"}),
               "shot": ("video.image_to_video", {"seconds": 0.5, "fps": 12})},
              [("key.image", "shot.image"), ("cam.out", "shot.camera")])
    result = graph.run(flow, cache=tmp_path / "c", registry=registry)
    assert result.status == "failed"
    [failure] = result.failures
    assert (failure.node, failure.field) == ("shot", "camera")
    assert "dolly_zoom" in str(failure) and "pan_left" in str(failure) and "orbit_right" in str(failure)


def test_a_wired_camera_and_seconds_drive_the_clip(tmp_path, wf, registry):
    flow = wf({"key": ("testvideo.pattern", {}), "cam": ("text.constant", {"text": "tilt_up"}),
               "len": ("number.constant", {"value": 0.75}),
               "shot": ("video.image_to_video", {"fps": 12})},
              [("key.image", "shot.image"), ("cam.out", "shot.camera"), ("len.out", "shot.seconds")])
    result = graph.run(flow, cache=tmp_path / "c", registry=registry)
    assert result.ok, result.failures
    ref = result.value("shot.video")
    assert ref.frames == 9 and ref.meta["camera"] == "tilt_up"
    frames = video_frames(ref.path)
    assert frame_difference(frames[0], frames[-1]) > 4


def test_video_nodes_declare_the_contract_ports():
    reg = graph.default_registry()

    def ports(type_id):
        spec = reg.get(type_id)
        return list(spec.inputs), list(spec.params), list(spec.outputs)

    assert ports("video.image_to_video") == (
        ["image", "last_frame", "prompt"],
        ["seconds", "fps", "camera", "amplitude", "motion", "seed", "steps", "backend", "model"], ["video"])
    assert ports("video.extend")[0] == ["video", "prompt"] and ports("video.extend")[2] == ["video"]
    assert {"seconds", "camera", "amplitude", "seed", "include_source", "backend", "model"} <= \
        set(ports("video.extend")[1])
    assert ports("video.upscale") == (["video"], ["mode", "width", "height", "method", "backend", "model"],
                                      ["video"])
    assert ports("video.interpolate") == (["video"], ["fps", "method"], ["video"])
    assert ports("video.subtitles") == (["video", "texts", "starts", "ends"],
                                        ["font_size", "position", "burn"], ["video", "srt"])
    spec = reg.get("video.image_to_video")
    assert spec.params["camera"].wirable and spec.params["seconds"].wirable and spec.params["seed"].wirable
    assert spec.params["camera"].choices == ("static", "push_in", "pull_out", "pan_left", "pan_right",
                                             "tilt_up", "tilt_down", "orbit_left", "orbit_right")
    for type_id in ("video.image_to_video", "video.extend", "video.upscale", "video.interpolate",
                    "video.subtitles"):
        s = reg.get(type_id)
        assert s.tooltip and s.resources.cpu == 1
        assert all(p.doc for p in [*s.inputs.values(), *s.params.values(), *s.outputs.values()])
