"""The built-in utility nodes (text.*, number.*, list.*): run() called directly, then in workflows."""

from __future__ import annotations

import math

import pytest
from conftest import make_workflow, node
from reelgraph import graph
from reelgraph.graph import NodeError, RunContext

BUILTIN_TYPES = {"text.constant", "text.template", "text.join", "text.split", "number.constant",
                 "number.integer", "number.math", "list.build", "list.pick", "list.length"}


def test_every_builtin_is_registered_from_the_builtin_pack():
    reg = graph.default_registry()
    assert BUILTIN_TYPES <= set(reg.types())
    for type_id in BUILTIN_TYPES:
        assert reg.origin(type_id) == "reelgraph.nodes"
        assert reg.get(type_id).tooltip


# ---------------------------------------------------------------------------------------------
# text.constant / number.constant / number.integer

def test_constants_pass_their_value_on(ctx):
    assert node("text.constant").run(ctx, text="hello\nworld") == "hello\nworld"
    assert node("number.constant").run(ctx, value=2.5) == 2.5
    assert node("number.integer").run(ctx, value=-7) == -7


# ---------------------------------------------------------------------------------------------
# text.template

def template(ctx, tpl, a=None, b=None, c=None, d=None):
    return node("text.template").run(ctx, template=tpl, a=a, b=b, c=c, d=d)


def test_template_fills_placeholders(ctx):
    assert template(ctx, "{a} and {b}, {c}/{d}", "A", "B", "C", "D") == "A and B, C/D"
    assert template(ctx, "no placeholders") == "no placeholders"
    assert template(ctx, "{{literal}} {a}", "x") == "{literal} x"
    assert template(ctx, "{a}{a}", "ab") == "abab"


def test_template_n_is_one_based_element_number(tmp_path):
    assert template(RunContext.standalone(tmp_path), "Shot {n}") == "Shot 1"  # not mapped: 1
    ctx = RunContext.standalone(tmp_path, element=0)
    assert template(ctx, "Shot {n}: {a}", "fox") == "Shot 1: fox"
    ctx = RunContext.standalone(tmp_path, element=4)
    assert template(ctx, "Shot {n}: {a}", "hare") == "Shot 5: hare"


def test_template_unknown_placeholder_names_template_field(ctx):
    with pytest.raises(NodeError) as e:
        template(ctx, "{a} {shot}", "x")
    assert e.value.field == "template"
    assert "{shot}" in e.value.message
    assert e.value.fix


def test_template_unwired_input_names_that_input(ctx):
    with pytest.raises(NodeError) as e:
        template(ctx, "{a} {c}", "x")
    assert e.value.field == "c"
    assert "not wired" in e.value.message
    assert "c" in e.value.fix


def test_template_malformed_braces(ctx):
    with pytest.raises(NodeError) as e:
        template(ctx, "{a", "x")
    assert e.value.field == "template"


# ---------------------------------------------------------------------------------------------
# text.join / text.split

def test_join(ctx):
    join = node("text.join")
    assert join.run(ctx, items=["a", "b", "c"], separator=", ") == "a, b, c"
    assert join.run(ctx, items=["a", "b"], separator="\n") == "a\nb"
    assert join.run(ctx, items=[], separator="-") == ""
    assert join.run(ctx, items=["solo"], separator="-") == "solo"


def split(ctx, text, separator="", skip_empty=True, strip=True):
    return node("text.split").run(ctx, text=text, separator=separator, skip_empty=skip_empty, strip=strip)


def test_split_lines_by_default(ctx):
    assert split(ctx, "one\n  two  \r\n\nthree\n") == ["one", "two", "three"]


def test_split_keeps_empty_and_spaces_when_asked(ctx):
    text = "one\n  two  \n\nthree"
    assert split(ctx, text, skip_empty=False, strip=False) == ["one", "  two  ", "", "three"]
    assert split(ctx, "one\n  two  \n\nthree", skip_empty=False) == ["one", "two", "", "three"]
    # skip_empty drops blank items even when they are not stripped
    assert split(ctx, "a\n   \nb", strip=False) == ["a", "b"]


def test_split_by_separator(ctx):
    assert split(ctx, "a, b,, c", separator=",") == ["a", "b", "c"]
    assert split(ctx, "a, b,, c", separator=",", skip_empty=False, strip=False) == ["a", " b", "", " c"]
    assert split(ctx, "x--y--z", separator="--") == ["x", "y", "z"]
    assert split(ctx, "line one\nline two", separator=" ") == ["line", "one\nline", "two"]


def test_split_empty_text(ctx):
    assert split(ctx, "") == []
    assert split(ctx, "   \n  ") == []


# ---------------------------------------------------------------------------------------------
# number.math

@pytest.mark.parametrize("op, a, b, expected", [
    ("add", 2.0, 3.5, 5.5),
    ("subtract", 2.0, 3.5, -1.5),
    ("multiply", -2.0, 3.0, -6.0),
    ("divide", 7.0, 2.0, 3.5),
    ("min", 4.0, -1.0, -1.0),
    ("max", 4.0, -1.0, 4.0),
    ("power", 2.0, 10.0, 1024.0),
    ("power", 9.0, 0.5, 3.0),
])
def test_math_ops(ctx, op, a, b, expected):
    result = node("number.math").run(ctx, a=a, b=b, op=op)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


def test_math_covers_every_declared_choice():
    spec = graph.default_registry().get("number.math")
    assert set(spec.params["op"].choices) == {"add", "subtract", "multiply", "divide", "min", "max", "power"}


def test_math_divide_by_zero_names_b(ctx):
    with pytest.raises(NodeError) as e:
        node("number.math").run(ctx, a=1.0, b=0.0, op="divide")
    assert e.value.field == "b"
    assert "zero" in e.value.message
    assert e.value.fix


def test_math_overflow_and_complex_results_are_node_errors(ctx):
    with pytest.raises(NodeError) as e:
        node("number.math").run(ctx, a=10.0, b=1000.0, op="power")
    assert e.value.field in ("op", "b")
    with pytest.raises(NodeError):  # (-8) ** 0.5 is complex
        node("number.math").run(ctx, a=-8.0, b=0.5, op="power")
    with pytest.raises(NodeError):
        node("number.math").run(ctx, a=1e308, b=1e308, op="multiply")


# ---------------------------------------------------------------------------------------------
# list.build / list.pick / list.length

def build(ctx, **slots):
    kwargs = {f"item_{i}": None for i in range(1, 7)}
    kwargs.update(slots)
    return node("list.build").run(ctx, **kwargs)


def test_build_collects_in_slot_order_and_skips_empty(ctx):
    assert build(ctx, item_1="a", item_2="b") == ["a", "b"]
    assert build(ctx, item_2="b", item_5="e", item_6="f") == ["b", "e", "f"]
    # falsy values are values, only None is an empty slot
    assert build(ctx, item_1=0, item_3="", item_4=False) == [0, "", False]


def test_build_with_nothing_wired_errors(ctx):
    with pytest.raises(NodeError) as e:
        build(ctx)
    assert e.value.field == "item_1"
    assert "no item" in e.value.message


def test_pick(ctx):
    pick = node("list.pick")
    items = ["a", "b", "c"]
    assert pick.run(ctx, items=items, index=0) == "a"
    assert pick.run(ctx, items=items, index=2) == "c"
    assert pick.run(ctx, items=items, index=-1) == "c"
    assert pick.run(ctx, items=items, index=-3) == "a"


@pytest.mark.parametrize("index", [3, 10, -4])
def test_pick_out_of_range_names_index(ctx, index):
    with pytest.raises(NodeError) as e:
        node("list.pick").run(ctx, items=["a", "b", "c"], index=index)
    assert e.value.field == "index"
    assert str(index) in e.value.message
    assert "0..2" in e.value.fix


def test_pick_from_empty_list_names_items(ctx):
    with pytest.raises(NodeError) as e:
        node("list.pick").run(ctx, items=[], index=0)
    assert e.value.field == "items"


def test_length(ctx):
    length = node("list.length")
    assert length.run(ctx, items=[]) == 0
    assert length.run(ctx, items=[1, "two", 3.0]) == 3


# ---------------------------------------------------------------------------------------------
# The same nodes inside workflows (validation, typing, mapping, caching all involved)

def run_wf(cache_dir, nodes, edges=(), **kwargs):
    return graph.run(make_workflow(nodes, list(edges)), cache=cache_dir, **kwargs)


def test_workflow_split_map_template_join(cache_dir):
    result = run_wf(cache_dir, {
        "story": ("text.split", {"text": "fox\nhare\n\nowl"}),
        "style": ("text.constant", {"text": "noir"}),
        "line": ("text.template", {"template": "{n}. {a} ({b})"}),
        "all": ("text.join", {"separator": " | "}),
        "count": ("list.length", {}),
    }, [("story.items", "line.a"), ("style.out", "line.b"), ("line.text", "all.items"),
        ("story.items", "count.items")])
    assert result.ok, result.failures
    assert result.value("story.items") == ["fox", "hare", "owl"]
    assert result.value("line.text") == ["1. fox (noir)", "2. hare (noir)", "3. owl (noir)"]
    assert result.value("all.text") == "1. fox (noir) | 2. hare (noir) | 3. owl (noir)"
    assert result.value("count.count") == 3
    assert set(result.outputs) == {"all", "count"}


def test_workflow_math_chain_and_integer_to_float(cache_dir):
    result = run_wf(cache_dir, {
        "x": ("number.integer", {"value": 6}),
        "y": ("number.constant", {"value": 1.5}),
        "mul": ("number.math", {"op": "multiply"}),
        "sub": ("number.math", {"op": "subtract", "b": 1}),
    }, [("x.out", "mul.a"), ("y.out", "mul.b"), ("mul.result", "sub.a")])
    assert result.ok, result.failures
    assert result.value("mul.result") == 9.0
    assert result.value("sub.result") == 8.0


def test_workflow_divide_by_zero_fails_node_and_skips_dependents(cache_dir):
    result = run_wf(cache_dir, {
        "div": ("number.math", {"a": 1, "b": 0, "op": "divide"}),
        "after": ("number.math", {"b": 1}),
        "other": ("number.math", {"a": 2, "b": 2, "op": "power"}),
    }, [("div.result", "after.a")])
    assert result.status == "failed"
    assert [(f.node, f.field) for f in result.failures] == [("div", "b")]
    assert "div.b" in str(result.failures[0])
    assert result.skipped == ["after"]
    assert result.value("other.result") == 4.0


def test_workflow_build_pick(cache_dir):
    result = run_wf(cache_dir, {
        "a": ("text.constant", {"text": "first"}),
        "b": ("text.constant", {"text": "second"}),
        "lst": ("list.build", {}),
        "last": ("list.pick", {"index": -1}),
        "n": ("list.length", {}),
    }, [("a.out", "lst.item_1"), ("b.out", "lst.item_4"), ("lst.items", "last.items"),
        ("lst.items", "n.items")])
    assert result.ok, result.failures
    assert result.value("lst.items") == ["first", "second"]
    assert result.value("last.item") == "second"
    assert result.value("n.count") == 2


def test_workflow_build_with_no_item_wired_fails(cache_dir):
    result = run_wf(cache_dir, {"lst": ("list.build", {}), "n": ("list.length", {})},
                    [("lst.items", "n.items")])
    assert result.status == "failed"
    assert [(f.node, f.field) for f in result.failures] == [("lst", "item_1")]
    assert result.skipped == ["n"]


def test_workflow_pick_out_of_range_fails_with_index(cache_dir):
    result = run_wf(cache_dir, {
        "s": ("text.split", {"text": "a,b", "separator": ","}),
        "p": ("list.pick", {"index": 5}),
    }, [("s.items", "p.items")])
    assert result.status == "failed"
    assert [(f.node, f.field) for f in result.failures] == [("p", "index")]
    assert "out of range" in result.failures[0].message


def test_workflow_template_unwired_placeholder_fails_with_field(cache_dir):
    result = run_wf(cache_dir, {"t": ("text.template", {"template": "{a} {b}"}),
                                "c": ("text.constant", {"text": "x"})}, [("c.out", "t.a")])
    assert result.status == "failed"
    assert [(f.node, f.field) for f in result.failures] == [("t", "b")]


def test_workflow_bad_choice_and_math_types_are_validation_errors():
    issues = graph.validate(make_workflow({
        "m": ("number.math", {"op": "modulo", "a": "three"}),
    }))
    fields = {(i.node, i.field) for i in issues}
    assert ("m", "op") in fields and ("m", "a") in fields


def test_workflow_second_run_is_cached(cache_dir):
    nodes = {"s": ("text.split", {"text": "a\nb"}), "j": ("text.join", {"separator": "+"})}
    edges = [("s.items", "j.items")]
    first = run_wf(cache_dir, nodes, edges)
    second = run_wf(cache_dir, nodes, edges)
    assert first.ran == ["s", "j"] and first.cached == []
    assert second.cached == ["s", "j"] and second.ran == []
    assert second.value("j.text") == "a+b"
    assert not math.isnan(second.seconds)
