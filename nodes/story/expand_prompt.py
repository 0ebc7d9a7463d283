from reelgraph.graph import Choice, Input, Node, NodeError, Output, Param, Resources, Shot, Text
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.draw import stable_int

from ._expand import DETAILS, expand
from ._expand_model import WRITER
from ._vocab import camera_in_text


class ExpandPromptNode(backends.Generative, Node):
    """Turn a short shot description into a detailed cinematic prompt and a negative prompt.

    The draft builds it from rules; the diffusers backend has a small instruct language model write
    it (greedy, so the same shot gives the same prompt), then holds it to the same promises."""

    type = "story.expand_prompt"
    task = "text"
    instant = True  # the draft writes prompts in milliseconds: the planner may run it to look ahead
    version = "1.0.0"
    resources = Resources(cpu=0)

    shot = Input(Shot, required=False,
                 doc="The shot to describe: its text, camera move, style and characters (wire this "
                     "or text, not both).")
    text = Input(Text, required=False, doc="A short description to expand instead of a shot.")
    backend = backends.backend_param()
    model = backends.model_param(task)
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

    @classmethod
    def models_for(cls, values: dict, workspace):
        needs = super().models_for(values, workspace)
        for need in needs:  # refuse a picture or sound pipeline before loading gigabytes of it
            if need.kind != "transformers":
                raise NodeError(f"model {need.id} is a {need.kind} pipeline, not a language model",
                                field="model",
                                fix="choose a text model: a preset such as qwen2.5-1.5b-instruct "
                                    "(reelgraph models list) or a folder saved from AutoModelForCausalLM "
                                    "with its tokenizer")
        return needs

    @classmethod
    def fingerprint(cls, values: dict, workspace):
        base = super().fingerprint(values, workspace)
        # model-written prompts also change with the instructions the model is given
        return f"{base};writer={WRITER}" if base and base.startswith("model=") else base

    def run(self, ctx, shot, text, backend, model, style, detail):
        if shot is None and text is None:
            raise NodeError("nothing to expand: neither shot nor text is wired", field="shot",
                            fix="wire a Shot (e.g. parse_storyboard.shots, once per shot) or a Text "
                                "into text")
        if shot is not None and text is not None:
            raise NodeError("both shot and text are wired; the node expands one of them", field="text",
                            fix="unwire text to expand the shot, or unwire shot to expand the text")
        if shot is None and not text.strip():
            raise NodeError("the text to expand is empty", field="text",
                            fix="wire a non-empty description, e.g. 'a fox crossing a frozen river'")
        loaded = backends.resolve(ctx, backend, model, self.task)
        extra_style = " ".join(style.split())
        if shot is not None:
            sheet = dict(shot.extra.get("character_sheet") or {})
            characters = {name: sheet[name] for name in shot.characters if name in sheet}
            look = ", ".join(s for s in (shot.style.strip(), extra_style) if s)
            seed = shot.seed if shot.seed is not None else stable_int(shot.prompt)
            subject, camera = shot.prompt, shot.camera
            prompt, negative = expand(shot.prompt, seed=seed, detail=detail, camera=shot.camera,
                                      characters=characters, style=look,
                                      negative=str(shot.extra.get("negative") or ""))
        else:
            subject, camera, characters, look = text.strip(), camera_in_text(text), {}, extra_style
            prompt, negative = expand(text.strip(), seed=stable_int(text.strip()), detail=detail,
                                      camera=camera_in_text(text), style=extra_style)
        if loaded is not None:
            from ._expand_model import write
            # the draft's negative prompt stays: the model writes the positive prompt only
            prompt = write(ctx, loaded, subject=subject, camera=camera, characters=characters,
                           style=look, detail=detail, fallback=prompt)
        return {"prompt": prompt, "negative_prompt": negative}
