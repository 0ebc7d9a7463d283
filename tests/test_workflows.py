"""The shipped workflows, end to end: the main job's output meets the quality bar, every example runs.

The main job (workflows/storyboard_to_clip.json) is rendered once per test session at its shipped
settings (1280×720, 24 fps, draft backends) and its MP4 is checked with PyAV, not with our helpers.
"""

from __future__ import annotations

import itertools
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from mediaprobe import frame_difference, probe, video_frames
from reelgraph import graph
from reelgraph.graph import WorkflowError
from reelgraph.ui.cli import cli
from reelgraph.workflows import names, path

pytestmark = pytest.mark.slow
MAIN = path("storyboard_to_clip")


@pytest.fixture(scope="module")
def main_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("main-cache")


@pytest.fixture(scope="module")
def main_run(main_cache):
    result = graph.run(MAIN, cache=main_cache)
    assert result.ok, [str(f) for f in result.failures]
    return result


@pytest.fixture(scope="module")
def main_video(main_run):
    return main_run.outputs["save"]["video"]


@pytest.fixture(scope="module")
def main_probe(main_video):
    return probe(main_video.path)


def expected_duration(shots, transition_seconds=0.5) -> float:
    overlaps = sum(transition_seconds for s in shots[1:] if s.transition == "crossfade")
    return sum(s.duration for s in shots) - overlaps


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    def secs(stamp):
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        a, b = lines[1].split(" --> ")
        cues.append((secs(a.strip()), secs(b.strip()), " ".join(lines[2:])))
    return cues


def test_every_shipped_workflow_is_valid():
    assert {"storyboard_to_clip", "single_shot", "extend_shot", "music_video"} <= set(names())
    for name in names():
        assert graph.validate(path(name)) == [], name


# ---------------------------------------------------------------------------------------------
# The main job's output

def test_main_job_is_six_shots_with_the_declared_size_and_rate(main_run, main_probe):
    shots = main_run.value("story.shots")
    assert len(shots) == 6
    (v,) = main_probe["video"]
    assert (v["codec"], v["width"], v["height"], v["fps"]) == ("h264", 1280, 720, 24.0)
    assert v["pix_fmt"] == "yuv420p"


def test_main_job_duration_is_the_shots_minus_transition_overlaps(main_run, main_probe):
    want = expected_duration(main_run.value("story.shots"))
    assert abs(main_probe["video"][0]["duration"] - want) <= 1 / 24 + 1e-6
    assert abs(main_run.value("concat.duration") - want) <= 1 / 24 + 1e-6


def test_main_job_has_one_h264_and_one_aac_stream_of_the_same_length(main_probe):
    assert len(main_probe["video"]) == 1 and len(main_probe["audio"]) == 1
    (a,) = main_probe["audio"]
    assert a["codec"] == "aac"
    assert abs(a["duration"] - main_probe["video"][0]["duration"]) <= 1 / 24 + 1e-6


def test_main_job_sound_is_music_and_narration_not_silence(main_video):
    from mediaprobe import audio_samples, rms
    x = audio_samples(main_video.path)
    assert rms(x) > 0.01
    assert np.abs(x).max() <= 1.0


def test_main_job_subtitles_match_the_shots_within_one_frame(main_run):
    cues = srt_cues(main_run.value("subtitles.srt"))
    narrated = [i for i, s in enumerate(main_run.value("story.shots")) if s.narration.strip()]
    # the cut was planned before rendering; the assembled video follows the plan
    assert main_run.value("concat.starts") == main_run.value("timeline.starts")
    assert main_run.value("concat.duration") == main_run.value("timeline.duration")
    starts, ends = main_run.value("timeline.starts"), main_run.value("timeline.ends")
    assert len(cues) == len(narrated)
    for (a, b, text), i in zip(cues, narrated):
        # a subtitle shows while its shot stands alone: from the end of the crossfade into it to the
        # start of the crossfade out of it (at cuts and fades, the shot's own start and end)
        overlap_in = max(0.0, ends[i - 1] - starts[i]) if i else 0.0
        overlap_out = max(0.0, ends[i] - starts[i + 1]) if i + 1 < len(starts) else 0.0
        assert abs(a - (starts[i] + overlap_in)) <= 1 / 24 + 1e-3
        assert abs(b - (ends[i] - overlap_out)) <= 1 / 24 + 1e-3
        assert text.split()[0] in main_run.value("story.shots")[i].narration


def test_main_job_captions_are_burned_in_while_they_are_on(main_run, main_video):
    # Each shot is captioned before assembly. At every cue's midpoint the final frame's bottom band
    # differs from the uncaptioned clip's frame at that moment, the top of the frame does not.
    cues = srt_cues(main_run.value("subtitles.srt"))
    narrated = [i for i, s in enumerate(main_run.value("story.shots")) if s.narration.strip()]
    starts = main_run.value("concat.starts")
    plain_clips = main_run.value("upscale.video")
    final = video_frames(main_video.path)
    for (a, b, _), i in zip(cues, narrated):
        mid = (a + b) / 2
        plain = video_frames(plain_clips[i].path)[int(round((mid - starts[i]) * 24))]
        f = final[int(round(mid * 24))]
        bottom = frame_difference(plain[-160:], f[-160:])
        top = frame_difference(plain[:200], f[:200])
        assert bottom > 3 * top + 2, (a, b, bottom, top)
    # and no caption where the storyboard has no narration (shot 3 is dialogue: it is captioned too)
    assert len(cues) == len(narrated)


def test_main_job_shots_are_visually_distinct(main_run, main_video):
    frames = video_frames(main_video.path)
    starts, ends = main_run.value("concat.starts"), main_run.value("concat.ends")
    middles = [frames[int((s + e) / 2 * 24)] for s, e in zip(starts, ends)]
    for a, b in itertools.combinations(range(len(middles)), 2):
        assert frame_difference(middles[a], middles[b]) > 8, (a, b)


def test_main_job_camera_moves_really_move(main_run):
    clips = main_run.value("animate.video")
    shots = main_run.value("story.shots")
    for shot, clip in zip(shots, clips):
        frames = video_frames(clip.path)
        moved = frame_difference(frames[0], frames[-1])
        assert (moved > 2.0) == (shot.camera != "static"), (shot.index, shot.camera, moved)


def test_main_job_output_carries_its_workflow(main_video):
    restored = graph.load(main_video.path)
    original = graph.load(MAIN)
    assert {k: (n.type, n.params) for k, n in restored.nodes.items()} == \
           {k: (n.type, n.params) for k, n in original.nodes.items()}
    assert restored.edges == original.edges


# ---------------------------------------------------------------------------------------------
# Editing one shot

def edited_script(script: str) -> str:
    new = script.replace("Close up of Mara at the window", "Close up of Mara at the storm window")
    assert new != script
    return new


def test_editing_one_shot_recomputes_only_that_shot_and_the_assembly(main_run, main_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(main_cache, cache)
    script = edited_script(graph.load(MAIN).nodes["story"].params["script"])
    overrides = {"story.script": script}
    started = {}
    result = graph.run(MAIN, overrides=overrides, cache=cache,
                       on_event=lambda ev: ev.event == "node_started" and started.__setitem__(ev.node, ev.data))
    assert result.ok
    # each per-shot node made one call (the edited shot) and took the five others from the cache
    for node in ("expand", "keyframe", "animate", "upscale", "caption"):
        assert (started[node]["calls"], started[node]["cached_calls"]) == (6, 5), node
    assert {"concat", "subtitles", "mux", "save"} <= set(result.ran)
    # narration, timing and music did not change: they come from the cache
    assert not {"voice", "music", "mix", "timeline"} & set(result.ran)
    new_frames = result.value("animate.video")
    old_frames = main_run.value("animate.video")
    changed = [i for i, (a, b) in enumerate(zip(old_frames, new_frames)) if a.digest != b.digest]
    assert changed == [2]


# ---------------------------------------------------------------------------------------------
# Bad input at the workflow level: clear errors, nothing already computed is lost

def test_an_empty_storyboard_fails_at_the_storyboard_node_and_names_the_field(tmp_path):
    result = graph.run(MAIN, overrides={"story.script": "# Nothing yet\n"}, cache=tmp_path / "c")
    assert not result.ok
    (failure,) = result.failures
    assert failure.node == "story" and failure.field == "script"
    assert "save" in result.skipped


def test_a_missing_song_fails_that_node_while_the_pictures_finish_and_stay_cached(tmp_path):
    wf = graph.load(path("music_video"))
    result = graph.run(wf, overrides={"song.path": "media/no-such-song.m4a"}, cache=tmp_path / "c")
    assert not result.ok
    (failure,) = result.failures
    assert failure.node == "song" and failure.field == "path"
    assert {"keyframe", "animate", "concat"} <= set(result.ran)
    again = graph.plan(wf, overrides={"song.path": "media/no-such-song.m4a"}, cache=tmp_path / "c")
    assert {e.node: e.status for e in again}["concat"] == "cached"


def test_a_wired_camera_move_that_does_not_exist_is_a_clear_error(tmp_path):
    script = graph.load(MAIN).nodes["story"].params["script"].replace("camera: pan_right", "camera: sideways")
    result = graph.run(MAIN, overrides={"story.script": script}, cache=tmp_path / "c")
    assert not result.ok
    (failure,) = result.failures
    assert failure.node == "story" and failure.field == "script"
    assert "sideways" in str(failure) and "line" in str(failure)


# ---------------------------------------------------------------------------------------------
# The other examples

def test_single_shot_example_renders_five_seconds(tmp_path):
    result = graph.run(path("single_shot"), cache=tmp_path / "c")
    assert result.ok, [str(f) for f in result.failures]
    (v,) = probe(result.outputs["save"]["video"].path)["video"]
    assert abs(v["duration"] - 5.0) <= 1 / 24 and (v["width"], v["height"]) == (960, 540)


def test_extend_shot_example_is_three_clips_long_at_48_fps(tmp_path):
    result = graph.run(path("extend_shot"), cache=tmp_path / "c")
    assert result.ok, [str(f) for f in result.failures]
    (v,) = probe(result.outputs["save"]["video"].path)["video"]
    assert v["fps"] == 48.0
    assert abs(v["duration"] - 9.0) <= 2 / 48


def test_music_video_example_is_cut_to_the_song(tmp_path):
    result = graph.run(path("music_video"), cache=tmp_path / "c")
    assert result.ok, [str(f) for f in result.failures]
    p = probe(result.outputs["save"]["video"].path)
    (v,), (a,) = p["video"], p["audio"]
    assert (v["width"], v["height"]) == (360, 640)
    assert abs(v["duration"] - (12.0 - 0.25)) <= 1 / 24
    assert abs(a["duration"] - v["duration"]) <= 1 / 24


# ---------------------------------------------------------------------------------------------
# The command line, as the README uses it

def test_cli_renders_the_main_job_to_a_file_with_captions_beside_it(main_run, main_cache, tmp_path):
    out = tmp_path / "out" / "demo.mp4"
    result = CliRunner().invoke(cli, ["run", str(MAIN), "-o", str(out), "--cache-dir", str(main_cache), "-q"])
    assert result.exit_code == 0, result.output
    assert probe(out)["video"][0]["width"] == 1280
    assert srt_cues((tmp_path / "out" / "demo.srt").read_text())


def test_cli_reruns_the_workflow_restored_from_the_clip(main_video, main_cache, tmp_path):
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(main_video.path, clip)
    result = CliRunner().invoke(cli, ["plan", str(clip), "--cache-dir", str(main_cache)])
    assert result.exit_code == 0, result.output
    assert "cached" in result.output


def test_an_invalid_override_is_refused_before_anything_runs():
    with pytest.raises(WorkflowError) as e:
        graph.run(MAIN, overrides={"keyframe.aspect": "5:4"}, cache=False)
    assert e.value.issues[0].node == "keyframe" and e.value.issues[0].field == "aspect"
