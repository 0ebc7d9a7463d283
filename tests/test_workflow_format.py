"""The workflow JSON format: lossless load/save, the published JSON Schema, migrations of old
format versions and of old node versions, and readable errors for malformed files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from conftest import load_resource, make_workflow, resource
from reelgraph import graph
from reelgraph.graph import Int, Node, Output, Param, Registry, Text, WorkflowError
from reelgraph.graph import workflow as wfmod
from reelgraph.workflows import names as example_names
from reelgraph.workflows import path as example_path
from stubnodes import make_registry

VALID_FIXTURES = ["wf_valid_story.json", "wf_valid_minimal.json", "wf_v0_as_v1.json", "wf_cycle.json",
                  "wf_every_error.json"]  # structurally valid (the last two fail validation, not loading)
SHIPPED = [example_path(n) for n in example_names()]


def test_there_are_shipped_workflows():
    assert SHIPPED and all(p.suffix == ".json" for p in SHIPPED)


# ----------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("src", SHIPPED + [resource(n) for n in VALID_FIXTURES], ids=lambda p: p.name)
def test_save_of_load_is_stable(src, tmp_path):
    first = tmp_path / "first.json"
    second = tmp_path / "second.json"
    wfmod.save(wfmod.load(src), first)
    wfmod.save(wfmod.load(first), second)
    assert first.read_text() == second.read_text()
    # ... and nothing of the original was lost on the way
    original = json.loads(src.read_text())
    saved = json.loads(first.read_text())
    assert saved["nodes"].keys() == original["nodes"].keys()
    for node_id, entry in original["nodes"].items():
        out = saved["nodes"][node_id]
        assert out["type"] == entry["type"]
        assert out["params"] == entry.get("params", {})
        for key in ("version", "title", "meta"):
            if key in entry:
                assert out[key] == entry[key]
        if "position" in entry:
            assert out["position"] == pytest.approx(entry["position"])
    assert saved["edges"] == original["edges"]
    for key in ("name", "description", "meta"):
        if key in original:
            assert saved[key] == original[key]


def test_load_of_save_equals_the_workflow(tmp_path):
    wf = wfmod.from_dict(load_resource("wf_valid_story.json"))
    out = tmp_path / "story.json"
    wfmod.save(wf, out)
    back = wfmod.load(out)
    assert back.model_dump() == wf.model_dump()
    assert back.source == str(out)
    assert wfmod.loads(wf.to_json()) == wf  # same content, both without a source file


def test_layout_titles_meta_and_unicode_are_kept(tmp_path):
    wf = wfmod.load(resource("wf_valid_story.json"))
    story = wf.nodes["story"]
    assert story.title == "Story lines"
    assert story.position == (0, 0)
    assert story.meta == {"color": "#ffaa00", "collapsed": False}
    assert wf.nodes["describe"].position == (320.5, -40)
    assert wf.meta["groups"][0]["nodes"] == ["story", "describe"]
    assert wf.name == "Fox outline ✓"
    out = tmp_path / "x.json"
    wfmod.save(wf, out)
    text = out.read_text(encoding="utf-8")
    assert "Fox outline ✓" in text  # written as UTF-8, not \\u escapes
    assert json.loads(text)["nodes"]["story"]["meta"]["color"] == "#ffaa00"


def test_explicit_nulls_and_nested_params_survive_a_round_trip():
    raw = make_workflow({"n": {"type": "misc.any", "params": {"seed": None, "deep": {"a": [1, {"b": None}]},
                                                            "big": 2 ** 60, "f": 0.1}}})
    wf = wfmod.from_dict(raw)
    again = wfmod.loads(wf.to_json())
    assert again.nodes["n"].params == raw["nodes"]["n"]["params"]


def test_node_order_and_edge_order_are_kept():
    raw = make_workflow({k: ("text.constant", {}) for k in "zyxabc"},
                        [("z.out", "a.x"), ("b.out", "c.y"), ("a.out", "b.z")])
    data = wfmod.from_dict(raw).to_dict()
    assert list(data["nodes"]) == list("zyxabc")
    assert [e["from"] for e in data["edges"]] == ["z.out", "b.out", "a.out"]


def test_defaults_are_filled_in_and_edges_read_both_ways():
    wf = wfmod.from_dict({"nodes": {"a": {"type": "text.constant"}}})
    assert wf.schema_ == "reelgraph/workflow" and wf.version == 1
    assert wf.edges == [] and wf.meta == {} and wf.name == ""
    assert wf.nodes["a"].params == {} and wf.nodes["a"].version is None
    edge = wfmod.Edge(source="n1.out", target="n-2.in_put")
    assert (edge.source_node, edge.source_port, edge.target_node, edge.target_port) == ("n1", "out", "n-2", "in_put")
    assert wfmod.Workflow(nodes={}, edges=[edge]).to_dict()["edges"] == [{"from": "n1.out", "to": "n-2.in_put"}]


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path):
    wf = wfmod.load(resource("wf_valid_story.json"))
    out = tmp_path / "wf.json"
    out.write_text("old content")
    wfmod.save(wf, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.json"]
    assert wfmod.load(out).name == wf.name


def test_copy_with_keeps_the_source_and_is_deep():
    wf = wfmod.load(resource("wf_valid_story.json"))
    copy_ = wf.copy_with(name="renamed")
    assert copy_.name == "renamed" and copy_.source == wf.source
    copy_.nodes["story"].params["text"] = "changed"
    assert wf.nodes["story"].params["text"] != "changed"


def test_api_load_accepts_a_path_a_string_a_dict_and_a_workflow():
    p = resource("wf_valid_story.json")
    from_path = graph.load(p)
    from_str_path = graph.load(str(p))
    from_text = graph.load(p.read_text())
    from_dict = graph.load(json.loads(p.read_text()))
    assert from_path.model_dump() == from_str_path.model_dump() == from_text.model_dump() == from_dict.model_dump()
    assert graph.load(from_path) is from_path


# ----------------------------------------------------------------------------------------------
# JSON Schema


@pytest.fixture(scope="module")
def validator():
    schema = graph.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_identifies_itself():
    schema = graph.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("workflow-1.json")
    assert schema["properties"]["version"]["const"] == 1
    json.dumps(schema)


@pytest.mark.parametrize("src", SHIPPED + [resource(n) for n in VALID_FIXTURES], ids=lambda p: p.name)
def test_schema_accepts_valid_workflows(validator, src):
    data = json.loads(src.read_text())
    errors = list(validator.iter_errors(data))
    assert not errors, [e.message for e in errors]
    # and so does the saved form
    assert not list(validator.iter_errors(wfmod.load(src).to_dict()))


def _malformed() -> list[tuple[str, object]]:
    base = load_resource("wf_valid_story.json")

    def change(fn):
        d = copy.deepcopy(base)
        fn(d)
        return d

    return [
        ("not an object", [1, 2]),
        ("wrong schema name", change(lambda d: d.update(schema="comfy/workflow"))),
        ("newer version", change(lambda d: d.update(version=2))),
        ("string version", change(lambda d: d.update(version="1"))),
        ("nodes as a list", change(lambda d: d.update(nodes=[]))),
        ("unknown top-level field", change(lambda d: d.update(layout={}))),
        ("node id with a space", change(lambda d: d["nodes"].update({"bad id": {"type": "text.constant"}}))),
        ("node id with a dot", change(lambda d: d["nodes"].update({"a.b": {"type": "text.constant"}}))),
        ("node id too long", change(lambda d: d["nodes"].update({"n" * 129: {"type": "text.constant"}}))),
        ("node without type", change(lambda d: d["nodes"]["story"].pop("type"))),
        ("node type not a string", change(lambda d: d["nodes"]["story"].update(type=3))),
        ("positional widgets", change(lambda d: d["nodes"]["story"].update(widgets_values=[1, 2]))),
        ("params as a list", change(lambda d: d["nodes"]["story"].update(params=["a"]))),
        ("position of three", change(lambda d: d["nodes"]["story"].update(position=[1, 2, 3]))),
        ("position of text", change(lambda d: d["nodes"]["story"].update(position=["a", "b"]))),
        ("node is a string", change(lambda d: d["nodes"].update(x="text.constant"))),
        ("edge as a list", change(lambda d: d["edges"].append(["a", "out", "b", "in"]))),
        ("edge without a port", change(lambda d: d["edges"].append({"from": "story", "to": "count.items"}))),
        ("edge with two dots", change(lambda d: d["edges"].append({"from": "a.b.c", "to": "count.items"}))),
        ("edge missing to", change(lambda d: d["edges"].append({"from": "story.items"}))),
        ("edge with extra field", change(lambda d: d["edges"][0].update(label="x"))),
        ("meta not an object", change(lambda d: d.update(meta=[]))),
    ]


@pytest.mark.parametrize("name, data", _malformed(), ids=[n for n, _ in _malformed()])
def test_schema_and_loader_reject_malformed_workflows(validator, name, data):
    assert list(validator.iter_errors(data)), f"schema accepted: {name}"
    with pytest.raises(WorkflowError) as ei:
        wfmod.from_dict(data)
    for issue in ei.value.issues:
        assert issue.fix, issue  # every load problem says what to do


def test_loader_reports_every_shape_problem_at_once():
    with pytest.raises(WorkflowError) as ei:
        wfmod.load(resource("wf_bad_shape.json"))
    err = ei.value
    by_where = {i.where: i for i in err.issues}
    assert len(err.issues) == 7, str(err)
    assert str(err).startswith(f"{resource('wf_bad_shape.json')}: 7 problems:")
    bad_id = by_where["bad id"]
    assert bad_id.node == "bad id" and "node id 'bad id' is invalid" in bad_id.message
    assert "letters, digits, _ and -" in bad_id.fix
    assert by_where["notype.type"].message == "required field is missing" and by_where["notype.type"].fix == "add it"
    assert by_where["extra.widgets"].message == "unknown field" and "params go under" in by_where["extra.widgets"].fix
    assert by_where["badpos.position"].node == "badpos" and by_where["badpos.position"].fix
    assert 'write ports as "node.port"' in by_where["edges[0].from"].fix
    assert by_where["edges[1].label"].message == "unknown field"
    assert by_where["layout"].field == "layout"
    assert {i.code for i in err.issues} == {"schema"}


def test_schema_rejects_what_the_validator_would_call_a_bad_node_id(validator):
    # The ids the loader accepts, the schema accepts too.
    for good in ["a", "A1", "_x", "story-2", "n_1-b"]:
        assert not list(validator.iter_errors(make_workflow({good: ("text.constant",)}))), good
        wfmod.from_dict(make_workflow({good: ("text.constant",)}))
    for bad in ["1a", "-a", "a b", "a.b", "é", ""]:
        assert list(validator.iter_errors(make_workflow({bad: ("text.constant",)}))), bad
        with pytest.raises(WorkflowError):
            wfmod.from_dict(make_workflow({bad: ("text.constant",)}))


# ----------------------------------------------------------------------------------------------
# Format migrations


def test_format_0_migrates_to_the_same_workflow_as_its_v1_equivalent():
    old = wfmod.load(resource("wf_v0.json"))
    new = wfmod.load(resource("wf_v0_as_v1.json"))
    assert old.version == 1
    assert old.model_dump() == new.model_dump()
    assert old.nodes["story"].position == (0, 0)
    assert old.nodes["describe"].version == "1.0.0"
    assert old.edges[0].source == "story.items" and old.edges[0].target == "describe.a"


def test_format_0_with_an_explicit_version_field():
    raw = load_resource("wf_v0.json")
    raw["version"] = 0
    assert wfmod.from_dict(raw).model_dump() == wfmod.load(resource("wf_v0_as_v1.json")).model_dump()


def test_migration_does_not_touch_the_input():
    raw = load_resource("wf_v0.json")
    before = copy.deepcopy(raw)
    wfmod.migrate(raw)
    assert raw == before


def test_a_migrated_workflow_validates_and_runs_like_its_v1_equivalent(tmp_path):
    assert graph.validate(resource("wf_v0.json")) == []
    old = graph.run(resource("wf_v0.json"), cache=tmp_path / "c1")
    new = graph.run(resource("wf_v0_as_v1.json"), cache=tmp_path / "c2")
    assert old.ok and new.ok
    assert old.value("outline.text") == new.value("outline.text") == "Shot 1: A fox / Shot 2: A hare"


def test_a_migrated_workflow_saves_as_the_current_version(tmp_path):
    out = tmp_path / "upgraded.json"
    wfmod.save(wfmod.load(resource("wf_v0.json")), out)
    data = json.loads(out.read_text())
    assert data["version"] == wfmod.FORMAT_VERSION and isinstance(data["nodes"], dict)


@pytest.mark.parametrize("raw, fragment", [
    ({"nodes": [1]}, "TypeError"),
    ({"nodes": [{"type": "text.constant"}]}, "KeyError"),  # no id
    ({"version": 0, "nodes": {"a": {}}}, "ValueError"),
    ({"nodes": [{"id": "a", "type": "x.y"}], "links": [["a", "out"]]}, "not enough values to unpack"),
])
def test_a_malformed_old_file_is_reported_not_crashed_on(raw, fragment):
    with pytest.raises(WorkflowError) as ei:
        wfmod.from_dict(raw)
    (issue,) = ei.value.issues
    assert issue.field == "version" and "cannot migrate this format version 0 workflow" in issue.message
    assert fragment in issue.message and "re-create it in the editor" in issue.fix


def test_a_newer_format_version_gives_a_clear_error():
    with pytest.raises(WorkflowError) as ei:
        wfmod.load(resource("wf_newer_format.json"))
    (issue,) = ei.value.issues
    assert issue.field == "version"
    assert "format version 2, newer than this reelgraph understands (1)" in issue.message
    assert "upgrade reelgraph" in issue.fix
    assert str(ei.value).startswith(str(resource("wf_newer_format.json")))


@pytest.mark.parametrize("version", ["1", 1.0, True, [1]])
def test_a_version_that_is_not_a_whole_number(version):
    raw = make_workflow({})
    raw["version"] = version
    with pytest.raises(WorkflowError) as ei:
        wfmod.from_dict(raw)
    (issue,) = ei.value.issues
    assert issue.field == "version" and "is not a whole number" in issue.message and '"version": 1' in issue.fix


def test_an_unknown_old_version_has_no_migration():
    with pytest.raises(WorkflowError, match="no migration from format version -1"):
        wfmod.from_dict({"version": -1, "nodes": {}})


# ----------------------------------------------------------------------------------------------
# Node-level migrations (Node.upgrade_params)


class ResizeNode(Node):
    """Resize something (version 2 renamed ``size`` to ``width``)."""

    type = "test.resize"
    version = "2.0.0"

    width = Param(Int, default=64, min=1)
    out = Output(Int)

    def run(self, ctx, width):
        return width

    @classmethod
    def upgrade_params(cls, params, from_version):
        params = dict(params)
        if int(from_version.split(".")[0]) < 2 and "size" in params:
            params["width"] = params.pop("size")
        return params


class BrokenUpgradeNode(Node):
    """Its upgrade fails."""

    type = "test.broken_upgrade"
    version = "3.0.0"
    out = Output(Text)

    def run(self, ctx):
        return ""

    @classmethod
    def upgrade_params(cls, params, from_version):
        raise KeyError("mode")


@pytest.fixture
def upgrade_registry() -> Registry:
    reg = make_registry()
    reg.register(ResizeNode, pack="test")
    reg.register(BrokenUpgradeNode, pack="test")
    return reg


def test_a_node_saved_by_an_older_version_has_its_params_upgraded(upgrade_registry, tmp_path):
    raw = make_workflow({"r": {"type": "test.resize", "version": "1.0.0", "params": {"size": 128}}})
    assert graph.validate(raw, upgrade_registry) == []
    compiled = graph.compile(raw, registry=upgrade_registry)
    assert compiled.nodes["r"].params == {"width": 128}
    result = graph.run(raw, registry=upgrade_registry, cache=tmp_path / "c")
    assert result.ok and result.value("r.out") == 128


def test_without_the_upgrade_the_old_param_is_unknown(upgrade_registry):
    for version in ("2.0.0", None, "2.1.0"):  # current, unversioned or a same-major save: no rename
        node = {"type": "test.resize", "params": {"size": 128}}
        if version:
            node["version"] = version
        issues = graph.validate(make_workflow({"r": node}), upgrade_registry)
        assert [(i.node, i.field, i.code) for i in issues] == [("r", "size", "unknown_param")]
        assert "test.resize has no param 'size'" in issues[0].message


def test_an_upgrade_that_fails_is_reported(upgrade_registry):
    raw = make_workflow({"b": {"type": "test.broken_upgrade", "version": "1.0.0"}})
    (issue,) = graph.validate(raw, upgrade_registry)
    assert (issue.node, issue.field, issue.code) == ("b", "version", "version")
    assert "cannot upgrade params from 1.0.0" in issue.message and "re-create this node" in issue.fix


# ----------------------------------------------------------------------------------------------
# Unreadable files


def test_malformed_json_gives_line_and_column():
    with pytest.raises(WorkflowError) as ei:
        wfmod.load(resource("wf_invalid_json.json"))
    (issue,) = ei.value.issues
    assert issue.code == "json"
    assert "invalid JSON at line 5, column 35" in issue.message
    assert issue.fix == "fix the JSON syntax there"
    assert str(ei.value).startswith(str(resource("wf_invalid_json.json")) + ": ")
    assert ei.value.source == str(resource("wf_invalid_json.json"))


@pytest.mark.parametrize("text, line, col", [
    ("", 1, 1), ("{", 1, 2), ('{"nodes": {}\n,\n}', 3, 1), ('{\n\n  "a": tru\n}', 3, 8),
])
def test_malformed_json_strings(text, line, col):
    with pytest.raises(WorkflowError) as ei:
        wfmod.loads(text)
    assert f"line {line}, column {col}" in str(ei.value)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"v": ' + "9" * 5000 + "}"])
def test_absurd_json_is_a_workflow_error(text):
    with pytest.raises(WorkflowError) as ei:
        wfmod.loads(text)
    assert ei.value.issues[0].code == "json" and ei.value.issues[0].fix


@pytest.mark.parametrize("text", ["[]", "3", '"text"', "null"])
def test_a_json_value_that_is_not_an_object(text):
    with pytest.raises(WorkflowError) as ei:
        wfmod.loads(text)
    (issue,) = ei.value.issues
    assert "a workflow is a JSON object" in issue.message and '"schema": "reelgraph/workflow"' in issue.fix


def test_a_missing_file(tmp_path):
    with pytest.raises(WorkflowError) as ei:
        wfmod.load(tmp_path / "nope.json")
    assert ei.value.issues[0].code == "file" and "no such file" in str(ei.value)


def test_a_file_that_is_not_utf8(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"name": "\xe9t\xe9"}')
    with pytest.raises(WorkflowError, match="cannot read") as ei:
        wfmod.load(p)
    assert ei.value.issues[0].code == "file" and ei.value.issues[0].fix


@pytest.mark.parametrize("bad", ["a\x00b.json", "."])
def test_a_path_that_cannot_be_read(bad):
    with pytest.raises(WorkflowError) as ei:
        wfmod.load(bad)
    assert ei.value.issues[0].code == "file" and "cannot read" in ei.value.issues[0].message
    assert graph.validate(bad)[0].code == "file"


def test_api_validate_returns_load_problems_as_issues(tmp_path):
    issues = graph.validate(resource("wf_invalid_json.json"))
    assert len(issues) == 1 and issues[0].code == "json"
    assert graph.validate(str(tmp_path / "missing.json"))[0].code == "file"
    assert graph.validate({"version": 9})[0].field == "version"


def test_resources_are_readable_paths():
    assert isinstance(resource("wf_v0.json"), Path) and resource("wf_v0.json").is_file()


def test_saving_a_workflow_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    wf = graph.load({"schema": "reelgraph/workflow", "version": 1, "name": "linked", "nodes": {}, "edges": []})
    graph.save(wf, link)
    assert link.is_symlink()
    assert graph.load(target).name == "linked"
