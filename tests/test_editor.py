"""The editor's back end (ui/session.py) without a browser: what Python does with what the canvas sends.

Everything the browser sends is validated like the CLI's input; bad input answers with a message and
changes nothing; runs of different sessions never see each other; served files stay in the run folder.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from reelgraph import graph
from reelgraph.graph.errors import WorkflowError
from reelgraph.ui.catalog import build_catalog
from reelgraph.ui.session import Editor, EditorError

RES = Path(__file__).parent / "resources"
EDITOR = RES / "editor"


def load(name: str) -> dict:
    return json.loads((EDITOR / name).read_text())


@pytest.fixture
def upload_root(tmp_path):
    root = tmp_path / "gradio-uploads"
    root.mkdir()
    return root


@pytest.fixture
def editor(tmp_path):
    return Editor(tmp_path / "workspace", cache=tmp_path / "cache")


def uploaded(upload_root: Path, name: str, data: bytes) -> str:
    p = upload_root / "abc123" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return str(p)


def example(name: str) -> dict:
    from reelgraph import workflows
    return graph.load(workflows.path(name)).to_dict()


def finish(editor: Editor, run) -> dict:
    *_, state = editor.states(run)  # states() always ends with the run's final state
    return state


# ---------------------------------------------------------------------------------------------- catalog
def test_catalog_lists_every_registered_node_with_its_wiring_table_and_colours():
    cat = build_catalog()
    types = {n["type"] for n in cat["nodes"]}
    assert types == {n["type"] for n in graph.default_registry().catalog()["nodes"]}
    assert [c["id"] for c in cat["categories"]][:3] == ["story", "image", "video"]
    assert cat["links"]["Video"]["Video"] == "direct"
    assert "Text" not in cat["links"]["Video"], "a Video output must not feed a Text input"
    assert cat["links"]["List[Video]"]["Video"] == "map"
    assert cat["links"]["Int"]["Float"] == "direct"  # the same coercions as graph.types
    assert all(c["color"].startswith("#") for c in cat["types"].values())
    load_image = next(n for n in cat["nodes"] if n["type"] == "io.load_image")
    assert next(p for p in load_image["params"] if p["name"] == "path")["file"] == "image"


# ---------------------------------------------------------------------------------------------- checking
def test_an_edit_marks_what_would_run_as_stale_and_what_is_cached_as_cached(editor):
    wf = load("two_texts.json")
    state = editor.check(wf, "tab")
    assert {n: s["status"] for n, s in state["nodes"].items()} == {"hello": "stale", "greet": "stale"}
    finish(editor, editor.start(wf, "tab"))
    assert {n: s["status"] for n, s in editor.check(wf, "tab")["nodes"].items()} == {
        "hello": "cached", "greet": "cached"}
    wf["nodes"]["greet"]["params"]["template"] = "{a}, moon"
    assert {n: s["status"] for n, s in editor.check(wf, "tab")["nodes"].items()} == {
        "hello": "cached", "greet": "stale"}


def test_check_reports_every_issue_with_node_and_field(editor):
    state = editor.check(load("wrong_type.json"), "tab")
    assert state["issues"] == [{"node": "line", "field": "a",
                                "message": "expects Text, but still.image gives Image",
                                "fix": "wire a Text output here, or convert still.image first",
                                "say": [["issue.type_mismatch", {"declared": "Text", "source": "still.image",
                                                                 "got": "Image"}],
                                        ["issue.type_mismatch_fix", {"declared": "Text", "source": "still.image"}]]}]
    assert "1 problem" in state["message"]


def test_check_reports_a_cycle_with_its_path(editor):
    state = editor.check(json.loads((RES / "wf_cycle.json").read_text()), "tab")
    assert any("cycle" in i["message"] for i in state["issues"])


def test_previews_of_the_last_run_survive_an_edit_marked_as_from_before_it(editor):
    wf = load("two_texts.json")
    finish(editor, editor.start(wf, "tab"))
    assert editor.check(wf, "tab")["nodes"]["greet"]["previews"] == [
        {"kind": "text", "text": "Hello, world", "port": "text"}]
    wf["nodes"]["greet"]["params"]["template"] = "{a}!"
    state = editor.check(wf, "tab")
    assert state["nodes"]["greet"]["previews"] == [
        {"kind": "text", "text": "Hello, world", "port": "text", "old": True}]
    assert "old" not in state["nodes"]["hello"]["previews"][0]  # unchanged upstream: still its result


def test_a_deleted_nodes_previews_and_status_never_reach_a_new_node_with_its_id(editor):
    wf = load("two_texts.json")
    finish(editor, editor.start(wf, "tab"))
    gone = {**wf, "nodes": {"hello": wf["nodes"]["hello"]}, "edges": []}
    state = editor.check(gone, "tab")
    assert set(state["nodes"]) == {"hello"} and state["message"] == "Ready: everything is cached"
    fresh = {**wf, "nodes": {**gone["nodes"], "greet": {"type": "text.template", "params": {"template": "{a}?"}}}}
    state = editor.check(fresh, "tab")
    greet = dict(state["nodes"]["greet"])
    assert greet.pop("estimate")["calls"] == 1  # what it will cost: its own, nothing of the old node's
    assert greet == {"status": "stale", "message": greet["message"]}


def test_a_node_edited_during_a_run_is_marked_to_run_again_when_the_run_ends(editor):
    wf = load("two_texts.json")
    run = editor.start(wf, "tab")
    edited = json.loads(json.dumps(wf))
    edited["nodes"]["hello"]["params"]["text"] = "Goodbye"  # greet, downstream, changes too
    editor.check(edited, "tab")  # the canvas sends every edit, also during a run
    state = finish(editor, run)
    assert state["status"] == "done"
    assert {n: s["status"] for n, s in state["nodes"].items()} == {"hello": "stale", "greet": "stale"}
    assert state["nodes"]["greet"]["message"] == "changed during the run: run again to use the canvas's settings"
    assert state["message"].endswith("2 nodes changed during the run: run again to use the canvas's settings")
    assert all(p.get("old") for s in state["nodes"].values() for p in s.get("previews", []))
    # moving a node or renaming it changes nothing that runs
    moved = json.loads(json.dumps(wf))
    moved["nodes"]["greet"].update(position=[900, 40], title="Greeting")
    run = editor.start(wf, "tab")
    editor.check(moved, "tab")
    assert {s["status"] for s in finish(editor, run)["nodes"].values()} == {"cached"}


def test_the_output_video_is_offered_only_while_the_node_that_made_it_is_unchanged(editor):
    wf = example("single_shot")
    state = finish(editor, editor.start(wf, "tab"))
    made_by = state["output"]["node"]
    assert editor.check(wf, "tab")["output"] == state["output"]
    moved = json.loads(json.dumps(wf))
    moved["nodes"][made_by]["position"] = [5000, 5000]
    assert editor.check(moved, "tab")["output"] == state["output"]
    assert editor.check({**wf, "nodes": {}, "edges": []}, "tab")["output"] is None  # cleared canvas
    assert editor.check(example("storyboard_to_clip"), "tab")["output"] is None  # another workflow


def test_a_mapped_node_that_redid_some_elements_says_how_many(editor):
    wf = example("storyboard_to_clip")
    finish(editor, editor.start(wf, "tab"))
    script = wf["nodes"]["story"]["params"]["script"]
    wf["nodes"]["story"]["params"]["script"] = script.replace("Mara climbs", "Mara slowly climbs", 1)  # shot 2
    state = finish(editor, editor.start(wf, "tab"))
    keyframe = state["nodes"]["keyframe"]
    assert keyframe["status"] == "done" and keyframe["calls"] == 6 and keyframe["calls_cached"] == 5
    assert keyframe["message"].startswith("re-rendered 1 of 6, 5 from cache · ")


# ---------------------------------------------------------------------------------------------- running
def test_a_model_backend_that_falls_back_to_the_draft_says_so_on_the_node(editor):
    wf = example("single_shot")
    wf["nodes"]["keyframe"]["params"]["backend"] = "auto"  # no GPU here: the draft renders, and says why
    state = finish(editor, editor.start(wf, "tab"))
    assert state["status"] == "done"
    message = state["nodes"]["keyframe"]["message"]
    assert "backend auto: no GPU on this machine; rendering the draft" in message
    assert message.endswith("rendering the draft") and " s · " in message


def test_a_run_streams_states_from_queued_to_done_with_previews_and_the_output(editor):
    wf = example("single_shot")
    run = editor.start(wf, "tab")
    seen = []
    for state in editor.states(run):
        seen.append({n: s["status"] for n, s in state["nodes"].items()})
    assert len(seen) >= 2 and set(seen[0].values()) & {"queued", "running"}, "progress arrives before the end"
    assert state["status"] == "done" and state["message"].startswith("Done in")
    assert set(seen[-1].values()) == {"done"}
    out = state["output"]
    assert out["kind"] == "video" and out["url"].startswith("gradio_api/file=")
    served = Path(out["url"].split("=", 1)[1])
    assert served.is_file() and run.folder in served.parents, "served files lie in the run's own folder"
    kinds = {p["kind"] for s in state["nodes"].values() for p in s.get("previews", [])}
    assert {"image", "video"} <= kinds
    for s in state["nodes"].values():
        for p in s.get("previews", []):
            if "url" in p:
                assert run.folder in Path(p["url"].split("=", 1)[1]).parents


def test_an_invalid_graph_is_refused_before_anything_runs(editor):
    with pytest.raises(WorkflowError) as e:
        editor.start(load("wrong_type.json"), "tab")
    assert e.value.issues[0].node == "line"
    assert editor._runs == {}


def test_unknown_node_types_are_refused_by_name(editor):
    with pytest.raises(EditorError, match="video.teleport"):
        editor.start(load("unknown_type.json"), "tab")


def test_a_path_that_escapes_the_workspace_fails_that_node_with_the_field_and_fix(editor):
    state = finish(editor, editor.start(load("escape_path.json"), "tab"))
    node = state["nodes"]["pic"]
    assert state["status"] == "failed" and node["status"] == "failed"
    assert node["error"]["field"] == "path" and "outside the workspace" in node["error"]["message"]
    assert "inside the workflow's folder" in node["error"]["fix"]


def test_a_failed_node_skips_its_downstream_and_keeps_finished_branches_cached(editor, tmp_path):
    wf = load("two_texts.json")
    wf["nodes"]["pic"] = {"type": "io.load_image", "params": {"path": "missing.png"}}
    wf["nodes"]["big"] = {"type": "image.upscale"}
    wf["edges"].append({"from": "pic.image", "to": "big.image"})
    state = finish(editor, editor.start(wf, "tab"))
    assert state["nodes"]["pic"]["status"] == "failed" and "not found" in state["nodes"]["pic"]["error"]["message"]
    assert state["nodes"]["big"]["status"] == "skipped"
    assert state["nodes"]["greet"]["status"] == "done"
    assert editor.check(wf, "tab")["nodes"]["greet"]["status"] == "cached"


def test_one_session_runs_one_graph_at_a_time(editor):
    wf = example("single_shot")
    run = editor.start(wf, "tab")
    with pytest.raises(EditorError, match="already going"):
        editor.start(wf, "tab")
    editor.stop("tab")
    finish(editor, run)


def test_stop_cancels_the_run_and_finished_nodes_stay_cached(editor):
    wf = example("storyboard_to_clip")
    run = editor.start(wf, "tab")
    states = editor.states(run)
    for state in states:
        if any(s["status"] in ("done", "cached") for s in state["nodes"].values()):
            assert editor.stop("tab")
            break
    *_, state = states  # the rest, up to the final state
    assert state["status"] == "cancelled" and state["message"].startswith("Stopped")
    finished = [n for n, s in state["nodes"].items() if s["status"] == "done"]
    assert finished and any(s["status"] == "skipped" for s in state["nodes"].values())
    after = editor.check(wf, "tab")["nodes"]
    assert all(after[n]["status"] == "cached" for n in finished if n != "save")


def test_two_sessions_run_at_once_without_seeing_each_other(editor):
    a, b = load("two_texts.json"), load("two_texts.json")
    b["nodes"]["hello"]["params"]["text"] = "Goodbye"
    results = {}

    def go(session, wf):
        run = editor.start(wf, session)
        results[session] = (run, finish(editor, run))

    threads = [threading.Thread(target=go, args=("tab-a", a)), threading.Thread(target=go, args=("tab-b", b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    (run_a, state_a), (run_b, state_b) = results["tab-a"], results["tab-b"]
    assert run_a.folder != run_b.folder
    assert state_a["nodes"]["greet"]["previews"][0]["text"] == "Hello, world"
    assert state_b["nodes"]["greet"]["previews"][0]["text"] == "Goodbye, world"
    assert editor.check(a, "tab-a")["nodes"]["greet"]["previews"][0]["text"] == "Hello, world"


# ---------------------------------------------------------------------------------------------- files
def test_open_text_gives_the_graph_and_invalid_json_a_message_with_the_line(editor):
    ok = editor.open_text((EDITOR / "two_texts.json").read_text(), "two_texts.json")
    assert ok["ok"] and set(ok["graph"]["nodes"]) == {"hello", "greet"}
    bad = editor.open_text((RES / "wf_invalid_json.json").read_text(), "broken.json")
    assert bad == {"ok": False, "error": bad["error"]}
    assert "broken.json is not a reelgraph workflow: invalid JSON at line" in bad["error"]
    assert not editor.open_text("", "empty.json")["ok"]
    assert "not a reelgraph workflow" in editor.open_text('{"hello": 1}', "other.json")["error"]


def test_open_refuses_unknown_node_types(editor):
    res = editor.open_text((EDITOR / "unknown_type.json").read_text(), "future.json")
    assert not res["ok"] and "video.teleport" in res["error"] and "install the node pack" in res["error"]


def test_open_file_restores_the_workflow_embedded_in_a_produced_mp4(editor, upload_root):
    wf = example("single_shot")
    run = editor.start(wf, "tab")
    finish(editor, run)
    path = uploaded(upload_root, "clip.mp4", run.output_path.read_bytes())
    res = editor.open_file(path, "clip.mp4", upload_root)
    assert res["ok"], res
    assert res["graph"]["nodes"].keys() == wf["nodes"].keys()
    assert "Restored" in res["message"]


def test_open_file_refuses_media_without_a_workflow_and_files_not_uploaded(editor, upload_root, tmp_path):
    from PIL import Image
    png = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(png)
    res = editor.open_file(uploaded(upload_root, "plain.png", png.read_bytes()), "plain.png", upload_root)
    assert not res["ok"] and "plain.png" in res["error"]
    secret = tmp_path / "secret.json"
    secret.write_text((EDITOR / "two_texts.json").read_text())
    res = editor.open_file(str(secret), "secret.json", upload_root)
    assert not res["ok"] and "not uploaded through the editor" in res["error"]
    assert not editor.open_file(uploaded(upload_root, "notes.txt", b"hello"), "notes.txt", upload_root)["ok"]


def test_save_gives_the_workflow_json_a_file_name_and_its_issues(editor):
    res = editor.save(load("wrong_type.json"))
    assert res["ok"] and res["name"] == "a_picture_wired_into_a_text_input.json"
    assert json.loads(res["text"])["edges"][1] == {"from": "still.image", "to": "line.a"}
    assert res["issues"][0]["node"] == "line"
    assert not editor.save({"nodes": 3})["ok"]


def test_import_media_copies_an_upload_into_the_workspace_under_a_content_name(editor, upload_root):
    res = editor.import_media(uploaded(upload_root, "My Photo.PNG", b"\x89PNG fake"), "My Photo.PNG", upload_root)
    assert res["ok"] and res["value"].startswith("uploads/") and res["value"].endswith("-my_photo.png")
    assert (editor.workspace / res["value"]).read_bytes() == b"\x89PNG fake"
    assert not editor.import_media("/etc/hostname", "hostname", upload_root)["ok"]


def test_examples_load_with_their_media_copied_into_the_workspace(editor):
    ids = [e["id"] for e in editor.examples()]
    assert ids[0] == "storyboard_to_clip" and "music_video" in ids
    res = editor.load_example("music_video")
    assert res["ok"] and (editor.workspace / "media" / "song.m4a").is_file()
    assert not editor.load_example("../secrets")["ok"]


def test_editing_one_shot_marks_only_what_that_shot_changes(editor):
    wf = example("storyboard_to_clip")
    finish(editor, editor.start(wf, "tab"))
    script = wf["nodes"]["story"]["params"]["script"]
    wf["nodes"]["story"]["params"]["script"] = script.replace("Close up of Mara", "Close up of old Mara")
    nodes = editor.check(wf, "tab")["nodes"]
    # the planner runs the instant story nodes ahead: shot 3's picture changed, its words did not
    keyframe = dict(nodes["keyframe"])
    assert keyframe.pop("estimate")["calls"] == 1  # one shot to render again, and what it costs
    assert keyframe == {"status": "stale", "message": "1 of 6 elements changed",
                        "previews": nodes["keyframe"]["previews"]}
    for unchanged in ("voice", "music", "mix", "timeline"):
        assert nodes[unchanged]["status"] == "cached", unchanged
    assert nodes["concat"]["status"] == "stale"


# ---------------------------------------------------------------------------------------------- launching
def test_listening_beyond_loopback_needs_auth(tmp_path):
    from reelgraph.ui import app
    with pytest.raises(EditorError, match="--auth"):
        app.launch(host="0.0.0.0", workspace=tmp_path)


def test_the_cli_refuses_a_public_host_without_auth_and_a_bad_auth(tmp_path):
    from click.testing import CliRunner
    from reelgraph.ui.cli import cli
    res = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0", "--workspace", str(tmp_path)])
    assert res.exit_code != 0 and "--auth" in res.output
    res = CliRunner().invoke(cli, ["ui", "--auth", "nopassword", "--workspace", str(tmp_path)])
    assert res.exit_code != 0 and "USER:PASSWORD" in res.output
    res = CliRunner().invoke(cli, ["ui", str(RES / "wf_invalid_json.json"), "--workspace", str(tmp_path)])
    assert res.exit_code != 0 and "invalid JSON at line" in res.output


@pytest.mark.slow
def test_reelgraph_ui_serves_the_editor_on_loopback_with_the_storyboard(tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from browser import free_port
    port = free_port()
    env = {**os.environ, "REELGRAPH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "reelgraph.ui.cli", "ui", "--port", str(port),
                             "--workspace", str(tmp_path / "ws")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(120):
            try:
                config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2).read())
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the editor did not come up: " + (proc.stdout.read() if proc.poll() is not None else ""))
        canvas = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "rg-canvas")
        assert canvas["props"]["value"]["name"] == "Storyboard to clip"
        types = {n["type"] for n in canvas["props"]["props"]["catalog"]["nodes"]}
        assert {"story.parse_storyboard", "assemble.concat", "io.load_image"} <= types
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_editor_remembers_a_bounded_number_of_sessions(editor, monkeypatch):
    import reelgraph.ui.session as session
    monkeypatch.setattr(session, "KEEP_SESSIONS", 3)
    wf = load("two_texts.json")
    for i in range(6):
        finish(editor, editor.start(wf, f"tab-{i}"))
    assert list(editor._runs) == ["tab-3", "tab-4", "tab-5"]
    assert set(editor._previews) == {"tab-3", "tab-4", "tab-5"}


# ---------------------------------------------------------------------------------------- run to here
def test_run_to_here_runs_only_what_the_node_needs_and_the_rest_keep_their_marks(editor):
    wf = load("three_keyframes.json")
    wf["nodes"]["caption"] = {"type": "text.constant", "params": {"text": "unrelated"}}
    state = finish(editor, editor.start(wf, "s1", targets=["prompt"]))
    assert state["status"] == "done"
    assert {n: state["nodes"][n]["status"] for n in ("story", "prompt")} == {"story": "done", "prompt": "done"}
    # the keyframe and the unrelated node did not run: they still say they will
    assert state["nodes"]["keyframe"]["status"] == "stale"
    assert state["nodes"]["caption"]["status"] == "stale"
    # and a full run afterwards takes what Run to here made from the cache
    full = finish(editor, editor.start(wf, "s1"))
    assert full["nodes"]["prompt"]["status"] == "cached" and full["nodes"]["keyframe"]["status"] == "done"


def test_run_to_here_names_a_node_that_is_not_there(editor):
    with pytest.raises(EditorError, match="no node 'ghost'"):
        editor.start(load("two_texts.json"), "s1", targets=["ghost"])


# ------------------------------------------------------------------------ workflows in the workspace
def test_save_into_the_workspace_then_list_recent_first_and_open_it_back(editor):
    film = load("two_texts.json") | {"name": "My Film"}
    saved = editor.save_workflow(film)
    assert saved["ok"] and saved["file"] == "my_film.json"
    assert json.loads((editor.workspace / "my_film.json").read_text())["name"] == "My Film"
    other = editor.save_workflow(load("three_keyframes.json"), "keyframes.json")
    assert other["ok"]
    import os
    os.utime(editor.workspace / "my_film.json", (1, 1))  # saved long ago
    assert [w["file"] for w in editor.workspace_workflows()] == ["keyframes.json", "my_film.json"]
    opened = editor.open_workflow("my_film.json")
    assert opened["ok"] and opened["file"] == "my_film.json" and opened["graph"]["name"] == "My Film"


def test_saving_never_replaces_another_workflow_by_surprise(editor):
    assert editor.save_workflow(load("two_texts.json"), "mine.json")["ok"]
    clash = editor.save_workflow(load("three_keyframes.json"), "mine.json")
    assert not clash["ok"] and clash["exists"] and "already in the workspace" in clash["error"]
    assert json.loads((editor.workspace / "mine.json").read_text())["name"] == "Two texts"
    assert editor.save_workflow(load("three_keyframes.json"), "mine.json", overwrite=True)["ok"]
    assert json.loads((editor.workspace / "mine.json").read_text())["name"] == "Three keyframes"


@pytest.mark.parametrize("file", ["../escape.json", "/etc/passwd", "sub/dir.json", ".hidden.json", "noext", ""])
def test_workspace_file_names_cannot_leave_the_workspace(editor, file):
    assert not editor.save_workflow(load("two_texts.json"), file or 5)["ok"]
    assert "not a workflow file name" in editor.open_workflow(file)["error"]


def test_files_in_the_workspace_that_are_not_workflows_are_not_listed(editor):
    editor.workspace.mkdir(parents=True, exist_ok=True)
    (editor.workspace / "notes.json").write_text('{"todo": 1}')
    (editor.workspace / "broken.json").write_text("{")
    assert editor.workspace_workflows() == []


# ---------------------------------------------------------------------------------------------- history
def test_the_history_lists_past_runs_newest_first_with_their_video_and_workflow(editor):
    first = finish(editor, editor.start(example("single_shot"), "s1"))
    assert first["status"] == "done"
    finish(editor, editor.start(load("two_texts.json"), "s2"))
    runs = editor.history()
    assert [r["name"] for r in runs[:2]] == ["Two texts", example("single_shot")["name"]]
    shot = runs[1]
    assert shot["status"] == "done" and shot["video"]["name"].endswith(".mp4")
    assert Path(shot["video"]["url"].removeprefix("gradio_api/file=")).is_file()
    assert "Done in" in shot["message"] and shot["seconds"] > 0
    opened = editor.open_run(shot["run"])
    assert opened["ok"] and opened["graph"]["nodes"].keys() == example("single_shot")["nodes"].keys()


def test_a_run_of_a_queued_graph_is_judged_against_the_canvas(editor):
    ran = load("two_texts.json")
    canvas = load("two_texts.json")
    canvas["nodes"]["greet"]["params"]["template"] = "{a}!"  # edited after the run was queued
    state = finish(editor, editor.start(ran, "s1", canvas=canvas))
    assert state["nodes"]["hello"]["status"] == "done"
    assert state["nodes"]["greet"]["status"] == "stale"
    assert state["nodes"]["greet"]["message"].startswith("ran with other settings than the canvas has")


@pytest.mark.parametrize("run", ["../../etc", "x", None, "20261205-120000-../a"])
def test_open_run_refuses_what_is_not_a_run_of_the_history(editor, run):
    assert not editor.open_run(run)["ok"]


# ------------------------------------------------------------------------------------ storyboard view
def test_the_storyboard_view_gets_the_shots_as_the_node_reads_them(editor):
    board = editor.storyboard(example("storyboard_to_clip"))
    assert board["ok"] and board["node"] == "story" and board["editable"]
    assert len(board["shots"]) == 6
    first = board["shots"][0]
    assert first["number"] == 1 and first["camera"] == "push_in" and first["duration"] == 4
    assert first["narration"].startswith("Every night") and isinstance(first["seed"], int)


def test_editing_a_shot_changes_only_its_line_of_the_script(editor):
    wf = example("storyboard_to_clip")
    res = editor.edit_shot(wf, "story", 2, "camera", "pan_left")
    assert res["ok"]
    before = wf["nodes"]["story"]["params"]["script"].splitlines()
    after = res["script"].splitlines()
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [("camera: tilt_up", "camera: pan_left")]
    bad = editor.edit_shot(wf, "story", 2, "camera", "sideways")
    assert not bad["ok"] and "shot 2, camera: unknown camera" in bad["error"]


def test_a_canvas_without_a_storyboard_says_how_to_get_one(editor):
    res = editor.storyboard(load("two_texts.json"))
    assert not res["ok"] and "Parse Storyboard" in res["error"]
