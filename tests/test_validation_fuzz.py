"""Property tests: validation never crashes, whatever the workflow, and well-formed graphs built
from the registry's real node types validate with no issues.

* Valid workflows are generated node by node from the real types (built-in pack, test stubs and a few
  nodes defined here), each required input wired from an earlier node whose (mapped, type-variable
  bound) output fits, each param set to a valid value or left at its default.
* Broken ones mutate valid ones (random types, ports, edges, params, versions) or are JSON-ish junk.
  ``graph.validate`` must return a list of Issue for all of them and ``compile_workflow`` must raise
  nothing but WorkflowError.
"""

from __future__ import annotations

import json
import math
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reelgraph import graph
from reelgraph.graph import (
    Bool,
    Choice,
    Float,
    Input,
    Int,
    Issue,
    List,
    Node,
    Output,
    Param,
    Shot,
    Text,
    WorkflowError,
    compile_workflow,
)
from reelgraph.graph import types as t
from reelgraph.graph import workflow as wfmod
from stubnodes import make_registry

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class FuzzKnobsNode(Node):
    """A node with many kinds of params, one of them required."""

    type = "fuzz.knobs"
    version = "2.0.0"

    seed = Param(Int, min=0, max=2 ** 31 - 1)
    scale = Param(Float, default=1.0, min=0.0, max=10.0)
    mode = Param(Choice, default="a", choices=["a", "b", "c"])
    flag = Param(Bool, default=False)
    tags = Param(List[Text], default=[])
    weights = Param(List[Float], default=[1.0])
    shot = Param(Shot, default=None)
    label = Param(Text, default="", choices=["", "x", "y"])
    prompt = Input(Text, required=False)
    out = Output(Text)
    shots = Output(List[Shot])

    def run(self, ctx, **values):
        return {"out": "", "shots": []}


class FuzzShotsNode(Node):
    """Takes a list of shots and a single one."""

    type = "fuzz.shots"

    shots = Input(List[Shot])
    first = Input(Shot, required=False)
    count = Output(Int)

    def run(self, ctx, shots, first):
        return len(shots)


REG = make_registry()
REG.register(FuzzKnobsNode, pack="fuzz")
REG.register(FuzzShotsNode, pack="fuzz")
SPECS = sorted(REG, key=lambda s: s.type)
TYPES = [s.type for s in SPECS]
PORT_NAMES = sorted({n for s in SPECS for n in (*s.ports_in(), *s.outputs, *s.params)})


# ----------------------------------------------------------------------------------------------
# Valid values for a param


def value_for(port) -> st.SearchStrategy | None:
    """A strategy of valid values for ``port`` (None when we do not generate that type)."""
    if port.choices:
        return st.sampled_from(port.choices)
    return _values_of(port.type, port.min, port.max)


def _values_of(typ, lo=None, hi=None):
    if typ == Int:
        return st.integers(min_value=int(math.ceil(lo)) if lo is not None else -10 ** 12,
                           max_value=int(math.floor(hi)) if hi is not None else 10 ** 12)
    if typ == Float:
        return st.floats(min_value=lo if lo is not None else -1e12, max_value=hi if hi is not None else 1e12,
                         allow_nan=False, allow_infinity=False)
    if typ == Bool:
        return st.booleans()
    if typ == Text:
        return st.text(max_size=30)
    if typ == Shot:
        return st.fixed_dictionaries({"prompt": st.text(max_size=20)},
                                     optional={"duration": st.floats(0.5, 20),
                                               "camera": st.sampled_from(["static", "pan"]),
                                               "characters": st.lists(st.text(max_size=5), max_size=3),
                                               "seed": st.none() | st.integers(0, 1000)})
    if isinstance(typ, t.ListType):
        item = _values_of(typ.item)
        return None if item is None else st.lists(item, max_size=4)
    return None


# ----------------------------------------------------------------------------------------------
# Valid workflows


@st.composite
def valid_workflows(draw) -> dict:
    """A workflow that must validate: types from the registry, correct wiring, valid params."""
    n = draw(st.integers(1, 8))
    nodes: dict[str, dict] = {}
    edges: list[dict] = []
    outs: list[tuple[str, str, t.PortType]] = []  # (node, port, effective type) available so far

    def sources_for(declared, bindings):
        found = []
        for node, port, typ in outs:
            trial = dict(bindings)
            t.bind(declared, typ, trial)
            if t.link_mode(typ, t.substitute(declared, trial)) is not None:
                found.append((node, port, typ))
        return found

    def can_place(spec) -> bool:
        for p in spec.inputs.values():
            if p.required and not sources_for(p.type, {}):
                return False
        for p in spec.params.values():
            if p.required and value_for(p) is None:
                return False
        return True

    for i in range(n):
        spec = draw(st.sampled_from([s for s in SPECS if can_place(s)]))
        node_id = draw(st.sampled_from(["n", "node", "x", "_a", "Shot", "n-1"])) + f"{i}"
        bindings: dict = {}
        modes: list[str] = []
        wired: set[str] = set()
        for name, port in spec.ports_in().items():
            must = port.kind == "input" and port.required
            if not must and not draw(st.booleans()):
                continue
            choices = sources_for(port.type, bindings)
            if not choices:
                assert not must  # can_place made sure
                continue
            src, src_port, typ = draw(st.sampled_from(choices))
            t.bind(port.type, typ, bindings)
            modes.append(t.link_mode(typ, t.substitute(port.type, bindings)))
            edges.append({"from": f"{src}.{src_port}", "to": f"{node_id}.{name}"})
            wired.add(name)
        params = {}
        for name, port in spec.params.items():
            if name in wired:
                continue
            strategy = value_for(port)
            if port.required or (strategy is not None and draw(st.booleans())):
                params[name] = draw(strategy)
        entry: dict = {"type": spec.type, "params": params}
        if draw(st.booleans()):
            entry["version"] = spec.version
        if draw(st.booleans()):
            entry["position"] = [draw(st.integers(-500, 500)), draw(st.integers(-500, 500))]
        nodes[node_id] = entry
        maps = "map" in modes
        for name, port in spec.outputs.items():
            typ = t.substitute(port.type, bindings)
            outs.append((node_id, name, t.List[typ] if maps else typ))
    return {"schema": "reelgraph/workflow", "version": 1, "nodes": nodes, "edges": edges}


@FUZZ
@given(valid_workflows())
def test_generated_valid_workflows_validate_with_no_issues(raw):
    issues = graph.validate(raw, REG)
    assert issues == [], [str(i) for i in issues]
    compiled = compile_workflow(wfmod.from_dict(raw), REG)
    assert set(compiled.order) == set(raw["nodes"])
    assert len(compiled.order) == len(raw["nodes"])
    # and they survive the JSON round trip unchanged
    again = wfmod.loads(wfmod.from_dict(raw).to_json())
    assert graph.validate(again, REG) == []


# ----------------------------------------------------------------------------------------------
# Broken workflows


def junk(max_leaves: int = 12) -> st.SearchStrategy:
    """JSON-ish values, including the awkward ones (NaN, inf, huge ints, non-string keys)."""
    leaves = (st.none() | st.booleans() | st.integers() | st.integers(-10 ** 400, 10 ** 400)
              | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
              | st.sampled_from(["", "a.b", "x.", ".y", "text.constant", "n0.out", "{a}", "1.0.0",
                                 "2.0.0", "List[Text]", "\x00", "é", 10 ** 400, -10 ** 400, 2 ** 63, -1,
                                 1e308, float("nan"), float("-inf"), 0.5, True]))
    # dicts that look like shots (the Shot type reads a dict with a "prompt")
    shotish = st.fixed_dictionaries({"prompt": leaves},
                                    optional={"bogus": leaves, "index": leaves, "duration": leaves,
                                              "characters": leaves, "extra": leaves})
    return st.recursive(leaves | shotish, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                        max_leaves=max_leaves)


port_ref = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(["n0", "n1", "node2", "x3", "ghost", "_a4"]),
              st.sampled_from(PORT_NAMES + ["zz", "out", "items"])),
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_-]{0,6}\.[a-z][a-z0-9_]{0,6}\Z"),
    st.text(max_size=10),
)


@st.composite
def mutations(draw, raw: dict) -> dict:
    """Break a valid workflow in a few random ways."""
    raw = json.loads(json.dumps(raw))
    node_ids = list(raw["nodes"])
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["type", "param", "edge", "drop_edge", "version", "node", "junk_params",
                                     "dup_edge", "rewire"]))
        node_id = draw(st.sampled_from(node_ids))
        entry = raw["nodes"][node_id]
        spec = REG.get(entry["type"])
        own_params = sorted(spec.params) if spec and spec.params else PORT_NAMES
        if kind == "type":
            entry["type"] = draw(st.sampled_from(TYPES) | st.text(max_size=15)
                                 | st.from_regex(r"\A[a-z]{1,5}\.[a-z_]{1,8}\Z"))
        elif kind == "param":
            name = draw(st.sampled_from(own_params) | st.sampled_from(PORT_NAMES) | st.text(max_size=8))
            entry.setdefault("params", {})[name] = draw(junk())
        elif kind == "junk_params":
            entry["params"] = draw(st.dictionaries(st.text(max_size=6), junk(), max_size=4))
        elif kind == "edge":
            raw["edges"].append({"from": draw(port_ref), "to": draw(port_ref)})
        elif kind == "drop_edge" and raw["edges"]:
            raw["edges"].pop(draw(st.integers(0, len(raw["edges"]) - 1)))
        elif kind == "dup_edge" and raw["edges"]:
            raw["edges"].append(dict(draw(st.sampled_from(raw["edges"]))))
        elif kind == "rewire" and raw["edges"]:
            edge = draw(st.sampled_from(raw["edges"]))
            other = draw(st.sampled_from(node_ids))
            edge[draw(st.sampled_from(["from", "to"]))] = f"{other}.{draw(st.sampled_from(PORT_NAMES))}"
        elif kind == "version":
            entry["version"] = draw(st.sampled_from(["0.1.0", "1.0.0", "1.9.9", "2.0.0", "3.0.0", "99.0.0", "x",
                                                     "", "1", "-1.0.0", "1.0.0-rc.1"]) | st.text(max_size=6))
        elif kind == "node":
            raw["nodes"][draw(st.sampled_from(["extra", "ghost", "bad id", "a.b", "n0"]))] = {
                "type": draw(st.sampled_from(TYPES)), "params": draw(st.dictionaries(st.sampled_from(PORT_NAMES),
                                                                                      junk(6), max_size=3))}
    return raw


def check_never_crashes(raw) -> list[Issue]:
    issues = graph.validate(raw, REG)
    assert isinstance(issues, list) and all(isinstance(i, Issue) for i in issues)
    for issue in issues:
        assert isinstance(issue.message, str) and issue.message
        str(issue)  # renders
        json.dumps(issue.to_dict(), default=str)
    try:
        wf = wfmod.from_dict(raw)
    except WorkflowError as e:
        assert e.issues and all(isinstance(i, Issue) for i in e.issues)
        return issues
    try:
        compile_workflow(wf, REG)
    except WorkflowError as e:
        assert e.issues
        assert [i.to_dict() for i in e.issues] == [i.to_dict() for i in issues]
    else:
        assert issues == []
    return issues


@FUZZ
@given(st.data())
def test_mutated_workflows_never_crash_validation(data):
    raw = data.draw(valid_workflows())
    broken = data.draw(mutations(raw))
    issues = check_never_crashes(broken)
    for issue in issues:
        assert issue.fix, str(issue)  # every validation problem says what to do


@FEW
@given(st.dictionaries(st.sampled_from(["schema", "version", "name", "nodes", "edges", "meta", "links", "junk"]),
                       junk(), max_size=6))
def test_junk_dicts_never_crash_validation(raw):
    check_never_crashes(raw)


node_entry = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=10)},
    optional={"params": st.dictionaries(st.sampled_from(PORT_NAMES) | st.text(max_size=5), junk(8), max_size=4),
              "version": st.sampled_from(["1.0.0", "2.0.0", "0.0.1", "x"]) | junk(2),
              "position": st.lists(st.integers(-10, 10) | st.floats(), max_size=3) | junk(2),
              "title": junk(2), "meta": junk(4)})


@FUZZ
@given(st.fixed_dictionaries(
    {"nodes": st.dictionaries(st.sampled_from(["n0", "n1", "node2", "x3", "_a4", "bad id", "5"]), node_entry,
                              max_size=6),
     "edges": st.lists(st.fixed_dictionaries({"from": port_ref, "to": port_ref}) | junk(3), max_size=8)},
    optional={"schema": st.just("reelgraph/workflow") | junk(2), "version": st.sampled_from([0, 1, 2]) | junk(2)}))
def test_workflow_shaped_junk_never_crashes_validation(raw):
    check_never_crashes(raw)


@FEW
@given(st.lists(st.fixed_dictionaries({"id": st.text(max_size=4) | junk(2), "type": st.sampled_from(TYPES) | junk(2)},
                                      optional={"widgets": junk(5), "pos": junk(3), "version": junk(2)})
                | junk(5), max_size=4),
       st.lists(st.lists(st.text(max_size=4), min_size=0, max_size=5) | junk(3), max_size=4))
def test_format_0_junk_never_crashes_validation(nodes, links):
    check_never_crashes({"name": "old", "nodes": nodes, "links": links})


@FEW
@given(st.text(max_size=200) | st.builds(lambda v: json.dumps(v, default=str), junk()))
def test_junk_text_never_crashes_loading(text):
    try:
        wf = wfmod.loads(text)
    except WorkflowError as e:
        assert e.issues
    else:
        assert isinstance(wf, wfmod.Workflow)
    # the API reads a string that looks like JSON as JSON; "{" + "}" is a valid, empty workflow
    issues = graph.validate("{" + text, REG)
    assert all(isinstance(i, Issue) for i in issues)
    try:
        wfmod.loads("{" + text)
    except WorkflowError:
        assert issues, "text that does not load must give at least one issue"


@FEW
@given(st.data(), st.integers(0, 3000))
def test_deeply_nested_param_values_never_crash(data, depth):
    raw = data.draw(valid_workflows())
    deep: object = "leaf"
    for i in range(depth):
        deep = [deep] if i % 3 else {"k": deep}
    node_id = data.draw(st.sampled_from(sorted(raw["nodes"])))
    node = raw["nodes"][node_id]
    params = node.setdefault("params", {})
    params["deep"] = deep  # an unknown param
    spec = REG.get(node["type"])
    if spec.params:  # and a known one
        params[data.draw(st.sampled_from(sorted(spec.params)))] = deep
    issues = check_never_crashes(raw)
    if depth + 3 >= wfmod.MAX_DEPTH:  # past the format's nesting limit: refused as such, at that node
        assert any(i.node == node_id and "levels deep" in i.message for i in issues)
    else:
        assert any(i.node == node_id and i.field == "deep" and i.code == "unknown_param" for i in issues)


PARAMS = [(s.type, name) for s in SPECS for name in s.params]
AWKWARD = [10 ** 400, -10 ** 400, 2 ** 63, -1, 0, 1e308, -1e308, float("nan"), float("inf"), float("-inf"),
           True, None, "", "x", "add", [], {}, [[1]], [None], {"prompt": "x"}, {"prompt": "x", "bogus": 1},
           {"prompt": 1, "index": "a"}, {"prompt": "x", "characters": 5}, [{"prompt": "x", "bogus": 1}],
           {"$media": {"kind": "image"}}, ["a", 1, 2.5, True]]


@FUZZ
@given(st.sampled_from(PARAMS), st.sampled_from(AWKWARD) | junk(8))
def test_junk_in_any_param_is_a_bad_value_never_a_crash(param, value):
    type_id, name = param
    port = REG.get(type_id).params[name]
    issues = check_never_crashes({"nodes": {"n": {"type": type_id, "params": {name: value}}}})
    if value is None and port.has_default and port.default is None:
        ok = True
    else:
        try:
            port.check(value)
            ok = True
        except ValueError:
            ok = False
    about_it = [i for i in issues if i.field == name]
    if ok:
        assert about_it == []
    else:
        assert [(i.node, i.code) for i in about_it] == [("n", "bad_value")]
        assert about_it[0].fix


def test_very_deep_values_in_every_param_type():
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    for spec in SPECS:
        for name in spec.params:
            raw = {"nodes": {"n": {"type": spec.type, "params": {name: deep}}}}
            check_never_crashes(raw)


@FEW
@given(valid_workflows())
def test_every_single_param_replaced_by_junk_is_reported_not_crashed(raw):
    assume(any(e.get("params") for e in raw["nodes"].values()))
    for node_id, entry in raw["nodes"].items():
        for name in list(entry.get("params", {})):
            broken = json.loads(json.dumps(raw))
            broken["nodes"][node_id]["params"][name] = {"not": ["a", {"valid": None}]}
            issues = check_never_crashes(broken)
            spec = REG.get(entry["type"])
            if spec.params[name].type != graph.Any:
                assert any(i.node == node_id and i.field == name and i.code == "bad_value" for i in issues), \
                    (node_id, name, [str(i) for i in issues])
            return


def test_the_fuzz_registry_has_the_real_node_types():
    assert {"text.split", "text.template", "list.pick", "list.build", "number.math", "stub.numbers"} <= set(TYPES)
    assert all(c in string.ascii_lowercase + "._" for typ in TYPES for c in typ)
