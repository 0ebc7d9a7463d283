from reelgraph.graph import Float, Input, Int, Node, Output, Resources, Shot, Text
from reelgraph.nodes.common.draw import stable_int

from ._vocab import caption as caption_of


class ShotFieldsNode(Node):
    """Unpack a shot into its number, prompt, duration, camera, transition, narration (with its language
    and how it is fitted to the shot), seed and caption."""

    type = "story.shot_fields"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.1.0"
    resources = Resources(cpu=0)

    shot = Input(Shot, doc="One shot (wire a list of shots to unpack each of them).")
    number = Output(Int, doc="The shot's 1-based number in the storyboard.")
    prompt = Output(Text, doc="What the shot shows, as written in the script.")
    duration = Output(Float, doc="Length of the shot in seconds.")
    camera = Output(Text, doc="Camera move: static, push_in, pull_out, pan_left, pan_right, tilt_up, "
                              "tilt_down, orbit_left or orbit_right.")
    transition = Output(Text, doc="How the shot begins from the previous one: cut, crossfade or "
                                  "fade_black (ignored for the first shot).")
    narration = Output(Text, doc="The spoken line (narration or dialogue); empty when the shot is silent.")
    seed = Output(Int, doc="The shot's seed (its own 'seed:' or a stable one from the storyboard seed).")
    caption = Output(Text, doc="A short label for the shot (at most 48 characters).")
    language = Output(Text, doc="The narration's language as the storyboard gives it ('language:' on the "
                                "shot or at the top: zh, yue, ja...); empty when it does not, and "
                                "audio.speech then tells it from the text.")
    narration_fit = Output(Text, doc="How the narration is fitted to the shot ('narration_fit:': fit, "
                                     "extend or overlap), for audio.mix; empty when the storyboard "
                                     "does not say (audio.mix's own fit then applies).")

    def run(self, ctx, shot):
        seed = shot.seed
        if seed is None:  # a shot built elsewhere: a stable seed from its content
            seed = stable_int("story.shot", shot.prompt, shot.index) % 2 ** 31
        label = shot.extra.get("caption") or caption_of(shot.prompt)
        return {"number": shot.index + 1, "prompt": shot.prompt, "duration": float(shot.duration),
                "camera": shot.camera, "transition": shot.transition, "narration": shot.narration,
                "seed": int(seed), "caption": str(label),
                "language": str(shot.extra.get("language") or ""),
                "narration_fit": str(shot.extra.get("narration_fit") or "")}
