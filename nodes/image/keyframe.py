from reelgraph.graph import (
    Bool,
    Choice,
    Float,
    Image,
    Input,
    Int,
    Node,
    NodeError,
    Output,
    Param,
    Resources,
    Text,
    sketch_media,
)
from reelgraph.nodes.common import backends
from reelgraph.nodes.common.frames import MAX_SIDE, even

ASPECTS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "21:9": (21, 9)}


def frame_size(aspect: str, resolution: int, width: int, height: int) -> tuple[int, int]:
    """Width and height (both even) for an aspect and a short side; ``custom`` uses width × height."""
    if aspect == "custom":
        for name, v in (("width", width), ("height", height)):
            if v % 2:
                raise NodeError(f"{name} {v} is odd; video frames need even sizes", field=name,
                                fix=f"set {name} to {v - 1} or {v + 1}")
        w, h = int(width), int(height)
    else:
        a, b = ASPECTS[aspect]
        short = even(resolution)
        w, h = (even(short * a / b), short) if a >= b else (short, even(short * b / a))
    if max(w, h) > MAX_SIDE:
        raise NodeError(f"aspect {aspect} at {resolution} px gives {w}×{h}, over {MAX_SIDE} px a side",
                        field="resolution" if aspect != "custom" else ("width" if w > MAX_SIDE else "height"),
                        fix=f"lower the resolution (the short side) so the long side stays within {MAX_SIDE}")
    return w, h


def shot_tag(label: str | None) -> str | None:
    """The corner tag: "SHOT 3" for a bare number, else the label as given."""
    if label is None or not str(label).strip():
        return None
    text = " ".join(str(label).split())
    return f"SHOT {text}" if text.isdigit() else text


class KeyframeNode(backends.Generative, Node):
    """Draw a keyframe from a prompt (draft: a legible animatic frame with framing guides and a caption)."""

    type = "image.keyframe"
    version = "1.2.0"
    resources = Resources(cpu=1)
    task = "text_to_image"

    prompt = Input(Text, doc="What the frame shows; the draft reads its light, setting, subjects and colours.")
    label = Input(Text, required=False, doc="Shot number or label for the corner tag (a bare number shows "
                                            "as SHOT n). Draft only: a model frame has no tag.")
    negative_prompt = Input(Text, required=False, doc="What to avoid; the draft leaves out elements it names "
                                                      "(e.g. people); SD models steer away from it when "
                                                      "guidance is above 1.")
    reference = Input(Image, required=False, doc="An image to keep colour and character consistent across "
                                                 "shots: the draft borrows its palette, a model starts from "
                                                 "it (image-to-image, see reference_strength).")
    aspect = Param(Choice, default="16:9", choices=("16:9", "9:16", "1:1", "4:3", "21:9", "custom"),
                   doc="Frame shape; custom uses width × height.")
    resolution = Param(Int, default=720, min=64, max=4320, step=2,
                       doc="Short side in pixels (16:9 at 720 gives 1280×720); rounded to even.")
    width = Param(Int, default=1280, min=64, max=MAX_SIDE, step=2, doc="Width in px when aspect is custom (even).")
    height = Param(Int, default=720, min=64, max=MAX_SIDE, step=2, doc="Height in px when aspect is custom (even).")
    seed = Param(Int, default=0, doc="Random seed: the same seed and inputs give the same frame.")
    steps = Param(Int, default=0, min=0, max=200, wirable=False,
                  doc="Sampling steps for model backends; 0: the model preset's default (a model outside "
                      "the presets: its pipeline's). The draft ignores it.")
    guidance = Param(Float, default=0.0, min=0.0, max=30.0, wirable=False,
                     doc="Prompt guidance scale for model backends; 0: preset default (1 or below turns "
                         "guidance off on SD models). The draft ignores it.")
    reference_strength = Param(Float, default=0.35, min=0.0, max=1.0, step=0.05, wirable=False,
                               doc="Model backends: how much of the reference carries into the frame (0: "
                                   "little, 1: nearly all of it). The draft always borrows its palette.")
    caption = Param(Bool, default=True, wirable=False,
                    doc="Draft only: write the prompt's first sentence in a band at the bottom (turn it off "
                        "when subtitles go there); a model frame has no caption band.")
    backend = backends.backend_param()
    model = backends.model_param(task)
    image = Output(Image, doc="The keyframe (PNG).")

    @classmethod
    def sketch(cls, values: dict) -> dict:
        w, h = frame_size(values["aspect"], values["resolution"], values["width"], values["height"])
        return {"image": sketch_media("image", width=w, height=h)}

    def run(self, ctx, prompt, label, negative_prompt, reference, aspect, resolution, width, height, seed,
            steps, guidance, caption, backend, model, reference_strength=0.35):
        loaded = backends.resolve(ctx, backend, model, self.task)
        w, h = frame_size(aspect, resolution, width, height)
        ref_img = None
        if reference is not None:
            from PIL import Image as PILImage
            try:
                with PILImage.open(reference.path) as im:
                    ref_img = im.convert("RGB")
            except OSError as e:
                raise NodeError(f"cannot read the reference image: {e}", field="reference",
                                fix="wire an image made by another node or io.load_image") from None
        if loaded is not None:
            from ._keyframe_model import render
            img, extra = render(ctx, loaded, prompt=prompt or "", negative_prompt=negative_prompt or "",
                                reference=ref_img, reference_strength=reference_strength, width=w, height=h,
                                seed=seed, steps=steps, guidance=guidance)
            out = ctx.temp_path(".png")
            img.save(out, format="PNG", compress_level=3)
            ctx.progress(1.0, "keyframe rendered")
            return ctx.store_file(out, "image", width=w, height=h, seed=int(seed), prompt=(prompt or "")[:500],
                                  aspect=aspect, **extra)
        from reelgraph.nodes.common.draw import warnings_to

        from ._keyframe import draft_keyframe
        ctx.progress(0.1, "drawing the keyframe")
        with warnings_to(ctx.warn):  # a missing font or a cut label is told on this node
            img = draft_keyframe(prompt or "", negative_prompt or "", seed, w, h, tag=shot_tag(label),
                                 aspect=aspect, reference=ref_img, caption=caption)
        out = ctx.temp_path(".png")
        img.save(out, format="PNG", compress_level=3)
        ctx.progress(1.0, "keyframe drawn")
        # text_boxes: where the label, seed tag and caption are, so a camera move keeps them fixed
        return ctx.store_file(out, "image", width=w, height=h, seed=int(seed), prompt=(prompt or "")[:500],
                              aspect=aspect, text_boxes=img.info.get("text_boxes", []))
