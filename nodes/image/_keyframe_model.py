"""image.keyframe through a diffusers text-to-image model (Stable Diffusion, SDXL, FLUX).

torch and diffusers are imported inside the functions: the node pack loads without them.
The frame is rendered at the model's native size for the node's aspect and resized (Lanczos) to
the frame size the node promises, so a downstream node sees the same size whatever the backend.
"""

from __future__ import annotations

import inspect
import weakref
from functools import partial

from reelgraph.graph import NodeError
from reelgraph.nodes.models import run

PIPELINES = ("StableDiffusionPipeline", "StableDiffusionXLPipeline", "FluxPipeline")
MIN_DENOISE = 0.05  # reference_strength 1 still lets the model redraw a little (diffusers needs > 0)

# image-to-image views of loaded pipelines (same modules, no second load); weak so that the model
# manager's eviction really frees the pipeline
_img2img: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pipeline_default(pipe, name: str, fallback):
    """The default a pipeline's ``__call__`` declares for ``name`` (its authors' choice)."""
    param = inspect.signature(type(pipe).__call__).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty or param.default is None:
        return fallback
    return param.default


def is_flux(pipe) -> bool:
    return "Flux" in type(pipe).__name__


def native_geometry(pipe) -> tuple[int, int]:
    """(short side, multiple) the model was trained for, read from its config: what diffusers
    itself renders at when no size is given."""
    scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
    if is_flux(pipe):  # latents are packed 2×2
        return int(getattr(pipe, "default_sample_size", 128)) * scale, scale * 2
    unet = getattr(pipe, "unet", None)
    sample = int(getattr(getattr(unet, "config", None), "sample_size", 64) or 64)
    return sample * scale, max(8, scale)  # SD's check_inputs wants multiples of 8


def img2img(pipe):
    """The image-to-image pipeline sharing ``pipe``'s components."""
    got = _img2img.get(pipe)
    if got is None:
        from diffusers import AutoPipelineForImage2Image
        try:
            got = AutoPipelineForImage2Image.from_pipe(pipe)
        except (ValueError, KeyError) as e:
            raise NodeError(f"{type(pipe).__name__} has no image-to-image form for the reference: {e}",
                            field="reference", fix="unwire reference, or choose a model that supports it "
                                                   "(reelgraph models list)") from None
        got.set_progress_bar_config(disable=True)
        _img2img[pipe] = got
    return got


def steps_for_strength(pipe, steps: int, strength: float) -> tuple[int, int]:
    """(num_inference_steps, steps actually run) so that an image-to-image call at ``strength``
    runs ``steps`` denoising steps: diffusers runs only the last ``strength`` of the schedule (as
    each pipeline rounds it), and a schedule cannot be finer than the training timesteps."""
    cap = int(getattr(getattr(pipe, "scheduler", None), "config", {}).get("num_train_timesteps", 1000) or 1000)

    def ran(n):
        if is_flux(pipe):
            return n - int(max(n - n * strength, 0))
        return min(int(n * strength), n)

    n = min(cap, steps)
    while ran(n) < steps and n < cap:  # the shortest such schedule: at most steps / strength + 1
        n += 1
    return n, max(1, ran(n))


def render(ctx, loaded, *, prompt: str, negative_prompt: str, reference, reference_strength: float,
           width: int, height: int, seed: int, steps: int, guidance: float):
    """The keyframe as an RGB PIL image of exactly ``width`` × ``height``, and the meta to store."""
    from PIL import Image, ImageOps
    run.check_pipeline(loaded, PIPELINES, "draw a keyframe from a prompt")
    pipe = loaded.obj
    default = partial(run.default, loaded)  # the folder's reelgraph.json, then the (repo's) preset
    short, multiple = native_geometry(pipe)
    rw, rh = run.model_size(width, height, int(default("short_side", short)),
                            int(default("multiple", multiple)))
    steps = int(steps) or int(default("steps", pipeline_default(pipe, "num_inference_steps", 28)))
    guidance = float(guidance) or float(default("guidance", pipeline_default(pipe, "guidance_scale", 0.0)))
    kwargs = {"prompt": prompt, "width": rw, "height": rh, "guidance_scale": guidance,
              "generator": run.generator(seed)}
    if negative_prompt.strip():
        if run.accepts(pipe, "true_cfg_scale") or not run.accepts(pipe, "negative_prompt"):
            # FLUX takes one only with "true" CFG, which doubles every step: not worth it for a keyframe
            ctx.warn(f"negative_prompt is ignored by {run.label(loaded)} ({type(pipe).__name__} is "
                     "guidance-distilled): say what the frame should show instead")
        else:
            kwargs["negative_prompt"] = negative_prompt
            if guidance <= 1.0:
                ctx.warn(f"negative_prompt has no effect at guidance {guidance:g}: set guidance above 1 "
                         f"for {run.label(loaded)} to steer away from it")
    if run.accepts(pipe, "max_sequence_length") and default("max_sequence_length", None):
        kwargs["max_sequence_length"] = int(default("max_sequence_length", 512))

    if reference is not None:
        strength = max(MIN_DENOISE, min(1.0, 1.0 - float(reference_strength)))
        pipe = img2img(pipe)
        n, ran = steps_for_strength(pipe, steps, strength)
        kwargs.pop("width"), kwargs.pop("height")  # image-to-image takes its size from the image
        # cropped to the frame's aspect, not stretched: a character keeps their proportions
        start = ImageOps.fit(reference, (rw, rh), Image.Resampling.LANCZOS)
        kwargs.update(image=start, strength=strength, num_inference_steps=n)
        if not run.accepts(pipe, "negative_prompt"):
            kwargs.pop("negative_prompt", None)
        out = run.call(ctx, pipe, steps=ran, **kwargs)
    else:
        out = run.call(ctx, pipe, steps=steps, num_inference_steps=steps, **kwargs)
    img = out.images[0].convert("RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    meta = {"model": run.label(loaded), "steps": steps, "guidance": guidance}
    if reference is not None:
        meta["reference_strength"] = float(reference_strength)
    return img, meta
