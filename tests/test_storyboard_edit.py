"""Editing one shot of a storyboard script in place (the editor's storyboard view): the field
changes, and every other line of the script stays exactly as the writer left it."""

from __future__ import annotations

import pytest
from reelgraph.nodes.story import ScriptError, edit_shot

SCRIPT = """# Kite
style: watercolour
// a note for people: kept

## Shot 1
A red kite over green hills.
duration: 2
camera: push_in

## Shot 2
The kite dips toward a stone wall.
It wobbles in the wind.
transition: crossfade
notes: keep the wall grey

Shot 3: The kite lands in the grass.
"""


def changed_lines(before: str, after: str) -> list[str]:
    import difflib
    diff = [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]
    return diff


def test_a_field_that_is_there_is_rewritten_on_its_own_line():
    out = edit_shot(SCRIPT, 1, "camera", "pan_left")
    assert changed_lines(SCRIPT, out) == ["- camera: push_in", "+ camera: pan_left"]


def test_a_field_that_is_not_there_is_added_at_the_end_of_its_shot():
    out = edit_shot(SCRIPT, 2, "seed", 41)
    lines = out.splitlines()
    assert lines[lines.index("notes: keep the wall grey") + 1] == "seed: 41"
    assert changed_lines(SCRIPT, out) == ["+ seed: 41"]


def test_an_empty_value_removes_the_field():
    assert changed_lines(SCRIPT, edit_shot(SCRIPT, 1, "duration", "")) == ["- duration: 2"]


def test_the_description_replaces_all_its_lines_and_keeps_a_shot_marker_line():
    out = edit_shot(SCRIPT, 2, "prompt", "The kite  crashes\ninto the wall.")
    assert "The kite crashes into the wall." in out
    assert "It wobbles in the wind." not in out
    out = edit_shot(SCRIPT, 3, "prompt", "The kite rests.")
    assert "Shot 3: The kite rests." in out


def test_a_value_the_script_would_refuse_is_refused_with_the_fix():
    with pytest.raises(ScriptError, match="unknown camera") as e:
        edit_shot(SCRIPT, 1, "camera", "sideways")
    assert e.value.fix


@pytest.mark.parametrize("number", [0, 4, "1"])
def test_a_shot_that_is_not_there_is_named(number):
    with pytest.raises(ScriptError, match="no shot"):
        edit_shot(SCRIPT, number, "camera", "static")


def test_a_yaml_storyboard_is_edited_in_its_node():
    with pytest.raises(ScriptError, match="JSON or YAML"):
        edit_shot("shots:\n  - prompt: A kite.\n", 1, "camera", "static")
