from reelgraph.graph import Choice, Input, Node, NodeError, Output, Param, Resources, Shot, Text
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.draw import stable_int

from ._expand import DETAILS, expand
from ._vocab import camera_in_text


class ExpandPromptNode(Node):
    """Turn a short shot description into a detailed cinematic prompt and a negative prompt."""

    type = "story.expand_prompt"
    instant = True  # the draft writes prompts in milliseconds: the planner may run it to look ahead
    version = "1.0.0"
    resources = Resources(cpu=0)

    shot = Input(Shot, required=False,
                 doc="The shot to describe: its text, camera move, style and characters (wire this "
                     "or text, not both).")
    text = Input(Text, required=False, doc="A short description to expand instead of a shot.")
    backend = backends.backend_param()
    model = backends.model_param()
    style = Param(Text, default="",
                  doc="Extra style words appended to the prompt (the shot's own style applies too), "
                      "e.g. 'anamorphic, 1970s film stock'.")
    detail = Param(Choice, default="medium", choices=DETAILS,
                   doc="How much to write: short (subject, framing, style), medium (+ lighting), "
                       "rich (+ mood, composition and finishing terms).")

    prompt = Output(Text, doc="The detailed prompt; each character's sheet description appears "
                              "word for word, so every shot describes them the same way.")
    negative_prompt = Output(Text, doc="What the image should avoid (comma-separated).")

    @classmethod
    def runs_instantly(cls, values: dict) -> bool:
        return values.get("backend", "draft") == "draft"  # a language model is not instant

    def run(self, ctx, shot, text, backend, model, style, detail):
        backends.resolve(ctx, backend)
        if shot is None and text is None:
            raise NodeError("nothing to expand: neither shot nor text is wired", field="shot",
                            fix="wire a Shot (e.g. parse_storyboard.shots, once per shot) or a Text "
                                "into text")
        if shot is not None and text is not None:
            raise NodeError("both shot and text are wired; the node expands one of them", field="text",
                            fix="unwire text to expand the shot, or unwire shot to expand the text")
        extra_style = " ".join(style.split())
        if shot is not None:
            sheet = dict(shot.extra.get("character_sheet") or {})
            characters = {name: sheet[name] for name in shot.characters if name in sheet}
            look = ", ".join(s for s in (shot.style.strip(), extra_style) if s)
            seed = shot.seed if shot.seed is not None else stable_int(shot.prompt)
            prompt, negative = expand(shot.prompt, seed=seed, detail=detail, camera=shot.camera,
                                      characters=characters, style=look,
                                      negative=str(shot.extra.get("negative") or ""))
        else:
            if not text.strip():
                raise NodeError("the text to expand is empty", field="text",
                                fix="wire a non-empty description, e.g. 'a fox crossing a frozen river'")
            prompt, negative = expand(text.strip(), seed=stable_int(text.strip()), detail=detail,
                                      camera=camera_in_text(text), style=extra_style)
        return {"prompt": prompt, "negative_prompt": negative}
