from reelgraph.graph import Choice, Float, Int, List, Node, NodeError, Output, Param, Resources, Shot, Text

from . import _script
from ._vocab import CAMERAS, TRANSITIONS

EXAMPLE = """# The Keeper
style: moody watercolour, teal and amber
characters:
- Mara: an old lighthouse keeper, grey braid, yellow oilskin coat
- Finn: a ten-year-old boy, red scarf

## Shot 1
Wide view of a lighthouse on a cliff at dusk, waves crashing below.
duration: 5
camera: push in
narration: Every night for forty years, Mara lit the lamp.

## Shot 2
Mara climbs the spiral stairs, lantern in hand.
duration: 4
camera: tilt up
transition: crossfade
dialogue: Mara: Not tonight, storm.

## Shot 3
Close on Finn at a cottage window in the rain, watching the beam sweep the sea.
duration: 4
transition: fade to black
narration: And someone was always watching.
"""


class ParseStoryboardNode(Node):
    """Read a storyboard script (hand-written text, YAML or JSON) into a list of shots."""

    type = "story.parse_storyboard"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"
    resources = Resources(cpu=0)

    script = Param(Text, default=EXAMPLE, multiline=True,
                   doc="The storyboard: '## Shot N' blocks with a description and 'key: value' lines "
                       "(duration, camera, transition, narration, dialogue, seed, language, "
                       "narration_fit…), a '# Title', 'style:', 'language:' and a 'characters:' sheet "
                       "at the top; or the same as YAML/JSON with "
                       "a 'shots:' list. See docs/storyboard-format.md.")
    format = Param(Choice, default="auto", choices=("auto", "text", "yaml", "json"),
                   doc="How to read the script. auto: JSON if it starts with { or [, YAML if it has a "
                       "top-level 'shots:' key, otherwise the hand-written text format.")
    default_duration = Param(Float, default=4.0, min=0.1, max=_script.MAX_DURATION, step=0.5,
                             doc="Seconds for shots that give no duration (a 'duration:' at the top "
                                 "of the script overrides it).")
    default_camera = Param(Choice, default="static", choices=CAMERAS,
                           doc="Camera move for shots that give none (a 'camera:' at the top of the "
                               "script overrides it).")
    default_transition = Param(Choice, default="cut", choices=TRANSITIONS,
                               doc="How shots begin when they give no transition (a 'transition:' "
                                   "at the top of the script overrides it).")
    seed = Param(Int, default=0, min=0, max=_script.SEED_LIMIT - 1,
                 doc="Storyboard seed: shots without their own 'seed:' get a stable seed made from "
                     "this and their shot number, so every shot differs and re-runs match.")

    shots = Output(List[Shot], doc="The shots in order; wire into a node that takes one Shot to run "
                                   "it once per shot.")
    # The contract names this output "title", but Node reserves that attribute (the node's display
    # title), so the port is story_title, labelled "title" in the editor.
    story_title = Output(Text, label="title",
                         doc="The storyboard title ('# Title' or 'title:'; empty when none is given).")
    duration = Output(Float, doc="Sum of the shot durations in seconds (before transitions overlap).")

    def run(self, ctx, script, format, default_duration, default_camera, default_transition, seed):
        defaults = _script.Defaults(duration=default_duration, camera=default_camera,
                                    transition=default_transition, seed=seed)
        try:
            board = _script.parse(script or "", format)
            shots, title, total, warnings = _script.build(board, defaults)
        except _script.ScriptError as e:
            raise NodeError(e.text(), field="script", fix=e.fix) from None
        for message in warnings:
            ctx.warn(message)
        return {"shots": shots, "story_title": title, "duration": total}
