"""The Python API (reelgraph.graph): load, validate, run, iter_events, plan, overrides, RunContext."""

from __future__ import annotations

import json
import os
import tempfile

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import NodeError, RunContext, WorkflowError
from reelgraph.workflows import path as example_path

OUTLINE = example_path("shot_outline")


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path, monkeypatch):
    """Runs without a cache keep their artifact store in a temp folder: keep those in tmp_path."""
    scratch = tmp_path / "tempdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


def small_wf() -> dict:
    return make_workflow({
        "story": ("text.split", {"text": "fox\nhare"}),
        "line": ("text.template", {"template": "{n}: {a}"}),
        "all": ("text.join", {"separator": "; "}),
    }, [("story.items", "line.a"), ("line.text", "all.items")], name="small")


# ---------------------------------------------------------------------------------------------
# load

def test_load_from_path_str_and_pathlike():
    from_path = graph.load(OUTLINE)
    from_str = graph.load(str(OUTLINE))
    assert isinstance(from_path, graph.Workflow)
    assert from_path.name == "Shot outline"
    assert set(from_path.nodes) == {"story", "style", "describe", "outline", "count", "title"}
    assert len(from_path.edges) == 6
    assert from_path.source == str(OUTLINE)
    assert from_str.to_dict() == from_path.to_dict()


def test_load_from_dict_and_json_string_agree_with_file():
    raw = json.loads(OUTLINE.read_text())
    from_dict = graph.load(raw)
    from_json = graph.load(OUTLINE.read_text())
    from_json_ws = graph.load("\n   " + json.dumps(raw))
    expected = graph.load(OUTLINE).to_dict()
    assert from_dict.to_dict() == from_json.to_dict() == from_json_ws.to_dict() == expected
    assert from_dict.source is None
    assert from_dict.nodes["describe"].params == {"template": "Shot {n}: {a} ({b})"}
    assert from_dict.edges[0].source == "story.items" and from_dict.edges[0].target == "describe.a"


def test_load_returns_a_workflow_unchanged():
    wf = graph.load(small_wf())
    assert graph.load(wf) is wf


def test_load_round_trips_through_save(tmp_path):
    wf = graph.load(small_wf())
    folder = tmp_path / "saved"
    folder.mkdir()
    target = folder / "saved.json"
    graph.save(wf, target)
    assert graph.load(target).to_dict() == wf.to_dict()
    assert [p.name for p in folder.iterdir()] == ["saved.json"]  # no temp file left


def test_load_errors_are_workflow_errors():
    with pytest.raises(WorkflowError) as e:
        graph.load('{"nodes": {"a": 1,,}}')
    assert e.value.issues[0].code == "json"
    assert "line 1, column" in str(e.value)
    with pytest.raises(WorkflowError) as e:
        graph.load("/definitely/not/here.json")
    assert e.value.issues[0].code == "file"
    with pytest.raises(WorkflowError) as e:
        graph.load({"schema": "reelgraph/workflow", "version": 1, "nodes": {"bad id": {"type": "x.y"}},
                    "surprise": 1})
    assert len(e.value.issues) >= 2


# ---------------------------------------------------------------------------------------------
# validate

def test_validate_valid_workflow_returns_no_issues():
    assert graph.validate(OUTLINE) == []
    assert graph.validate(small_wf()) == []


def test_validate_returns_every_issue_at_once():
    wf = make_workflow({
        "a": ("number.math", {"op": "modulo"}),
        "b": ("nope.node", {}),
        "c": ("text.join", {"colour": "red"}),
    })
    issues = graph.validate(wf)
    assert all(isinstance(i, graph.Issue) for i in issues)
    where = {(i.node, i.field, i.code) for i in issues}
    assert ("a", "op", "bad_value") in where
    assert ("b", "type", "unknown_type") in where
    assert ("c", "colour", "unknown_param") in where
    assert ("c", "items", "missing_input") in where
    assert all(i.fix for i in issues)


def test_validate_names_the_cycle():
    wf = make_workflow({"a": ("number.math", {}), "b": ("number.math", {})},
                       [("a.result", "b.a"), ("b.result", "a.a")])
    issues = graph.validate(wf)
    cycle = [i for i in issues if i.code == "cycle"]
    assert len(cycle) == 1
    assert "a -> b -> a" in cycle[0].message or "b -> a -> b" in cycle[0].message


def test_validate_never_raises_for_bad_input():
    issues = graph.validate('{"oops": ')
    assert len(issues) == 1 and issues[0].code == "json"
    assert graph.validate("[1, 2]")[0].code in ("json", "schema", "file")


# ---------------------------------------------------------------------------------------------
# run

def test_run_returns_outputs_and_values(cache_dir):
    result = graph.run(small_wf(), cache=cache_dir)
    assert result.ok and result.status == "ok"
    assert result.outputs == {"all": {"text": "1: fox; 2: hare"}}
    assert result.value("line.text") == ["1: fox", "2: hare"]
    assert result.ran == ["story", "line", "all"]


def test_run_with_overrides_typed_values(cache_dir):
    result = graph.run(small_wf(), cache=cache_dir,
                       overrides={"story.text": "a,b,c", "story.separator": ",", "all.separator": "+"})
    assert result.ok, result.failures
    assert result.value("all.text") == "1: a+2: b+3: c"
    # overrides do not change the workflow given
    wf = graph.load(small_wf())
    graph.run(wf, cache=cache_dir, overrides={"story.text": "x"})
    assert wf.nodes["story"].params["text"] == "fox\nhare"


def test_run_overrides_of_non_text_params(cache_dir):
    wf = make_workflow({"m": ("number.math", {"a": 2, "b": 3})})
    assert graph.run(wf, cache=cache_dir).value("m.result") == 5.0
    assert graph.run(wf, cache=cache_dir, overrides={"m.op": "power", "m.b": 10}).value("m.result") == 1024.0
    with pytest.raises(WorkflowError) as e:  # a value of the wrong type is a validation error
        graph.run(wf, cache=cache_dir, overrides={"m.b": "ten"})
    assert [(i.node, i.field) for i in e.value.issues] == [("m", "b")]


def test_run_invalid_workflow_raises_before_running(cache_dir):
    events = []
    with pytest.raises(WorkflowError):
        graph.run(make_workflow({"x": ("no.such", {})}), cache=cache_dir, on_event=events.append)
    assert events == []


def test_run_uses_the_cache_across_calls_and_can_skip_it(cache_dir):
    first = graph.run(OUTLINE, cache=cache_dir)
    second = graph.run(OUTLINE, cache=cache_dir)
    assert first.cached == [] and len(first.ran) == 6
    assert second.ran == [] and len(second.cached) == 6
    assert second.outputs == first.outputs
    uncached = graph.run(OUTLINE, cache=False)
    assert len(uncached.ran) == 6 and uncached.outputs == first.outputs


def test_run_only_recomputes_what_an_override_changes(cache_dir):
    graph.run(OUTLINE, cache=cache_dir)
    result = graph.run(OUTLINE, cache=cache_dir, overrides={"style.text": "warm light"})
    assert set(result.ran) == {"style", "describe", "outline", "title"}
    assert set(result.cached) == {"story", "count"}
    assert "(warm light)" in result.value("title.text")


def test_run_on_event_sees_the_whole_run(cache_dir):
    events = []
    result = graph.run(small_wf(), cache=cache_dir, on_event=events.append)
    kinds = [e.event for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert all(k in graph.EVENT_KINDS for k in kinds)
    finished = [e.node for e in events if e.event == "node_finished"]
    assert finished == ["story", "line", "all"]
    assert {e.run_id for e in events} == {result.run_id}
    assert events[-1].data["status"] == "ok"


def test_run_with_explicit_cache_object_leaves_it_open(cache_dir):
    cache = graph.open_cache(cache_dir)
    try:
        graph.run(small_wf(), cache=cache)
        assert cache.count() == 4  # story, two mapped template calls, join
        graph.run(small_wf(), cache=cache)
        assert cache.count() == 4
    finally:
        cache.close()


# ---------------------------------------------------------------------------------------------
# iter_events

def test_iter_events_yields_events_and_returns_result(cache_dir):
    gen = graph.iter_events(small_wf(), cache=cache_dir)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert isinstance(result, graph.RunResult)
    assert result.ok
    assert result.value("all.text") == "1: fox; 2: hare"
    assert [e.event for e in events][0] == "run_started"
    assert events[-1].event == "run_finished"
    assert all(isinstance(e, graph.Event) for e in events)
    assert {e.node for e in events if e.event == "node_finished"} == {"story", "line", "all"}


def test_iter_events_passes_overrides_and_raises_workflow_errors(cache_dir):
    def drain(gen):
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                return stop.value

    result = drain(graph.iter_events(small_wf(), cache=cache_dir, overrides={"story.text": "owl"}))
    assert result.value("all.text") == "1: owl"
    with pytest.raises(WorkflowError):
        drain(graph.iter_events(small_wf(), cache=cache_dir, overrides={"nope.text": "x"}))


def test_iter_events_closed_early_cancels_the_run(registry, cache_dir):
    wf = make_workflow({"slow": ("stub.slow", {"steps": 2000, "step_seconds": 0.01})})
    gen = graph.iter_events(wf, cache=cache_dir, registry=registry)
    for ev in gen:
        if ev.event == "node_progress":
            break
    gen.close()  # returns only once the background run has stopped
    with graph.open_cache(cache_dir) as cache:
        assert cache.count() == 0
        assert list(cache.store.tmp_dir.iterdir()) == []
        assert list(cache.store.objects.rglob("*.*")) == []


# ---------------------------------------------------------------------------------------------
# plan

def test_plan_before_and_after_a_run(cache_dir):
    before = graph.plan(OUTLINE, cache=cache_dir)
    assert [e.node for e in before] == list(graph.compile(OUTLINE).order)
    assert {e.status for e in before} == {"run"}
    graph.run(OUTLINE, cache=cache_dir)
    after = graph.plan(OUTLINE, cache=cache_dir)
    assert {e.status for e in after} == {"cached"}
    describe = next(e for e in after if e.node == "describe")
    assert (describe.calls, describe.cached_calls) == (3, 3)


def test_plan_with_override_marks_only_downstream(cache_dir):
    graph.run(OUTLINE, cache=cache_dir)
    entries = {e.node: e.status for e in graph.plan(OUTLINE, cache=cache_dir,
                                                    overrides={"outline.separator": " / "})}
    assert entries == {"story": "cached", "style": "cached", "count": "cached", "describe": "cached",
                       "outline": "run", "title": "run"}


def test_plan_unchanged_override_is_cached_and_changed_one_runs_downstream(cache_dir):
    graph.run(small_wf(), cache=cache_dir)
    entries = graph.plan(small_wf(), cache=cache_dir, overrides={"story.text": "fox\nhare"})
    assert all(e.status == "cached" for e in entries)
    # story itself changes; without looking ahead everything downstream is unknown until it runs
    entries = {e.node: e.status for e in graph.plan(small_wf(), cache=cache_dir, look_ahead=False,
                                                    overrides={"story.text": "fox\nowl"})}
    assert entries == {"story": "run", "line": "run", "all": "run"}


def test_plan_looks_ahead_through_instant_nodes(cache_dir):
    graph.run(small_wf(), cache=cache_dir)
    # text.split is instant: the plan runs it (without caching it) and sees that only "owl" is new
    entries = {e.node: e for e in graph.plan(small_wf(), cache=cache_dir, overrides={"story.text": "fox\nowl"})}
    assert entries["story"].status == "run"
    assert (entries["line"].status, entries["line"].calls, entries["line"].cached_calls) == ("partial", 2, 1)
    assert entries["all"].status == "run"
    again = {e.node: e.status for e in graph.plan(small_wf(), cache=cache_dir, overrides={"story.text": "fox\nowl"})}
    assert again["story"] == "run", "looking ahead caches nothing"


def test_plan_partial_when_one_mapped_element_changes(cache_dir):
    graph.run(small_wf(), cache=cache_dir)  # caches line("fox") and line("hare")
    # a workflow with the same story node caches story("fox\nowl") without running line
    graph.run(make_workflow({"story": ("text.split", {"text": "fox\nowl"})}), cache=cache_dir)
    entries = {e.node: e for e in graph.plan(small_wf(), cache=cache_dir,
                                             overrides={"story.text": "fox\nowl"})}
    assert entries["story"].status == "cached"
    line = entries["line"]
    assert (line.status, line.calls, line.cached_calls) == ("partial", 2, 1)
    assert entries["all"].status == "run"
    result = graph.run(small_wf(), cache=cache_dir, overrides={"story.text": "fox\nowl"})
    assert result.value("all.text") == "1: fox; 2: owl"


def test_plan_without_cache_runs_everything():
    assert {e.status for e in graph.plan(OUTLINE, cache=False)} == {"run"}


# ---------------------------------------------------------------------------------------------
# apply_overrides

def test_apply_overrides_returns_a_copy():
    wf = graph.load(small_wf())
    new = graph.apply_overrides(wf, {"story.text": "x"})
    assert new is not wf
    assert new.nodes["story"].params["text"] == "x"
    assert wf.nodes["story"].params["text"] == "fox\nhare"
    assert graph.apply_overrides(wf, {}) is wf


def test_apply_overrides_from_text_parses_by_param_type():
    wf = graph.load(make_workflow({
        "m": ("number.math", {}),
        "i": ("number.integer", {}),
        "s": ("text.split", {}),
    }))
    new = graph.apply_overrides(wf, {"m.a": "2.5", "i.value": "42", "s.strip": "false",
                                     "s.skip_empty": "YES", "s.text": "123", "m.op": "max"},
                                from_text=True)
    assert new.nodes["m"].params == {"a": 2.5, "op": "max"}
    assert new.nodes["i"].params == {"value": 42}
    assert new.nodes["s"].params == {"strip": False, "skip_empty": True, "text": "123"}
    assert isinstance(new.nodes["i"].params["value"], int)


def test_apply_overrides_reports_every_error_with_node_and_field():
    wf = graph.load(make_workflow({
        "x": ("number.constant", {"value": 1}),
        "m": ("number.math", {}),
        "i": ("number.integer", {}),
    }, [("x.out", "m.a")]))
    with pytest.raises(WorkflowError) as e:
        graph.apply_overrides(wf, {"nope.value": "1", "m.colour": "red", "m.a": "3", "i.value": "1.5",
                                   "m.b": "many", "dotless": "1"}, from_text=True)
    by_ref = {(i.node, i.field): i for i in e.value.issues}
    assert set(by_ref) == {("nope", "value"), ("m", "colour"), ("m", "a"), ("i", "value"), ("m", "b"),
                           (None, "dotless")}
    assert all(i.code == "override" for i in e.value.issues)
    assert "wired" in by_ref[("m", "a")].message
    assert "Int" in by_ref[("i", "value")].message
    assert "Float" in by_ref[("m", "b")].message
    assert "a, b, op" in by_ref[("m", "colour")].fix


def test_apply_overrides_suggests_close_node_names():
    wf = graph.load(small_wf())
    with pytest.raises(WorkflowError) as e:
        graph.apply_overrides(wf, {"stroy.text": "x"})
    assert "story" in e.value.issues[0].fix


@pytest.mark.parametrize("typ, text, expected", [
    (graph.Int, "7", 7), (graph.Int, "-3", -3), (graph.Float, "1e3", 1000.0), (graph.Float, "2", 2.0),
    (graph.Bool, "on", True), (graph.Bool, "0", False), (graph.Text, "  as is ", "  as is "),
    (graph.List[graph.Int], "[1, 2]", [1, 2]),
])
def test_parse_param_text(typ, text, expected):
    port = graph.Param(typ)
    value = graph.parse_param_text(port, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("typ, text", [(graph.Int, "1.5"), (graph.Int, "x"), (graph.Float, "nanx"),
                                       (graph.Bool, "maybe"), (graph.List[graph.Int], "[1,")])
def test_parse_param_text_rejects(typ, text):
    with pytest.raises(ValueError):
        graph.parse_param_text(graph.Param(typ), text)


# ---------------------------------------------------------------------------------------------
# RunContext.user_path

@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "script.txt").write_text("hello")
    (tmp_path / "outside.txt").write_text("secret")
    return ws


def test_user_path_resolves_inside_workspace(workspace):
    ctx = RunContext.standalone(workspace)
    assert ctx.user_path("sub/script.txt", "file") == (workspace / "sub" / "script.txt").resolve()
    assert ctx.user_path("sub/../sub/script.txt", "file") == (workspace / "sub" / "script.txt").resolve()
    absolute = str((workspace / "sub" / "script.txt").resolve())
    assert ctx.user_path(absolute, "file") == (workspace / "sub" / "script.txt").resolve()
    assert ctx.user_path("new.txt", "file", must_exist=False) == (workspace / "new.txt").resolve()


@pytest.mark.parametrize("value", ["../outside.txt", "sub/../../outside.txt", "/etc/passwd"])
def test_user_path_refuses_escapes(workspace, value):
    ctx = RunContext.standalone(workspace)
    with pytest.raises(NodeError) as e:
        ctx.user_path(value, "script_file")
    assert e.value.field == "script_file"
    assert "outside the workspace" in e.value.message
    with pytest.raises(NodeError):  # even when it need not exist
        ctx.user_path(value, "script_file", must_exist=False)


def test_user_path_refuses_symlink_out_of_workspace(workspace):
    link = workspace / "link.txt"
    try:
        os.symlink(workspace.parent / "outside.txt", link)
    except OSError:
        pytest.skip("cannot create symlinks here")
    with pytest.raises(NodeError) as e:
        RunContext.standalone(workspace).user_path("link.txt", "image")
    assert e.value.field == "image"


def test_user_path_missing_and_empty(workspace):
    ctx = RunContext.standalone(workspace)
    with pytest.raises(NodeError) as e:
        ctx.user_path("sub/nothing.txt", "script_file")
    assert e.value.field == "script_file"
    assert "not found" in e.value.message
    assert "script_file" in str(e.value)
    with pytest.raises(NodeError) as e:
        ctx.user_path("", "script_file")
    assert e.value.field == "script_file"


def test_runs_use_the_workflow_folder_as_workspace(tmp_path, cache_dir):
    seen = {}

    class WhereNode(graph.Node):
        """Report the resolved path of a file param."""

        type = "test.where"
        version = "1.0.0"
        file = graph.Param(graph.Text, default="data.txt")
        out = graph.Output(graph.Text)

        def run(self, ctx, file):
            seen["workspace"] = ctx.workspace
            return ctx.user_path(file, "file").read_text()

    reg = graph.Registry()
    reg.register(WhereNode)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "data.txt").write_text("from the project")
    wf_path = tmp_path / "proj" / "wf.json"
    wf_path.write_text(json.dumps(make_workflow({"w": ("test.where", {})})))
    result = graph.run(wf_path, cache=cache_dir, registry=reg)
    assert result.value("w.out") == "from the project"
    assert seen["workspace"] == (tmp_path / "proj").resolve()
    escaped = graph.run(wf_path, cache=cache_dir, registry=reg, overrides={"w.file": "../wf.json"})
    assert escaped.status == "failed"
    assert [(f.node, f.field) for f in escaped.failures] == [("w", "file")]
