"""A storyboard written in Chinese, end to end (issue 14, "done when"): readable Chinese captions, a
Mandarin voice that fits its shots, pictures that show what the shots name."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from mediaprobe import audio_samples, probe, rms
from PIL import Image
from reelgraph import graph
from reelgraph.nodes.image import _scene
from reelgraph.workflows import path

STORY = (Path(__file__).parent / "resources" / "storyboards" / "panda_zh.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="the Mandarin voice is espeak-ng's (apt-get install espeak-ng)")


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zh")
    events: list = []
    result = graph.run(path("storyboard_to_clip"), overrides={"story.script": STORY}, cache=tmp / "cache",
                       on_event=events.append)
    assert result.ok, [str(f) for f in result.failures]
    return result, events


def test_it_renders_without_a_missing_font_or_a_cut_line(render):
    _, events = render
    warnings = [e.message for e in events if e.event == "node_warning"]
    assert not [w for w in warnings if "font" in w or "cut" in w or "does not fit" in w], warnings


def test_the_captions_are_the_chinese_lines(render):
    result, _ = render
    srt = result.value("subtitles.srt")
    for line in ("每天晚上，灯塔都会亮起来。", "小明从来没有见过灯塔熄灭。"):
        assert line in srt


def test_each_line_is_spoken_at_a_mandarin_pace_and_fits_its_shot(render):
    result, _ = render
    shots = result.value("story.shots")
    voices = result.value("voice.audio")
    assert len(voices) == len(shots) == 3
    for shot, voice in zip(shots, voices):
        chars = len(re.findall(r"[\u4e00-\u9fff]", shot.narration))
        seconds = voice.meta["duration"]
        assert chars / 7 <= seconds <= chars / 3, (shot.narration, seconds)  # about 4-6 characters a second
        # narration_fit: extend -- the shot is lengthened to hold its line, never cut or overlapping
        assert seconds <= shot.duration


def test_the_finished_clip_has_a_voice_in_every_shot(render):
    result, _ = render
    video = result.outputs["save"]["video"]
    info = probe(video.path)
    samples = audio_samples(video.path)
    rate = info["audio"][0]["sample_rate"]
    starts = result.value("timeline.starts")
    for start in starts:
        window = samples[int((start + 0.3) * rate): int((start + 1.3) * rate)]
        assert rms(window) > 0.01, f"no voice after {start} s"


def test_the_pictures_show_what_the_shots_name(render):
    result, _ = render
    named = [_scene.analyse(p).tags for p in result.value("expand.prompt")]
    assert "lighthouse" in named[0] and "panda" in named[1]
    assert {"table", "lamp", "flowers"} <= named[2]
    frames = [np.asarray(Image.open(ref.path).convert("L"), np.float32) for ref in result.value("keyframe.image")]
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            assert np.abs(frames[i] - frames[j]).mean() > 10, "two different shots drew alike"
