"""Validation before anything runs: every error names the node id, the field and a fix, and all of
them are reported at once. Also: typed links, mapping and type variables in the compiled graph."""

from __future__ import annotations

import re

import pytest
from conftest import load_resource, make_workflow, resource
from reelgraph import graph
from reelgraph.graph import Int, List, Node, Output, Param, Text, WorkflowError, compile_workflow
from reelgraph.graph import workflow as wfmod
from reelgraph.graph.validate import Link


class NeedsSeedNode(Node):
    """Needs a seed: the param has no default."""

    type = "test.needs_seed"
    seed = Param(Int, min=0)
    out = Output(Int)

    def run(self, ctx, seed):
        return seed


@pytest.fixture
def reg(registry):
    registry.register(NeedsSeedNode, pack="test")
    return registry


def only(raw, reg, code):
    """The single issue of a workflow (and check it is complete: node, message and fix)."""
    issues = graph.validate(raw if isinstance(raw, wfmod.Workflow) else wfmod.from_dict(raw), reg)
    assert len(issues) == 1, [str(i) for i in issues]
    (issue,) = issues
    assert issue.code == code, str(issue)
    assert issue.node and issue.message and issue.fix, str(issue)
    return issue


def compiled(raw, reg):
    return compile_workflow(wfmod.from_dict(raw), reg)


# ----------------------------------------------------------------------------------------------
# A valid workflow


def test_a_valid_workflow_has_no_issues_and_compiles(reg):
    raw = load_resource("wf_valid_story.json")
    assert graph.validate(raw, reg) == []
    g = compiled(raw, reg)
    assert set(g.nodes) == {"story", "describe", "outline", "count"}
    assert g.order.index("story") < g.order.index("describe") < g.order.index("outline")
    assert g.order.index("story") < g.order.index("count")
    assert set(g.outputs()) == {"outline", "count"}  # the sinks (no node is flagged output)
    assert g.downstream("story") == {"describe", "outline", "count"}
    assert g.nodes["story"].params == {"text": "A fox at dawn\nA hare at dusk", "separator": "",
                                       "skip_empty": True, "strip": True}  # defaults filled in


def test_params_are_converted_to_their_types(reg):
    g = compiled(make_workflow({"n": ("stub.numbers", {"count": 4.0, "start": -2}),
                                "m": ("number.math", {"a": 1, "b": 2})}), reg)
    assert g.nodes["n"].params == {"start": -2, "count": 4} and isinstance(g.nodes["n"].params["count"], int)
    assert g.nodes["m"].params == {"a": 1.0, "b": 2.0, "op": "add"} and isinstance(g.nodes["m"].params["a"], float)


def test_the_shipped_example_is_valid_with_the_default_registry():
    from reelgraph.workflows import names, path
    for name in names():
        assert graph.validate(path(name)) == [], name


# ----------------------------------------------------------------------------------------------
# Each error on its own


def test_unknown_node_type_with_did_you_mean(reg):
    issue = only(make_workflow({"j": ("text.joinn",)}), reg, "unknown_type")
    assert (issue.node, issue.field) == ("j", "type")
    assert issue.message == "unknown node type 'text.joinn'" and issue.fix == "did you mean 'text.join'?"
    assert str(issue) == "j.type: unknown node type 'text.joinn' — did you mean 'text.join'?"


def test_unknown_node_type_without_a_close_match(reg):
    issue = only(make_workflow({"x": ("zzz.qqqqq",)}), reg, "unknown_type")
    assert "install the node pack that provides it" in issue.fix and "reelgraph nodes" in issue.fix


def test_edges_of_an_unknown_node_are_not_reported_twice(reg):
    raw = make_workflow({"j": ("text.joinn",), "s": ("text.split",)}, [("s.items", "j.items")])
    assert [i.code for i in graph.validate(raw, reg)] == ["unknown_type"]


def test_unknown_output_port(reg):
    raw = make_workflow({"s": ("text.split",), "t": ("text.template",)}, [("s.itemz", "t.a")])
    issue = only(raw, reg, "unknown_port")
    assert (issue.node, issue.field) == ("s", "itemz")
    assert "text.split has no output 'itemz'" in issue.message and issue.fix == "did you mean 'items'?"


def test_unknown_input_port(reg):
    raw = make_workflow({"s": ("text.split",), "t": ("text.template",)}, [("s.items", "t.zz")])
    issue = only(raw, reg, "unknown_port")
    assert (issue.node, issue.field) == ("t", "zz")
    assert "text.template has no input 'zz'" in issue.message and issue.fix == "its inputs are: a, b, c, d"


def test_unknown_input_on_a_node_without_inputs(reg):
    raw = make_workflow({"s": ("text.split",), "c": ("number.integer",)}, [("s.items", "c.nothing")])
    issue = only(raw, reg, "unknown_port")
    assert issue.fix == "it has no inputs"


def test_a_widget_only_param_cannot_be_wired(reg):
    raw = make_workflow({"s": ("text.split",), "c": ("text.constant",)}, [("s.items", "c.text")])
    issue = only(raw, reg, "unknown_port")
    assert (issue.node, issue.field) == ("c", "text")
    assert issue.message == "param 'text' cannot be wired" and issue.fix == "set its value in params instead"


def test_unknown_param(reg):
    issue = only(make_workflow({"c": ("text.constant", {"txt": "x"})}), reg, "unknown_param")
    assert (issue.node, issue.field) == ("c", "txt")
    assert issue.message == "text.constant has no param 'txt'" and issue.fix == "did you mean 'text'?"
    other = only(make_workflow({"c": ("stub.numbers", {"zzzzz": 1})}), reg, "unknown_param")
    assert other.fix == "its params are: start, count"
    none = only(make_workflow({"s": ("stub.sum", {"x": 1}), "n": ("stub.numbers",)}, [("n.items", "s.items")]),
                reg, "unknown_param")
    assert none.fix == "it has no params"


@pytest.mark.parametrize("node, params, field, message, fix", [
    ("stub.numbers", {"count": "three"}, "count", "expected Int, got str 'three'", "give an Int between 0 and inf"),
    ("stub.numbers", {"count": 2.5}, "count", "expected Int, got float 2.5", "give an Int between 0 and inf"),
    ("stub.numbers", {"count": None}, "count", "expected Int, got NoneType None", "give an Int between 0 and inf"),
    ("stub.numbers", {"count": -1}, "count", "-1 is below the minimum 0", "give an Int between 0 and inf"),
    ("stub.add", {"b": 5000}, "b", "5000 is above the maximum 1000", "give an Int between -1000 and 1000"),
    ("stub.add", {"b": -1001}, "b", "-1001 is below the minimum -1000", "give an Int between -1000 and 1000"),
    ("number.math", {"op": "modulo"}, "op", "'modulo' is not one of 'add', 'subtract'",
     "choose one of: add, subtract, multiply, divide, min, max, power"),
    ("number.math", {"a": "1"}, "a", "expected Float, got str '1'", "give a Float value"),
    ("number.math", {"a": float("inf")}, "a", "expected a finite number", "give a Float value"),
    ("text.split", {"strip": "yes"}, "strip", "expected Bool, got str 'yes'", "give a Bool value"),
    ("text.split", {"text": ["a", "b"]}, "text", "expected Text, got list", "give a Text value"),
])
def test_bad_values(reg, node, params, field, message, fix):
    nodes = {"x": (node, params)}
    edges = []
    if node == "stub.add":
        nodes["one"] = ("number.integer", {"value": 1})
        edges = [("one.out", "x.a")]
    issue = only(make_workflow(nodes, edges), reg, "bad_value")
    assert (issue.node, issue.field) == ("x", field)
    assert message in issue.message and issue.fix == fix


def test_none_is_fine_for_a_param_whose_default_is_none(reg):
    class OptionalSeedNode(Node):
        """Seed or None."""

        type = "test.optional_seed"
        seed = Param(Int, default=None)
        out = Output(Int)

        def run(self, ctx, seed):
            return seed or 0

    reg.register(OptionalSeedNode)
    g = compiled(make_workflow({"o": ("test.optional_seed", {"seed": None})}), reg)
    assert g.nodes["o"].params == {"seed": None}
    assert compiled(make_workflow({"o": ("test.optional_seed", {"seed": 4})}), reg).nodes["o"].params == {"seed": 4}


def test_missing_required_input(reg):
    issue = only(make_workflow({"j": ("text.join",)}), reg, "missing_input")
    assert (issue.node, issue.field) == ("j", "items")
    assert issue.message == "required input (List[Text]) is not connected"
    assert issue.fix == "wire a List[Text] output into j.items"


def test_optional_inputs_may_stay_unwired(reg):
    assert graph.validate(make_workflow({"t": ("text.template", {"template": "x"})}), reg) == []


def test_missing_required_param(reg):
    issue = only(make_workflow({"n": ("test.needs_seed",)}), reg, "missing_param")
    assert (issue.node, issue.field) == ("n", "seed")
    assert issue.message == "required param is not set"
    assert "set it in params" in issue.fix and "wire a Int into it" in issue.fix
    assert "--set n.seed=VALUE" in issue.fix


def test_a_required_param_can_be_set_or_wired(reg):
    assert graph.validate(make_workflow({"n": ("test.needs_seed", {"seed": 3})}), reg) == []
    raw = make_workflow({"i": ("number.integer", {"value": 3}), "n": ("test.needs_seed",)}, [("i.out", "n.seed")])
    assert graph.validate(raw, reg) == []


def test_two_edges_into_one_input(reg):
    raw = make_workflow({"a": ("stub.numbers",), "b": ("stub.numbers",), "s": ("stub.sum",)},
                        [("a.items", "s.items"), ("b.items", "s.items")])
    issue = only(raw, reg, "two_edges")
    assert (issue.node, issue.field) == ("s", "items")
    assert issue.message == "2 edges lead into this input (from a.items, b.items)"
    assert issue.fix == "an input takes one edge: remove all but one"


def test_two_edges_into_one_param(reg):
    raw = make_workflow({"a": ("number.integer",), "b": ("number.integer",), "n": ("test.needs_seed",)},
                        [("a.out", "n.seed"), ("b.out", "n.seed")])
    issue = only(raw, reg, "two_edges")
    assert (issue.node, issue.field) == ("n", "seed")


@pytest.mark.parametrize("src, src_port, dst, dst_port, expects, gives", [
    ("text.split", "items", "stub.sum", "items", "List[Int]", "List[Text]"),
    ("number.constant", "out", "stub.add", "a", "Int", "Float"),
    ("text.constant", "out", "stub.add", "a", "Int", "Text"),
    ("text.constant", "out", "text.join", "items", "List[Text]", "Text"),
    ("stub.make_image", "image", "text.template", "a", "Text", "Image"),
    ("text.constant", "out", "stub.image_size", "image", "Image", "Text"),
    ("text.constant", "out", "list.length", "items", "List[Any]", "Text"),
])
def test_type_mismatch(reg, src, src_port, dst, dst_port, expects, gives):
    nodes = {"src": (src,), "dst": (dst,)}
    issue = only(make_workflow(nodes, [(f"src.{src_port}", f"dst.{dst_port}")]), reg, "type_mismatch")
    assert (issue.node, issue.field) == ("dst", dst_port)
    assert issue.message == f"expects {expects}, but src.{src_port} gives {gives}"
    assert issue.fix == f"wire a {expects} output here, or convert src.{src_port} first"


def test_coercions_are_not_mismatches(reg):
    raw = make_workflow({"i": ("number.integer",), "m": ("number.math",), "t": ("text.template",)},
                        [("i.out", "m.a"), ("m.result", "t.a"), ("i.out", "t.b")])
    g = compiled(raw, reg)
    assert g.nodes["m"].links["a"] == Link("i", "out", "m", "a", "direct")
    assert g.nodes["t"].links["a"].mode == "direct" and not g.nodes["t"].maps


def _cycle_nodes(message: str) -> list[str]:
    m = re.fullmatch(r"cycle: (.+)", message)
    assert m, message
    path = m.group(1).split(" -> ")
    assert path[0] == path[-1], message  # it closes
    return path


def test_cycle_names_the_path(reg):
    (issue,) = graph.validate(resource("wf_cycle.json"), reg)
    assert issue.code == "cycle" and issue.fix == "a workflow must flow one way: remove one of these edges"
    path = _cycle_nodes(issue.message)
    assert issue.message == "cycle: a -> b -> c -> a"  # in workflow order: always the same message
    assert issue.node == path[0]
    assert str(issue) == "a: cycle: a -> b -> c -> a — a workflow must flow one way: remove one of these edges"


def test_each_cycle_is_reported(reg):
    raw = make_workflow({k: ("text.template",) for k in ["a", "b", "x", "y", "z", "ok"]},
                        [("a.text", "b.a"), ("b.text", "a.a"),
                         ("x.text", "y.a"), ("y.text", "z.a"), ("z.text", "x.a"), ("z.text", "ok.a")])
    issues = graph.validate(raw, reg)
    assert [i.code for i in issues] == ["cycle", "cycle"]
    assert sorted(sorted(set(_cycle_nodes(i.message))) for i in issues) == [["a", "b"], ["x", "y", "z"]]


def test_a_cycle_does_not_hide_type_errors_elsewhere(reg):
    raw = load_resource("wf_cycle.json")
    raw["nodes"]["s"] = {"type": "stub.sum"}
    raw["nodes"]["t"] = {"type": "text.split"}
    raw["edges"].append({"from": "t.items", "to": "s.items"})
    codes = sorted(i.code for i in graph.validate(raw, reg))
    assert codes == ["cycle", "type_mismatch"]


def test_dangling_edge_from_a_missing_node(reg):
    raw = make_workflow({"t": ("text.template", {"template": "x"})}, [("ghost.out", "t.a")])
    issue = only(raw, reg, "dangling_edge")
    # The issue points at the end the user can see: the input the edge leads into.
    assert (issue.node, issue.field) == ("t", "a")
    assert issue.message == "edge 0 (ghost.out -> t.a): there is no node 'ghost'"
    assert issue.fix == "remove the edge or add node 'ghost'"


def test_dangling_edge_to_a_missing_node(reg):
    raw = make_workflow({"c": ("text.constant",)}, [("c.out", "nowhere.a")])
    issue = only(raw, reg, "dangling_edge")
    assert (issue.node, issue.field) == ("c", "out")
    assert "edge 0 (c.out -> nowhere.a)" in issue.message and "no node 'nowhere'" in issue.message


def test_dangling_edge_to_a_required_input_also_says_the_input_is_unwired(reg):
    raw = make_workflow({"j": ("text.join",)}, [("ghost.items", "j.items")])
    assert sorted(i.code for i in graph.validate(raw, reg)) == ["dangling_edge", "missing_input"]


def test_self_loop(reg):
    raw = make_workflow({"t": ("text.template",)}, [("t.text", "t.a")])
    issue = only(raw, reg, "cycle")
    assert (issue.node, issue.field) == ("t", "a")
    assert issue.message == "edge t.text -> t.a connects the node to itself" and issue.fix == "remove the edge"


@pytest.mark.parametrize("bad_id", ["bad id", "a.b", "1abc", "-x", "n" * 129, "ü"])
def test_invalid_node_id(reg, bad_id):
    raw = make_workflow({bad_id: ("text.constant",)})
    issues = graph.validate(raw, reg)  # graph.validate takes the dict: load errors come back as issues
    assert len(issues) == 1, issues
    (issue,) = issues
    assert issue.node == bad_id and issue.code == "schema"
    if len(bad_id) <= 128:
        assert issue.message == f"node id {bad_id!r} is invalid"
        assert issue.fix == "use letters, digits, _ and - (no dots or spaces), starting with a letter"
    else:
        assert issue.fix


def test_a_node_saved_with_a_newer_major_version(reg):
    issue = only(make_workflow({"c": {"type": "text.constant", "version": "2.0.0"}}), reg, "version")
    assert (issue.node, issue.field) == ("c", "version")
    assert issue.message == "saved with text.constant 2.0.0, but 1.0.0 is installed"
    assert issue.fix == "upgrade the pack that provides text.constant"


def test_newer_minor_and_older_versions_are_accepted(reg):
    for version in ("1.3.0", "1.0.1", "0.9.0", "1.0.0"):
        assert graph.validate(make_workflow({"c": {"type": "text.constant", "version": version}}), reg) == [], version


def test_a_version_that_is_not_semver(reg):
    issue = only(make_workflow({"c": {"type": "text.constant", "version": "one"}}), reg, "bad_value")
    assert (issue.node, issue.field) == ("c", "version") and issue.fix == 'write "1.0.0"'


# ----------------------------------------------------------------------------------------------
# All at once


EXPECTED_EVERY_ERROR = {
    ("unknown_type", "typo", "type"),
    ("version", "future", "version"),
    ("bad_value", "oldv", "version"),
    ("unknown_port", "story", "itemz"),
    ("unknown_port", "tmpl", "e"),
    ("dangling_edge", "tmpl", "b"),
    ("cycle", "loop", "a"),
    ("unknown_port", "fixed", "text"),
    ("two_edges", "sum", "items"),
    ("unknown_param", "consts", "txt"),
    ("bad_value", "count_bad", "count"),
    ("bad_value", "count_low", "count"),
    ("bad_value", "math", "op"),
    ("missing_param", "needs", "seed"),
    ("missing_input", "join", "items"),
    ("cycle", "c1", None),
    ("type_mismatch", "sum2", "items"),
}


def test_every_error_is_reported_at_once(reg):
    path = resource("wf_every_error.json")
    with pytest.raises(WorkflowError) as ei:
        graph.compile(path, registry=reg)
    err = ei.value
    got = {(i.code, i.node, i.field) for i in err.issues}
    assert got == EXPECTED_EVERY_ERROR
    assert len(err.issues) == len(EXPECTED_EVERY_ERROR)
    for issue in err.issues:
        assert issue.node and issue.message and issue.fix, issue
        assert str(issue).startswith(issue.where + ": ") and f" — {issue.fix}" in str(issue)
    text = str(err)
    assert text.startswith(f"{path}: {len(EXPECTED_EVERY_ERROR)} problems:\n")
    for line in ["typo.type: unknown node type 'text.joinn' — did you mean 'text.join'?",
                 "c1: cycle: c1 -> c2 -> c3 -> c1",
                 "sum2.items: expects List[Int], but story.items gives List[Text]",
                 "needs.seed: required param is not set",
                 "math.op: 'modulo' is not one of"]:
        assert line in text, line
    # the API's validate returns the same issues instead of raising
    assert [i.to_dict() for i in graph.validate(path, reg)] == [i.to_dict() for i in err.issues]


def test_several_problems_in_one_node_are_all_reported(reg):
    raw = make_workflow({"a": ("stub.add", {"b": 5000, "c": 1})})
    got = {(i.code, i.field) for i in graph.validate(raw, reg)}
    assert got == {("bad_value", "b"), ("unknown_param", "c"), ("missing_input", "a")}


def test_issue_to_dict(reg):
    (issue,) = graph.validate(make_workflow({"j": ("text.join",)}), reg)
    assert issue.to_dict() == {"node": "j", "field": "items", "message": "required input (List[Text]) is not connected",
                               "fix": "wire a List[Text] output into j.items", "code": "missing_input"}


# ----------------------------------------------------------------------------------------------
# Wired params, mapping, type variables


def test_a_wired_param_is_not_checked_at_validation(reg):
    # b is set to junk but also wired: the wire wins, its value is checked when the node runs.
    raw = make_workflow({"one": ("number.integer", {"value": 1}), "big": ("number.integer", {"value": 5000}),
                         "add": ("stub.add", {"b": "junk"})},
                        [("one.out", "add.a"), ("big.out", "add.b")])
    g = compiled(raw, reg)
    assert "b" not in g.nodes["add"].params
    assert g.nodes["add"].links["b"] == Link("big", "out", "add", "b", "direct")


def test_a_wired_param_is_checked_at_run_time(reg, tmp_path):
    raw = make_workflow({"one": ("number.integer", {"value": 1}), "big": ("number.integer", {"value": 5000}),
                         "add": ("stub.add",)},
                        [("one.out", "add.a"), ("big.out", "add.b")])
    result = graph.run(raw, registry=reg, cache=tmp_path / "c")
    assert not result.ok
    (failure,) = result.failures
    assert failure.node == "add" and failure.field == "b"
    assert "5000 is above the maximum 1000" in failure.message


def test_mapping_is_inferred(reg):
    raw = make_workflow({"split": ("text.split", {"text": "a\nb"}),
                         "tmpl": ("text.template", {"template": "<{a}>"}),
                         "join": ("text.join",),
                         "again": ("text.template", {"template": "[{a}]"})},
                        [("split.items", "tmpl.a"), ("tmpl.text", "join.items"), ("tmpl.text", "again.a")])
    g = compiled(raw, reg)
    tmpl = g.nodes["tmpl"]
    assert tmpl.maps and tmpl.links["a"].mode == "map"
    assert tmpl.out_types == {"text": List[Text]}  # outputs become lists
    assert tmpl.in_types["a"] == Text
    join = g.nodes["join"]
    assert not join.maps and join.links["items"].mode == "direct"  # a list input takes the list whole
    assert join.out_types == {"text": Text}
    again = g.nodes["again"]
    assert again.maps and again.out_types == {"text": List[Text]}
    assert not g.nodes["split"].maps and g.nodes["split"].out_types == {"items": List[Text]}


def test_mapping_with_coercion_and_over_numbers(reg):
    raw = make_workflow({"n": ("stub.numbers",), "add": ("stub.add", {"b": 1}), "math": ("number.math",),
                         "sum": ("stub.sum",)},
                        [("n.items", "add.a"), ("n.items", "math.a"), ("add.total", "sum.items")])
    g = compiled(raw, reg)
    assert g.nodes["add"].maps and g.nodes["add"].out_types == {"total": List[Int]}
    assert g.nodes["math"].maps and g.nodes["math"].links["a"].mode == "map"  # List[Int] -> Float
    assert g.nodes["math"].out_types["result"] == List[graph.Float]
    assert not g.nodes["sum"].maps  # List[Int] into List[Int]: whole


def test_list_pick_output_follows_its_input(reg):
    raw = make_workflow({"words": ("text.split", {"text": "a b", "separator": " "}), "n": ("stub.numbers",),
                         "pick_text": ("list.pick",), "pick_int": ("list.pick", {"index": -1}),
                         "add": ("stub.add",), "tmpl": ("text.template",)},
                        [("words.items", "pick_text.items"), ("n.items", "pick_int.items"),
                         ("pick_int.item", "add.a"), ("pick_text.item", "tmpl.a")])
    g = compiled(raw, reg)
    assert g.nodes["pick_text"].out_types == {"item": Text}
    assert g.nodes["pick_text"].in_types["items"] == List[Text]
    assert g.nodes["pick_int"].out_types == {"item": Int}
    assert not g.nodes["pick_text"].maps  # List[T] takes the list whole, no mapping


def test_a_type_variable_carries_a_mismatch_downstream(reg):
    raw = make_workflow({"words": ("text.split",), "pick": ("list.pick",), "add": ("stub.add",)},
                        [("words.items", "pick.items"), ("pick.item", "add.a")])
    issue = only(raw, reg, "type_mismatch")
    assert (issue.node, issue.field) == ("add", "a")
    assert issue.message == "expects Int, but pick.item gives Text"


def test_list_build_collects_its_items_type(reg):
    raw = make_workflow({"a": ("number.integer",), "b": ("number.integer",), "build": ("list.build",),
                         "sum": ("stub.sum",), "nested": ("list.build",)},
                        [("a.out", "build.item_1"), ("b.out", "build.item_2"), ("build.items", "sum.items"),
                         ("build.items", "nested.item_1")])
    g = compiled(raw, reg)
    assert g.nodes["build"].out_types == {"items": List[Int]}
    assert g.nodes["nested"].out_types == {"items": List[List[Int]]}  # a direct fit wins over mapping
    assert not g.nodes["nested"].maps


def test_an_unbound_type_variable_is_any(reg):
    g = compiled(make_workflow({"build": ("list.build",)}), reg)
    assert g.nodes["build"].out_types == {"items": List[graph.Any]}


def test_a_scalar_into_a_type_variable_list_is_a_mismatch(reg):
    raw = make_workflow({"c": ("text.constant",), "pick": ("list.pick",)}, [("c.out", "pick.items")])
    issue = only(raw, reg, "type_mismatch")
    assert issue.message == "expects List[Any], but c.out gives Text"


def test_validation_uses_the_default_registry_when_none_is_given():
    assert graph.validate(make_workflow({"c": ("text.constant",)})) == []
    assert graph.validate(make_workflow({"c": ("stub.numbers",)}))[0].code == "unknown_type"
