"""assemble.concat, assemble.mux_audio, io.save_video, io.load_video: tiny clips made here, checked with PyAV."""

from __future__ import annotations

import subprocess
import wave

import av
import numpy as np
import pytest
from conftest import make_workflow, node
from mediaprobe import audio_samples, probe, rms, video_frames
from reelgraph import graph
from reelgraph.graph import Cancelled, CancelToken, NodeError, RunContext
from reelgraph.nodes.common import ffmpeg

W, H, FPS = 160, 90, 24
FRAME = 1 / FPS


def make_clip(path, color="red", seconds=1.0, size=(W, H), fps=FPS, tone=None, vcodec="libx264"):
    """A solid-colour clip (testsrc2 when color is None), with a sine tone when ``tone`` is a frequency."""
    src = f"testsrc2=s={size[0]}x{size[1]}:r={fps}:d={seconds}" if color is None else \
        f"color=c={color}:s={size[0]}x{size[1]}:r={fps}:d={seconds}"
    args = [ffmpeg.exe(), "-v", "error", "-y", "-f", "lavfi", "-i", src]
    if tone:
        args += ["-f", "lavfi", "-i", f"sine=f={tone}:d={seconds}:r=48000", "-c:a", "aac", "-ac", "2"]
    args += ["-c:v", vcodec, "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(args, check=True)
    return path


def make_wav(path, seconds, freq=330.0, amp=0.5):
    t = np.arange(int(seconds * 48000)) / 48000
    x = (amp * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(np.repeat(x[:, None], 2, axis=1).tobytes())
    return path


def store_video(ctx, path, seconds, fps=FPS, size=(W, H), audio=False):
    frames = round(seconds * fps)
    return ctx.store_file(path, "video", width=size[0], height=size[1], fps=float(fps), frames=frames,
                          duration=frames / fps, has_audio=audio)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "red": make_clip(d / "red.mp4", "red", 1.0, tone=440),
        "blue": make_clip(d / "blue.mp4", "blue", 1.5),
        "green": make_clip(d / "green.mp4", "green", 2.0, tone=660),
        "big30": make_clip(d / "big30.mp4", "yellow", 1.0, size=(320, 180), fps=30),
        "square": make_clip(d / "square.mp4", "white", 1.0, size=(90, 90)),
        "small": make_clip(d / "small.mp4", "white", 1.0, size=(80, 44)),
        "pattern": make_clip(d / "pattern.mp4", None, 2.0, tone=550),
        "mpeg4": make_clip(d / "legacy.avi", None, 1.0, vcodec="mpeg4"),
        "bed": make_wav(d / "bed.wav", 3.0),
        "short_bed": make_wav(d / "short.wav", 0.5),
    }


@pytest.fixture
def clips(ctx, media):
    return {
        "red": store_video(ctx, media["red"], 1.0, audio=True),
        "blue": store_video(ctx, media["blue"], 1.5),
        "green": store_video(ctx, media["green"], 2.0, audio=True),
        "big30": store_video(ctx, media["big30"], 1.0, fps=30, size=(320, 180)),
        "square": store_video(ctx, media["square"], 1.0, size=(90, 90)),
        "small": store_video(ctx, media["small"], 1.0, size=(80, 44)),
    }


def concat(ctx, videos, transitions=None, transition="crossfade", transition_seconds=0.5, fit="error"):
    return node("assemble.concat").run(ctx, videos=videos, transitions=transitions, transition=transition,
                                       transition_seconds=transition_seconds, fit=fit)


def frames_of(out):
    return probe(out["video"].path)["video"][0]["frames"]


def colour(frame):
    """Mean RGB of a frame's centre."""
    h, w = frame.shape[:2]
    return frame[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3).mean(axis=0)


# ---------------------------------------------------------------------------------------------
# assemble.concat: timing

@pytest.mark.parametrize("kind, total", [("crossfade", 4.5 - 2 * 0.5), ("cut", 4.5), ("fade_black", 4.5)])
def test_concat_duration_is_the_sum_minus_one_overlap_per_crossfade(ctx, clips, kind, total):
    out = concat(ctx, [clips["red"], clips["blue"], clips["green"]], transition=kind)
    assert out["duration"] == pytest.approx(total, abs=FRAME)
    v = probe(out["video"].path)["video"][0]
    assert (v["codec"], v["width"], v["height"], v["fps"], v["pix_fmt"]) == ("h264", W, H, 24.0, "yuv420p")
    assert abs(v["frames"] - total * FPS) <= 1
    assert out["video"].meta["frames"] == v["frames"]
    assert out["video"].meta["duration"] == pytest.approx(total, abs=FRAME)


def test_concat_starts_and_ends_place_each_clip(ctx, clips):
    out = concat(ctx, [clips["red"], clips["blue"], clips["green"]], transition="crossfade")
    assert out["starts"] == pytest.approx([0.0, 0.5, 1.5])
    assert out["ends"] == pytest.approx([1.0, 2.0, 3.5])
    out = concat(ctx, [clips["red"], clips["blue"], clips["green"]], transition="fade_black")
    assert out["starts"] == pytest.approx([0.0, 1.0, 2.5])
    assert out["ends"] == pytest.approx([1.0, 2.5, 4.5])


def test_concat_follows_a_per_cut_list_of_mixed_transitions(ctx, clips):
    videos = [clips["red"], clips["blue"], clips["green"]]
    # n entries: how each clip begins, the first ignored (a storyboard's shot transitions)
    per_clip = concat(ctx, videos, transitions=["fade_black", "cut", "crossfade"], transition="fade_black")
    assert per_clip["starts"] == pytest.approx([0.0, 1.0, 2.0])
    assert per_clip["duration"] == pytest.approx(4.0, abs=FRAME)
    assert abs(frames_of(per_clip) - 96) <= 1
    # n-1 entries: one per cut; an empty entry uses the transition param
    per_cut = concat(ctx, videos, transitions=["Crossfade", ""], transition="cut")
    assert per_cut["starts"] == pytest.approx([0.0, 0.5, 2.0])
    assert per_cut["duration"] == pytest.approx(4.0, abs=FRAME)
    # the cut: last blue frame then first green frame, no blend
    frames = video_frames(per_cut["video"].path, gray=False)
    before, after = colour(frames[2 * FPS - 1]), colour(frames[2 * FPS])
    assert before[2] > 200 and before[1] < 40
    assert after[1] > 100 and after[2] < 40


def test_transition_seconds_is_clamped_to_half_the_shorter_clip_with_a_warning(tmp_path, clips):
    warnings = []
    ctx = RunContext.standalone(tmp_path, emit=lambda kind, **kw: kind == "node_warning" and warnings.append(kw))
    out = concat(ctx, [clips["red"], clips["green"]], transition_seconds=3.0)
    assert out["duration"] == pytest.approx(3.0 - 0.5, abs=FRAME)  # overlap = half of the 1 s clip
    assert out["starts"] == pytest.approx([0.0, 0.5])
    assert len(warnings) == 1 and "half the shorter clip" in warnings[0]["message"]


def test_a_single_clip_passes_through(ctx, clips):
    out = concat(ctx, [clips["blue"]], transitions=["crossfade"])
    assert out["video"] == clips["blue"]
    assert (out["starts"], out["ends"], out["duration"]) == ([0.0], [1.5], 1.5)


# ---------------------------------------------------------------------------------------------
# assemble.concat: what the transitions look like

def test_a_crossfade_blends_both_clips_mid_transition(ctx, clips):
    out = concat(ctx, [clips["red"], clips["blue"]], transition="crossfade", transition_seconds=0.5)
    frames = video_frames(out["video"].path, gray=False)
    assert len(frames) == 24 + 36 - 12
    r, g, b = colour(frames[12 + 6])  # the transition spans frames 12..23
    assert 70 < r < 190 and 70 < b < 190 and g < 30
    assert colour(frames[5])[0] > 230 and colour(frames[40])[2] > 230


def test_fade_black_goes_through_a_dark_frame_at_the_cut(ctx, clips):
    out = concat(ctx, [clips["red"], clips["blue"]], transition="fade_black", transition_seconds=0.5)
    frames = video_frames(out["video"].path, gray=False)
    assert len(frames) == 60
    assert colour(frames[FPS]).max() < 20  # the first frame of the incoming clip
    assert colour(frames[FPS - 1]).max() < 60  # the last of the outgoing one, nearly black
    assert colour(frames[FPS - 8])[0] > 230 and colour(frames[FPS + 8])[2] > 230  # untouched outside d/2


# ---------------------------------------------------------------------------------------------
# assemble.concat: sizes, rates, audio

def test_fit_error_names_the_clip_and_the_fix(ctx, clips):
    with pytest.raises(NodeError) as e:
        concat(ctx, [clips["red"], clips["blue"], clips["big30"]])
    assert e.value.message == "clip 3: expected 160×90, got 320×180"
    assert e.value.field == "videos"
    assert "video.upscale" in e.value.fix and "fit to scale" in e.value.fix


def test_fit_scale_fills_and_fit_pad_letterboxes_to_the_first_clip_size(ctx, clips):
    for fit in ("scale", "pad"):
        out = concat(ctx, [clips["red"], clips["square"], clips["small"]], transition="cut", fit=fit)
        v = probe(out["video"].path)["video"][0]
        assert (v["width"], v["height"]) == (W, H)
        square = video_frames(out["video"].path, gray=False)[FPS + 12]
        edge = square[:, :20].mean()
        if fit == "pad":  # a 1:1 clip in 16:9: black bars left and right, white in the middle
            assert edge < 20 and colour(square).min() > 230
        else:  # filled, cropped top and bottom
            assert edge > 230
        small = video_frames(out["video"].path, gray=False)[2 * FPS + 12]
        assert small.mean() > 200  # 80×44 scaled up to the whole 160×90 frame (no bars)


def test_clips_at_another_frame_rate_are_resampled_to_the_first_clips(ctx, clips):
    out = concat(ctx, [clips["red"], clips["big30"], clips["blue"]], transition="cut", fit="scale")
    v = probe(out["video"].path)["video"][0]
    assert v["fps"] == 24.0
    assert abs(v["frames"] - (24 + 24 + 36)) <= 1
    assert out["starts"] == pytest.approx([0.0, 1.0, 2.0])


def test_audio_is_kept_and_clips_without_sound_get_silence(ctx, clips):
    out = concat(ctx, [clips["red"], clips["blue"], clips["green"]], transition="cut")
    p = probe(out["video"].path)
    (a,) = p["audio"]
    assert (a["codec"], a["sample_rate"], a["channels"]) == ("aac", 48000, 2)
    assert abs(a["duration"] - 4.5) <= FRAME
    x = audio_samples(out["video"].path)
    assert rms(x[int(0.2 * 48000): int(0.8 * 48000)]) > 0.04  # red's tone
    assert rms(x[int(1.2 * 48000): int(2.3 * 48000)]) < 0.003  # blue: silence
    assert rms(x[int(2.7 * 48000): int(4.3 * 48000)]) > 0.04  # green's tone
    assert out["video"].meta["has_audio"] is True


def test_no_audio_stream_when_no_clip_has_sound(ctx, clips):
    out = concat(ctx, [clips["blue"], clips["square"]], fit="pad")
    assert probe(out["video"].path)["audio"] == []
    assert out["video"].meta["has_audio"] is False


def test_concat_is_deterministic(ctx, clips):
    a = concat(ctx, [clips["red"], clips["blue"]])
    b = concat(ctx, [clips["red"], clips["blue"]])
    assert a["video"].digest == b["video"].digest


# ---------------------------------------------------------------------------------------------
# assemble.concat: bad input, cancellation

def test_unknown_transition_names_the_list_index_and_the_choices(ctx, clips):
    with pytest.raises(NodeError) as e:
        concat(ctx, [clips["red"], clips["blue"], clips["green"]], transitions=["cut", "cut", "wipe"])
    assert e.value.field == "transitions"
    assert "transitions[2]" in e.value.message and "'wipe'" in e.value.message
    assert "crossfade" in e.value.fix and "fade_black" in e.value.fix


def test_a_transitions_list_of_the_wrong_length_is_an_error(ctx, clips):
    with pytest.raises(NodeError) as e:
        concat(ctx, [clips["red"], clips["blue"], clips["green"]], transitions=["cut"])
    assert e.value.field == "transitions" and "3" in e.value.fix and "2" in e.value.fix


def test_an_empty_list_of_videos_is_an_error(ctx):
    with pytest.raises(NodeError) as e:
        concat(ctx, [])
    assert e.value.field == "videos" and e.value.fix


def test_cancelling_a_concat_leaves_nothing_stored(tmp_path, clips, media):
    token = CancelToken()
    ctx = RunContext.standalone(tmp_path / "c", cancel=token,
                                emit=lambda kind, **kw: kind == "node_progress" and token.cancel())
    videos = [store_video(ctx, media[name], s, audio=a)
              for name, s, a in (("red", 1.0, True), ("blue", 1.5, False), ("green", 2.0, True))]
    before = sorted(p for p in ctx.store.objects.rglob("*") if p.is_file())
    with pytest.raises(Cancelled):
        concat(ctx, videos)
    ctx.cleanup()
    assert sorted(p for p in ctx.store.objects.rglob("*") if p.is_file()) == before
    assert list(ctx.store.tmp_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# assemble.concat: the fast path (copy what no transition touches, render around the transitions)

PACK_FPS = 24
UV = {"red": (90, 240), "blue": (240, 110), "green": (54, 34), "grey": (128, 128)}


def make_pack_clip(path, frames, colour="red", *, size=(W, H), fps=PACK_FPS, still=False, preset=None,
                   tone=None, x264_params=None):
    """A clip with the pack's intermediate settings (common.yuv.YuvWriter): a bar that moves one step
    per frame over a flat colour, so a frame out of place shows. ``tone``: add a sine (AAC), video copied."""
    from unittest import mock

    from reelgraph.nodes.common.yuv import YuvWriter
    w, h = size
    u, v = UV[colour]
    x = np.arange(w)
    params = mock.patch.object(ffmpeg, "X264_PARAMS", x264_params or ffmpeg.X264_PARAMS)
    with params, YuvWriter(path, w, h, fps, still=still, preset=preset) as writer:
        for k in range(frames):
            row = np.where((x - 3 * k) % w < w // 4, 200, 90).astype(np.uint8)
            y = np.repeat(row[None, :], h, axis=0) if not still else np.full((h, w), 120, np.uint8)
            writer.write(y.tobytes() + bytes([u]) * (w * h // 4) + bytes([v]) * (w * h // 4))
    if tone:
        silent = path.with_name(path.stem + "-silent.mp4")
        path.rename(silent)
        subprocess.run([ffmpeg.exe(), "-v", "error", "-y", "-i", str(silent), "-f", "lavfi", "-i",
                        f"sine=f={tone}:d={frames / fps}:r=48000", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                        "-c:a", "aac", "-ac", "2", "-shortest", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def pack_media(tmp_path_factory):
    d = tmp_path_factory.mktemp("pack")
    return {
        "a": (make_pack_clip(d / "a.mp4", 48, "red"), 48),
        "b": (make_pack_clip(d / "b.mp4", 60, "blue"), 60),
        "c": (make_pack_clip(d / "c.mp4", 73, "green"), 73),  # its last frame is a keyframe
        "d": (make_pack_clip(d / "d.mp4", 36, "grey"), 36),
        "still": (make_pack_clip(d / "still.mp4", 48, "blue", still=True), 48),
        "veryfast": (make_pack_clip(d / "veryfast.mp4", 48, "green", preset="veryfast"), 48),
        "unstitchable": (make_pack_clip(d / "unstitchable.mp4", 48, "green", x264_params="stitchable=0"), 48),
        "a_tone": (make_pack_clip(d / "a_tone.mp4", 48, "red", tone=440), 48),
        "c_tone": (make_pack_clip(d / "c_tone.mp4", 73, "green", tone=660), 73),
        "big": (make_pack_clip(d / "big.mp4", 48, "grey", size=(2 * W, 2 * H)), 48),
        "fps30": (make_pack_clip(d / "fps30.mp4", 60, "grey", fps=30), 60),
    }


@pytest.fixture
def pack(ctx, pack_media):
    def ref(name):
        path, frames = pack_media[name]
        fps = 30 if name == "fps30" else PACK_FPS
        size = (2 * W, 2 * H) if name == "big" else (W, H)
        return ctx.store_file(path, "video", width=size[0], height=size[1], fps=float(fps), frames=frames,
                              duration=frames / fps, has_audio=name.endswith("_tone"))
    return ref


def whole_timeline(monkeypatch):
    """Make concat take its fallback, the single whole-timeline ffmpeg render."""
    from reelgraph.nodes.assemble import _smart
    monkeypatch.setattr(_smart, "concat", lambda *a, **k: (None, "turned off by the test"))


def decodes_cleanly(path):
    out = subprocess.run([ffmpeg.exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, check=False)
    return out.returncode == 0 and out.stderr == ""


def assert_same_pictures(fast, slow):
    a, b = video_frames(fast["video"].path), video_frames(slow["video"].path)
    assert len(a) == len(b) == fast["video"].meta["frames"] == slow["video"].meta["frames"]
    diffs = [np.abs(x - y).mean() for x, y in zip(a, b)]
    assert max(diffs) < 2.0, (int(np.argmax(diffs)), max(diffs))  # re-encoding noise only
    # a frame out of place would differ by far more (the bar moves 3 px a frame)
    shifted = [np.abs(x - y).mean() for x, y in zip(a[1:], b[:-1])]
    assert np.median(shifted) > 5 * max(np.median(diffs), 0.2)


MAIN_LIKE = ["", "crossfade", "cut", "fade_black", "crossfade"]


def test_fast_path_copies_the_untouched_frames_and_matches_the_whole_timeline_render(ctx, pack, monkeypatch):
    videos = [pack(n) for n in ("a", "b", "c", "d", "a")]
    fast = concat(ctx, videos, transitions=MAIN_LIKE, transition_seconds=0.5)
    m = fast["video"].meta
    assert m["smart"] is True, m.get("smart_skipped")
    assert m["copied_frames"] > m["rendered_frames"] > 0
    total = 48 + 60 + 73 + 36 + 48 - 2 * 12
    assert m["frames"] == total and m["copied_frames"] + m["rendered_frames"] == total
    v = probe(fast["video"].path)["video"][0]
    assert (v["codec"], v["width"], v["height"], v["fps"], v["pix_fmt"], v["frames"]) == \
        ("h264", W, H, 24.0, "yuv420p", total)
    assert decodes_cleanly(fast["video"].path)
    whole_timeline(monkeypatch)
    slow = concat(ctx, videos, transitions=MAIN_LIKE, transition_seconds=0.5)
    assert slow["video"].meta["smart"] is False
    assert (fast["starts"], fast["ends"], fast["duration"]) == (slow["starts"], slow["ends"], slow["duration"])
    assert_same_pictures(fast, slow)


@pytest.mark.parametrize("kind, seconds", [("crossfade", 0.5), ("fade_black", 0.5), ("fade_black", 0.54),
                                           ("crossfade", 1.0), ("cut", 0.5)])
def test_fast_path_transitions_look_like_the_whole_timeline_ones(ctx, pack, monkeypatch, kind, seconds):
    videos = [pack("a"), pack("b"), pack("c")]
    fast = concat(ctx, videos, transition=kind, transition_seconds=seconds)
    assert fast["video"].meta["smart"] is True
    assert decodes_cleanly(fast["video"].path)
    whole_timeline(monkeypatch)
    slow = concat(ctx, videos, transition=kind, transition_seconds=seconds)
    assert (fast["starts"], fast["ends"], fast["duration"]) == (slow["starts"], slow["ends"], slow["duration"])
    assert_same_pictures(fast, slow)
    frames = video_frames(fast["video"].path, gray=False)
    if kind == "crossfade" and seconds == 0.5:  # red→blue blend mid-transition (frames 36..47)
        r, _, b = colour(frames[42])
        assert 70 < r < 190 and 70 < b < 190
    if kind == "fade_black" and seconds == 0.5:
        assert colour(frames[48]).max() < 20  # the first frame of the incoming clip is black


def test_fast_path_keeps_the_clips_sound(ctx, pack, monkeypatch):
    videos = [pack("a_tone"), pack("b"), pack("c_tone")]
    fast = concat(ctx, videos, transition="crossfade", transition_seconds=0.5)
    assert fast["video"].meta["smart"] is True and fast["video"].meta["has_audio"] is True
    p = probe(fast["video"].path)
    (a,) = p["audio"]
    assert (a["codec"], a["sample_rate"], a["channels"]) == ("aac", 48000, 2)
    whole_timeline(monkeypatch)
    slow = concat(ctx, videos, transition="crossfade", transition_seconds=0.5)
    x, y = audio_samples(fast["video"].path), audio_samples(slow["video"].path)
    assert abs(len(x) - len(y)) <= 1024 and abs(a["duration"] - fast["duration"]) <= FRAME
    n = min(len(x), len(y))
    assert np.abs(x[:n] - y[:n]).max() < 1e-3  # the same sound graph
    assert rms(x[int(0.2 * 48000): int(1.2 * 48000)]) > 0.04  # a's tone, then b's silence
    assert rms(x[int(2.1 * 48000): int(2.9 * 48000)]) < 0.003
    assert_same_pictures(fast, slow)


def test_the_fast_path_is_deterministic(ctx, pack):
    a = concat(ctx, [pack("a"), pack("b"), pack("c")], transitions=["crossfade", "fade_black"])
    b = concat(ctx, [pack("a"), pack("b"), pack("c")], transitions=["crossfade", "fade_black"])
    assert a["video"].meta["smart"] is True and a["video"].digest == b["video"].digest


def test_still_clips_and_moving_ones_join_the_fast_way(ctx, pack):
    # still=True only steers x264's rate control: the parameter sets are the same
    out = concat(ctx, [pack("still"), pack("a"), pack("still")], transition="crossfade")
    assert out["video"].meta["smart"] is True
    assert decodes_cleanly(out["video"].path)
    assert probe(out["video"].path)["video"][0]["frames"] == 3 * 48 - 2 * 12


@pytest.mark.parametrize("names, fit, reason", [
    (("a", "unstitchable"), "error", "clip 2 was encoded with other H.264 settings"),  # other PPS
    (("a", "veryfast"), "error", "clip 2: reordered frames (B-frames)"),  # another x264 preset
    (("red", "a"), "error", "clip 1: reordered frames"),  # made elsewhere (libx264's defaults)
    (("a", "big"), "scale", "clip 2 is 320×180, not 160×90"),
    (("a", "fps30"), "scale", "clip 2 runs at 30 fps, not 24"),
])
def test_the_fallback_renders_what_cannot_be_copied(ctx, pack, clips, names, fit, reason):
    videos = [clips[n] if n in clips else pack(n) for n in names]
    out = concat(ctx, videos, transition="crossfade", transition_seconds=0.25, fit=fit)
    m = out["video"].meta
    assert m["smart"] is False and m["smart_skipped"].startswith(reason)
    assert probe(out["video"].path)["video"][0]["frames"] == m["frames"]


def test_cancelling_the_fast_path_leaves_nothing_stored(tmp_path, pack_media):
    token = CancelToken()
    seen = []

    def emit(kind, **kw):
        if kind == "node_progress":
            seen.append(kw.get("message"))
            if kw.get("message") == "rendering a transition":
                token.cancel()

    ctx = RunContext.standalone(tmp_path / "c", cancel=token, emit=emit)
    videos = [ctx.store_file(pack_media[n][0], "video", width=W, height=H, fps=24.0, frames=pack_media[n][1],
                             duration=pack_media[n][1] / 24, has_audio=False) for n in ("a", "b", "c")]
    before = sorted(p for p in ctx.store.objects.rglob("*") if p.is_file())
    with pytest.raises(Cancelled):
        concat(ctx, videos)
    ctx.cleanup()
    assert "rendering a transition" in seen
    assert sorted(p for p in ctx.store.objects.rglob("*") if p.is_file()) == before
    assert list(ctx.store.tmp_dir.iterdir()) == []


def test_the_fast_path_output_is_one_avc1_track_with_the_clips_parameter_sets(ctx, pack):
    from reelgraph.nodes.assemble import _mp4
    out = concat(ctx, [pack("a"), pack("b"), pack("c")], transitions=["fade_black", "crossfade"])
    t, a = _mp4.read_video(out["video"].path), _mp4.read_video(pack("a").path)
    assert t.avcc == a.avcc and t.other_tracks == [] and not t.has_ctts
    assert set(t.deltas) == {t.timescale // 24}
    assert t.keyframes() == t.sync and t.sync[0] == 0
    with open(out["video"].path, "rb") as f:  # faststart: the index before the media data
        head = f.read(64)
    ftyp = int.from_bytes(head[:4], "big")
    assert head[4:8] == b"ftyp" and head[ftyp + 4:ftyp + 8] == b"moov"


# planning, in frames: which stretches are copied and which rendered

def _plan(frames, kinds, seconds=0.5):
    from fractions import Fraction

    from reelgraph.nodes.assemble import _timeline
    clips = [_timeline.Clip(i, "", W, H, 24.0, n, False) for i, n in enumerate(frames)]
    return _timeline.plan(clips, kinds, seconds, Fraction(24))[0]


def test_segments_copy_from_keyframes_and_render_around_transitions():
    from reelgraph.nodes.assemble._timeline import Copy, Render, segments
    p = _plan([96] * 6, ["crossfade", "cut", "fade_black", "crossfade", "fade_black"])
    keys = [[0, 24, 48, 72]] * 6
    segs = segments(p, keys)
    assert sum(s.frames for s in segs) == p.total == 6 * 96 - 2 * 12
    pos = 0
    for s in segs:
        if isinstance(s, Copy):
            assert s.first in keys[s.clip] and pos == p.starts[s.clip] + s.first
        else:
            assert s.start == pos
        pos += s.frames
    renders = [s for s in segs if isinstance(s, Render)]
    # crossfade: 12 blended frames, then on to the incoming clip's keyframe at 24;
    # fade_black: the outgoing tail (7 frames, one to spare) and the incoming clip up to its keyframe
    assert [(r.windows, r.frames) for r in renders] == [
        ({0: (84, 96), 1: (0, 24)}, 24), ({2: (89, 96), 3: (0, 24)}, 31),
        ({3: (84, 96), 4: (0, 24)}, 24), ({4: (89, 96), 5: (0, 24)}, 31)]
    assert [(s.clip, s.first, s.end) for s in segs if isinstance(s, Copy)][1:3] == [(1, 24, 96), (2, 0, 89)]


def test_segments_never_put_two_keyframes_side_by_side():
    from reelgraph.nodes.assemble._timeline import Copy, Render, segments
    # clip 0's last frame (72) is a keyframe and a cut follows: it is rendered, and so the render
    # runs on into clip 1 up to its next keyframe rather than being one (key)frame long
    p = _plan([73, 48], ["cut"])
    segs = segments(p, [[0, 24, 48, 72], [0, 24]])
    assert [(type(s).__name__, s.frames) for s in segs] == [("Copy", 72), ("Render", 25), ("Copy", 24)]
    assert segs[1].windows == {0: (72, 73), 1: (0, 24)}
    # short clips with no keyframe past their transitions are rendered whole
    p = _plan([24, 20, 24], ["crossfade", "crossfade"])
    segs = segments(p, [[0], [0], [0]])
    assert [type(s) for s in segs] == [Copy, Render]
    assert p.trans == [10, 10] and segs[1].windows == {0: (14, 24), 1: (0, 20), 2: (0, 24)}


# ---------------------------------------------------------------------------------------------
# assemble.mux_audio

def video_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def store_wav(ctx, path):
    with wave.open(str(path)) as w:
        n = w.getnframes()
    return ctx.store_file(path, "audio", sample_rate=48000, channels=2, samples=n, duration=n / 48000)


@pytest.mark.parametrize("bed", ["bed", "short_bed"])  # longer than the video (trimmed), shorter (padded)
def test_mux_gives_one_h264_and_one_aac_stream_of_the_videos_length(ctx, clips, media, bed):
    video = clips["green"]  # has its own tone, which must be replaced
    out = node("assemble.mux_audio").run(ctx, video=video, audio=store_wav(ctx, media[bed]), gain_db=0.0)
    ref = out["video"]
    p = probe(ref.path)
    assert [v["codec"] for v in p["video"]] == ["h264"]
    assert [a["codec"] for a in p["audio"]] == ["aac"]
    assert abs(p["audio"][0]["duration"] - 2.0) <= FRAME
    assert p["video"][0]["frames"] == 48
    assert video_packets(ref.path) == video_packets(video.path)  # copied, not re-encoded
    x = audio_samples(ref.path)
    spectrum = np.abs(np.fft.rfft(x[4800:4800 + 9600, 0]))
    assert abs(np.argmax(spectrum) * 48000 / 9600 - 330) <= 5  # the bed's 330 Hz, not the clip's 660 Hz
    if bed == "short_bed":
        assert rms(x[int(0.7 * 48000): int(1.9 * 48000)]) < 0.003  # padded with silence
    assert ref.meta["has_audio"] is True and ref.meta["frames"] == 48


def test_mux_gain_changes_the_level(ctx, clips, media):
    mux = node("assemble.mux_audio")
    audio = store_wav(ctx, media["bed"])
    loud = audio_samples(mux.run(ctx, video=clips["blue"], audio=audio, gain_db=0.0)["video"].path)
    soft = audio_samples(mux.run(ctx, video=clips["blue"], audio=audio, gain_db=-6.0)["video"].path)
    assert rms(soft[4800:-4800]) / rms(loud[4800:-4800]) == pytest.approx(10 ** (-6 / 20), rel=0.05)


# ---------------------------------------------------------------------------------------------
# io.save_video

def save(ctx, video, subtitles=None, format="mp4", filename="", quality="standard", soft_subtitles=False):
    return node("io.save_video").run(ctx, video=video, subtitles=subtitles, format=format, filename=filename,
                                     quality=quality, soft_subtitles=soft_subtitles)["video"]


SRT = "1\n00:00:00,100 --> 00:00:00,900\nHello there\n\n2\n00:00:01,000 --> 00:00:01,400\nBye\n"


def test_save_mp4_standard_copies_an_h264_input_and_draft_re_encodes(ctx, clips):
    src = clips["green"]
    copied = save(ctx, src, quality="standard")
    p = probe(copied.path)
    assert [v["codec"] for v in p["video"]] == ["h264"] and [a["codec"] for a in p["audio"]] == ["aac"]
    assert video_packets(copied.path) == video_packets(src.path)
    assert copied.meta["video_copied"] is True
    draft = save(ctx, src, quality="draft")
    assert video_packets(draft.path) != video_packets(src.path)
    assert probe(draft.path)["video"][0]["frames"] == 48
    assert draft.meta["video_copied"] is False
    for ref in (copied, draft):
        m = ref.meta
        assert (m["width"], m["height"], m["fps"], m["frames"], m["format"]) == (W, H, 24.0, 48, "mp4")
        assert m["has_audio"] is True and "srt" not in m


def test_save_webm_is_vp9_and_opus(ctx, clips):
    ref = save(ctx, clips["green"], format="webm", quality="draft")
    assert ref.ext == ".webm"
    p = probe(ref.path)
    assert [v["codec"] for v in p["video"]] == ["vp9"] and [a["codec"] for a in p["audio"]] == ["opus"]
    assert p["video"][0]["frames"] == 48 and (p["video"][0]["width"], p["video"][0]["height"]) == (W, H)


def test_save_writes_the_file_and_its_srt_beside_it(tmp_path, ctx, clips):
    ref = save(ctx, clips["red"], subtitles=SRT, filename="out/final")
    target = tmp_path / "out" / "final.mp4"
    assert target.read_bytes() == open(ref.path, "rb").read()
    assert (tmp_path / "out" / "final.srt").read_text() == SRT
    assert ref.meta["srt"] == SRT
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no temp left


@pytest.mark.parametrize("fmt, codec", [("mp4", "mov_text"), ("webm", "webvtt")])
def test_soft_subtitles_add_a_subtitle_track(ctx, clips, fmt, codec):
    ref = save(ctx, clips["red"], subtitles=SRT, format=fmt, quality="draft", soft_subtitles=True)
    assert [s["codec"] for s in probe(ref.path)["subtitle"]] == [codec]
    plain = save(ctx, clips["red"], subtitles=SRT, format=fmt, quality="draft")
    assert probe(plain.path)["subtitle"] == []


def test_save_refuses_a_filename_outside_the_workspace(ctx, clips):
    for bad in ("../escape.mp4", "/tmp/elsewhere.mp4"):
        with pytest.raises(NodeError) as e:
            save(ctx, clips["red"], filename=bad)
        assert e.value.field == "filename" and "outside the workspace" in e.value.message


def test_save_rejects_a_filename_of_the_other_format_and_bad_subtitles(ctx, clips):
    with pytest.raises(NodeError) as e:
        save(ctx, clips["red"], format="webm", filename="final.mp4")
    assert e.value.field == "filename" and "final.webm" in e.value.fix
    with pytest.raises(NodeError) as e:
        save(ctx, clips["red"], subtitles="just some words")
    assert e.value.field == "subtitles" and "video.subtitles" in e.value.fix


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_the_workflow_round_trips_through_the_saved_file(tmp_path, media, fmt):
    import shutil
    for name in ("red", "blue"):
        shutil.copy(media[name], tmp_path / f"{name}.mp4")
    wf = make_workflow({
        "a": ("io.load_video", {"path": "red.mp4"}),
        "b": ("io.load_video", {"path": "blue.mp4"}),
        "clips": ("list.build", {}),
        "concat": ("assemble.concat", {"transition": "crossfade", "transition_seconds": 0.25}),
        "subs": ("text.constant", {"text": SRT}),
        "save": ("io.save_video", {"format": fmt, "filename": f"renders/cut.{fmt}", "quality": "draft"}),
    }, [("a.video", "clips.item_1"), ("b.video", "clips.item_2"), ("clips.items", "concat.videos"),
        ("concat.video", "save.video"), ("subs.out", "save.subtitles")], name="round trip")
    result = graph.run(wf, cache=tmp_path / "cache", workspace=tmp_path)
    assert result.ok, [str(f) for f in result.failures]
    saved = result.outputs["save"]["video"]
    assert saved.meta["duration"] == pytest.approx(2.25, abs=FRAME)
    for file in (saved.path, tmp_path / "renders" / f"cut.{fmt}"):
        back = graph.load(file)
        assert back.name == "round trip"
        assert {k: (n.type, n.params) for k, n in back.nodes.items()} == \
            {k: (n["type"], n["params"]) for k, n in wf["nodes"].items()}
    assert (tmp_path / "renders" / "cut.srt").read_text() == SRT
    # an output node: it runs every time, the rest comes from the cache
    again = graph.run(wf, cache=tmp_path / "cache", workspace=tmp_path)
    assert "save" in again.ran and {"a", "b", "concat"} <= set(again.cached)


# ---------------------------------------------------------------------------------------------
# io.load_video

def load(ctx, path, start=0.0, seconds=0.0):
    return node("io.load_video").run(ctx, path=path, start=start, seconds=seconds)


def test_load_ingests_an_h264_mp4_as_is(tmp_path, ctx, media):
    import shutil
    shutil.copy(media["green"], tmp_path / "green.mp4")
    ref = load(ctx, "green.mp4")
    assert open(ref.path, "rb").read() == (tmp_path / "green.mp4").read_bytes()
    m = ref.meta
    assert (m["width"], m["height"], m["fps"], m["frames"], m["has_audio"]) == (W, H, 24.0, 48, True)


def test_load_converts_other_codecs_and_trims(tmp_path, ctx, media):
    import shutil
    shutil.copy(media["mpeg4"], tmp_path / "legacy.avi")
    ref = load(ctx, "legacy.avi")
    v = probe(ref.path)["video"][0]
    assert (ref.ext, v["codec"], v["pix_fmt"], v["frames"]) == (".mp4", "h264", "yuv420p", 24)
    shutil.copy(media["pattern"], tmp_path / "pattern.mp4")
    part = load(ctx, "pattern.mp4", start=0.5, seconds=1.0)
    p = probe(part.path)
    assert abs(p["video"][0]["frames"] - 24) <= 1 and part.meta["frames"] == p["video"][0]["frames"]
    assert abs(p["audio"][0]["duration"] - 1.0) <= FRAME
    # the trimmed clip starts with the frame shown at 0.5 s
    whole = video_frames(tmp_path / "pattern.mp4")
    first = video_frames(part.path)[0]
    diffs = [np.abs(first - f).mean() for f in whole[:30]]
    assert int(np.argmin(diffs)) == 12


def test_load_errors_name_the_path_and_teach(tmp_path, ctx):
    (tmp_path / "notes.txt").write_text("not a video at all")
    subprocess.run([ffmpeg.exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=32x32",
                    "-frames:v", "1", str(tmp_path / "still.png")], check=True)
    cases = {"missing.mp4": "not found", "notes.txt": "cannot read", "still.png": "still image",
             "../outside.mp4": "outside the workspace"}
    for path, words in cases.items():
        with pytest.raises(NodeError) as e:
            load(ctx, path)
        assert e.value.field == "path" and words in e.value.message and e.value.fix, path


def test_load_start_past_the_end_is_an_error(tmp_path, ctx, media):
    import shutil
    shutil.copy(media["red"], tmp_path / "red.mp4")
    with pytest.raises(NodeError) as e:
        load(ctx, "red.mp4", start=5.0)
    assert e.value.field == "start" and "past the end" in e.value.message


def test_load_fingerprint_changes_when_the_file_changes(tmp_path, media):
    import os
    import shutil
    cls = graph.default_registry().get("io.load_video").cls
    shutil.copy(media["red"], tmp_path / "clip.mp4")
    first = cls.fingerprint({"path": "clip.mp4"}, tmp_path)
    assert first and cls.fingerprint({"path": "clip.mp4"}, tmp_path) == first
    shutil.copy(media["blue"], tmp_path / "clip.mp4")
    st = (tmp_path / "clip.mp4").stat()
    os.utime(tmp_path / "clip.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cls.fingerprint({"path": "clip.mp4"}, tmp_path) != first
    assert cls.fingerprint({"path": "gone.mp4"}, tmp_path) == "missing"


def test_editing_the_loaded_file_makes_the_engine_load_it_again(tmp_path, media):
    import os
    import shutil
    shutil.copy(media["red"], tmp_path / "clip.mp4")
    wf = make_workflow({"load": ("io.load_video", {"path": "clip.mp4"})})
    first = graph.run(wf, cache=tmp_path / "cache", workspace=tmp_path)
    assert first.ok and first.ran == ["load"]
    assert graph.run(wf, cache=tmp_path / "cache", workspace=tmp_path).cached == ["load"]
    shutil.copy(media["blue"], tmp_path / "clip.mp4")
    st = (tmp_path / "clip.mp4").stat()
    os.utime(tmp_path / "clip.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = graph.run(wf, cache=tmp_path / "cache", workspace=tmp_path)
    assert again.ran == ["load"]
    assert again.value("load.video").meta["frames"] == 36 != first.value("load.video").meta["frames"]


def test_mux_copies_aac_of_the_videos_length_instead_of_re_encoding_it(ctx, clips, media, tmp_path):
    # audio.mix format=m4a delivers AAC of the video's length: mux copies its packets as they are
    m4a = tmp_path / "bed.m4a"
    subprocess.run([ffmpeg.exe(), "-v", "error", "-y", "-i", str(media["bed"]), "-t", "2", "-c:a", "aac",
                    "-ar", "48000", "-ac", "2", str(m4a)], check=True)
    audio = ctx.store_file(m4a, "audio", sample_rate=48000, channels=2, duration=2.0, codec="aac")
    ref = node("assemble.mux_audio").run(ctx, video=clips["green"], audio=audio, gain_db=0.0)["video"]
    with av.open(str(ref.path)) as c:
        muxed = [bytes(p) for p in c.demux(audio=0) if p.size]
    with av.open(str(audio.path)) as c:
        source = [bytes(p) for p in c.demux(audio=0) if p.size]
    assert muxed == source[:len(muxed)] and len(muxed) >= len(source) - 1
    assert abs(probe(ref.path)["audio"][0]["duration"] - 2.0) <= FRAME


# ---------------------------------------------------------------------------------------------
# assemble.timeline: the cut planned before rendering

def timeline(ctx, durations, transitions=None, transition="crossfade", transition_seconds=0.5, fps=24):
    return node("assemble.timeline").run(ctx, durations=durations, transitions=transitions,
                                         transition=transition, transition_seconds=transition_seconds, fps=fps)


@pytest.mark.parametrize("transitions", [None, ["cut", "crossfade", "fade_black"], ["crossfade", "cut"]])
def test_timeline_plans_the_same_cut_as_concat_renders(ctx, clips, transitions):
    videos = [clips["red"], clips["blue"], clips["green"]]
    rendered = concat(ctx, videos, transitions=transitions)
    planned = timeline(ctx, [1.0, 1.5, 2.0], transitions=transitions)
    for key in ("starts", "ends", "duration"):
        assert planned[key] == rendered[key], key


def test_timeline_clear_times_exclude_the_crossfades(ctx):
    t = timeline(ctx, [4, 4, 4, 4], transitions=["", "crossfade", "cut", "fade_black"])
    assert t["starts"] == [0.0, 3.5, 7.5, 11.5] and t["duration"] == 15.5
    assert t["clear_in"] == [0.0, 0.5, 0.0, 0.0]  # only shot 2 begins inside a crossfade
    assert t["clear_out"] == [3.5, 4.0, 4.0, 4.0]  # only shot 1 ends inside one
    assert t["clear_starts"] == [0.0, 4.0, 7.5, 11.5] and t["clear_ends"] == [3.5, 7.5, 11.5, 15.5]


def test_timeline_refuses_bad_input_naming_the_field(ctx):
    for kwargs, field in (({"durations": []}, "durations"), ({"durations": [1.0, 0.01]}, "durations"),
                          ({"durations": [1.0, 1.0], "transitions": ["wipe"]}, "transitions")):
        with pytest.raises(NodeError) as e:
            timeline(ctx, **kwargs)
        assert e.value.field == field and e.value.fix
