"""Validation as named passes, and ``graph.load`` / ``graph.validate`` on things that are not workflows.

``compile_workflow`` runs small passes in order over a shared ``_Compilation`` (see the module
docstring of ``graph/validate.py``). Each pass is tested here on its own: what it reports and what it
records for the passes after it. The messages themselves are pinned by tests/test_validation.py.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import Int, List, WorkflowError
from reelgraph.graph import workflow as wfmod

# ``graph.validate`` is also the name of the API function, so reach the module itself
vmod = importlib.import_module("reelgraph.graph.validate")

# ----------------------------------------------------------------------------------------------
# graph.load / graph.validate on inputs that are not workflows


NOT_WORKFLOWS = [
    pytest.param([], "list", id="empty-list"),
    pytest.param([1, 2], "list", id="list"),
    pytest.param(None, "None", id="None"),
    pytest.param(42, "int", id="int"),
    pytest.param(3.5, "float", id="float"),
    pytest.param(True, "bool", id="bool"),
    pytest.param(b'{"nodes": {}}', "bytes", id="bytes"),
    pytest.param(bytearray(b"x"), "bytearray", id="bytearray"),
    pytest.param({1, 2}, "set", id="set"),
    pytest.param(object(), "object", id="object"),
    pytest.param("", "empty string", id="empty-string"),
    pytest.param("   \n", "empty string", id="blank-string"),
]


@pytest.mark.parametrize("given, named", NOT_WORKFLOWS)
def test_validate_of_something_that_is_not_a_workflow_returns_one_issue(given, named):
    issues = graph.validate(given)
    assert len(issues) == 1, [str(i) for i in issues]
    (issue,) = issues
    assert named in issue.message  # says what was given
    assert "file path" in issue.fix and "dict" in issue.fix  # and what is expected


@pytest.mark.parametrize("given, named", NOT_WORKFLOWS)
def test_load_of_something_that_is_not_a_workflow_raises_a_workflow_error(given, named):
    with pytest.raises(WorkflowError) as e:
        graph.load(given)
    assert named in str(e.value) and "give a file path, JSON text, a dict or a Workflow" in str(e.value)


def test_bytes_are_told_to_be_decoded():
    (issue,) = graph.validate(b'{"nodes": {}}')
    assert ".decode(" in issue.fix


def test_json_text_and_paths_still_load(tmp_path):
    raw = make_workflow({"a": ("text.constant", {"text": "hi"})})
    path = tmp_path / "wf.json"
    wfmod.save(wfmod.from_dict(raw), path)
    assert graph.validate(raw) == graph.validate(path) == graph.validate(str(path)) == []
    assert graph.validate(path.read_text()) == []


# ----------------------------------------------------------------------------------------------
# The passes, one at a time


def compilation(reg, nodes: dict, edges=()) -> vmod._Compilation:
    return vmod._Compilation(wfmod.from_dict(make_workflow(nodes, list(edges))), reg)


def codes(c: vmod._Compilation) -> list[tuple[str | None, str | None, str]]:
    return [(i.node, i.field, i.code) for i in c.issues]


def test_resolve_node_types_keeps_usable_nodes_and_reports_the_others(registry):
    c = compilation(registry, {
        "ok": ("stub.add", {"b": 1}),
        "typo": ("stub.ad", {}),
        "future": {"type": "stub.add", "version": "9.0.0"},
        "odd": {"type": "stub.add", "version": "x"},
    })
    vmod._resolve_node_types(c)
    assert codes(c) == [("typo", "type", "unknown_type"), ("future", "version", "version"),
                        ("odd", "version", "bad_value")]
    assert "did you mean 'stub.add'?" in c.issues[0].fix
    assert set(c.nodes) == {"ok", "odd"}  # a non-semver version is reported, the node still checked
    assert c.nodes["ok"].params == {"b": 1}  # as saved: values are checked by a later pass


def test_check_edges_records_good_edges_and_reports_bad_ends(registry):
    c = compilation(registry, {
        "n": ("stub.numbers", {}), "s": ("stub.sum", {}), "x": ("nope.type", {}),
    }, [("n.items", "s.items"), ("n.items", "ghost.a"), ("n.nope", "s.items"), ("n.items", "x.a"),
        ("s.total", "s.items")])
    vmod._resolve_node_types(c)
    c.issues.clear()
    vmod._check_edges(c)
    assert codes(c) == [("n", "items", "dangling_edge"), ("n", "nope", "unknown_port"),
                        ("s", "items", "cycle")]
    assert "there is no node 'ghost'" in c.issues[0].message  # named from the end that exists
    assert c.incoming == {("s", "items"): ["n.items"]}
    assert set(c.dag.edges) == {("n", "s")}
    assert set(c.dag.nodes) == {"n", "s", "x"}


def test_check_edges_says_a_param_cannot_be_wired(registry):
    c = compilation(registry, {"n": ("stub.ints", {}), "t": ("text.constant", {})},
                    [("n.items", "t.text")])
    vmod._resolve_node_types(c)
    vmod._check_edges(c)
    (issue,) = c.issues
    assert issue.message == "param 'text' cannot be wired" and issue.code == "unknown_port"


def test_check_one_edge_per_input(registry):
    c = compilation(registry, {"a": ("stub.numbers", {}), "b": ("stub.numbers", {}), "s": ("stub.sum", {})},
                    [("a.items", "s.items"), ("b.items", "s.items")])
    vmod._resolve_node_types(c)
    vmod._check_edges(c)
    vmod._check_one_edge_per_input(c)
    (issue,) = c.issues
    assert (issue.node, issue.field, issue.code) == ("s", "items", "two_edges")
    assert "from a.items, b.items" in issue.message


def test_check_params_and_inputs_reports_each_nodes_problems_together(registry):
    c = compilation(registry, {
        "a": ("stub.add", {"b": 5000, "colour": "red"}),
        "n": ("stub.numbers", {"count": 2}),
        "s": ("stub.sum", {}),
    })
    vmod._resolve_node_types(c)
    vmod._check_params_and_inputs(c)
    assert codes(c) == [("a", "colour", "unknown_param"), ("a", "b", "bad_value"),
                        ("a", "a", "missing_input"), ("s", "items", "missing_input")]
    assert c.nodes["n"].params == {"start": 0, "count": 2}  # checked values, defaults filled in


def test_a_wired_param_takes_no_value_from_params(registry):
    c = compilation(registry, {"n": ("number.integer", {}), "l": ("stub.numbers", {}),
                               "p": ("list.pick", {"index": 1})},
                    [("n.out", "p.index"), ("l.items", "p.items")])
    vmod._resolve_node_types(c)
    vmod._check_edges(c)
    vmod._check_params_and_inputs(c)
    assert c.issues == []
    assert "index" not in c.nodes["p"].params


def test_check_cycles_names_each_cycle_once_and_order_leaves_it_out(registry):
    c = compilation(registry, {
        "a": ("stub.add", {}), "b": ("stub.add", {}), "n": ("stub.numbers", {}), "s": ("stub.sum", {}),
    }, [("a.total", "b.a"), ("b.total", "a.a"), ("n.items", "s.items")])
    vmod._resolve_node_types(c)
    vmod._check_edges(c)
    vmod._check_cycles(c)
    vmod._order_nodes(c)
    (issue,) = c.issues
    assert issue.message == "cycle: a -> b -> a" and issue.code == "cycle"
    assert c.in_cycle == {"a", "b"}
    assert c.order == ["n", "s"]


def test_check_types_and_link_binds_type_variables_maps_lists_and_reports_mismatches(registry):
    c = compilation(registry, {
        "n": ("stub.numbers", {}),
        "pick": ("list.pick", {}),
        "add": ("stub.add", {}),      # Int input fed a List[Int]: mapped over the list
        "img": ("stub.make_image", {}),
        "sum": ("stub.sum", {}),      # List[Int] input fed an Image: a mismatch
    }, [("n.items", "pick.items"), ("n.items", "add.a"), ("img.image", "sum.items")])
    for check in (vmod._resolve_node_types, vmod._check_edges, vmod._check_cycles, vmod._order_nodes,
                  vmod._check_types_and_link):
        check(c)
    assert codes(c) == [("sum", "items", "type_mismatch")]
    assert c.issues[0].message == "expects List[Int], but img.image gives Image"
    pick, add = c.nodes["pick"], c.nodes["add"]
    assert pick.out_types["item"] == Int and pick.links["items"].mode == "direct"
    assert add.maps and add.links["a"].mode == "map" and add.out_types["total"] == List[Int]
    assert "items" not in c.nodes["sum"].links


def test_compile_runs_every_pass_and_reports_all_issues_in_pass_order(registry):
    wf = make_workflow({
        "u": ("nope.type", {}),
        "a": ("stub.add", {"b": "x"}),
        "b": ("stub.add", {}),
        "c": ("stub.add", {}),
        "img": ("stub.make_image", {}),
        "sum": ("stub.sum", {}),
    }, [("a.total", "ghost.a"), ("b.total", "c.a"), ("c.total", "b.a"), ("img.image", "sum.items")])
    with pytest.raises(WorkflowError) as e:
        graph.compile_workflow(wfmod.from_dict(wf), registry)
    assert [i.code for i in e.value.issues] == ["unknown_type", "dangling_edge", "bad_value",
                                                "missing_input", "cycle", "type_mismatch"]


def test_the_module_docstring_lists_the_passes_in_the_order_they_run():
    body = ast.parse(inspect.getsource(vmod.compile_workflow)).body[0].body
    run = [s.value.func.id for s in body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)]
    assert len(run) >= 5
    doc = vmod.__doc__
    positions = [doc.index(f"``{name}``") for name in run]
    assert positions == sorted(positions)
