"""Bypass: a node left out of runs without unwiring it. Each of its outputs passes on what is
wired into its input of the same type, so the graph runs as if the node were not there."""

from __future__ import annotations

import pytest
from reelgraph import graph
from reelgraph.graph.errors import WorkflowError


def chain(bypass: tuple[str, ...] = ()) -> dict:
    nodes = {
        "hello": {"type": "text.constant", "params": {"text": "Hello"}},
        "greet": {"type": "text.template", "params": {"template": "{a}, world"}},
        "shout": {"type": "text.template", "params": {"template": "{a}!"}},
    }
    for n in bypass:
        nodes[n]["bypass"] = True
    return {"schema": "reelgraph/workflow", "version": 1, "nodes": nodes,
            "edges": [{"from": "hello.out", "to": "greet.a"}, {"from": "greet.text", "to": "shout.a"}]}


def test_a_bypassed_node_passes_its_input_on_and_does_not_run():
    result = graph.run(chain(bypass=("greet",)), cache=False)
    assert result.ok
    assert result.outputs["shout"]["text"] == "Hello!"
    assert "greet" not in result.ran


def test_bypassed_nodes_in_a_row_pass_through_each_other():
    wf = chain(bypass=("greet",))
    wf["nodes"]["loud"] = {"type": "text.template", "params": {"template": "{a}!!"}, "bypass": True}
    wf["nodes"]["end"] = {"type": "text.template", "params": {"template": "<{a}>"}}
    wf["edges"] += [{"from": "shout.text", "to": "loud.a"}, {"from": "loud.text", "to": "end.a"}]
    wf["nodes"]["shout"]["bypass"] = True
    assert graph.run(wf, cache=False).outputs["end"]["text"] == "<Hello>"


def test_a_bypassed_node_with_nothing_to_pass_on_is_named_with_the_fix():
    with pytest.raises(WorkflowError) as e:
        graph.compile(chain(bypass=("hello",)))
    (issue,) = e.value.issues
    assert (issue.node, issue.field) == ("greet", "a")
    assert "hello is bypassed and has no wired Text input to pass on" in issue.message
    assert "turn bypass off on hello" in issue.fix


def test_bypass_is_saved_only_when_set_and_the_video_embeds_the_graph_as_written():
    wf = graph.from_dict(chain(bypass=("greet",)))
    assert wf.to_dict()["nodes"]["greet"]["bypass"] is True
    assert "bypass" not in wf.to_dict()["nodes"]["shout"]
    compiled = graph.compile(wf)
    assert "greet" not in compiled.nodes and "greet" in compiled.workflow.nodes


def test_turning_bypass_off_runs_the_node_again():
    assert graph.run(chain(), cache=False).outputs["shout"]["text"] == "Hello, world!"
