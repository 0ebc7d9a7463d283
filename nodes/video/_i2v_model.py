"""Image-to-video through a diffusers pipeline, for video.image_to_video and video.extend (private).

A model renders at its native size for the picture's aspect and at its native frame rate, a fixed
number of frames per generation (LTX 8n+1, Wan 4n+1). A shot longer than one generation is made
of generations chained from the last frame of the previous one; the frames are then resampled in
time to the node's fps (blending the two nearest model frames) and resized to the node's frame
size, so the clip has exactly the frames the node promises.

torch and diffusers are imported only inside functions: the node pack is imported without them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image
from reelgraph.graph import NodeError
from reelgraph.nodes.common.yuv import rgb_to_planes
from reelgraph.nodes.models import run

from ._camera import fit_picture

SVD = "StableVideoDiffusionPipeline"
LTX = "LTXImageToVideoPipeline"
WAN = "WanImageToVideoPipeline"
PIPELINES = (SVD, LTX, WAN)

# Native settings of each pipeline family, for a local folder or hub repo that no preset describes
# (a preset's defaults, then a folder's reelgraph.json — see run.folder_defaults — take precedence).
_NATIVE = {
    SVD: {"steps": 25, "frames": 25, "fps": 6, "width": 1024, "height": 576, "multiple": 64,
          "frame_step": 1, "motion_bucket_id": 127, "decode_chunk_size": 8},
    LTX: {"steps": 40, "frames": 121, "fps": 24, "width": 768, "height": 512, "multiple": 32,
          "frame_step": 8, "guidance": 3.0},
    WAN: {"steps": 40, "frames": 81, "fps": 16, "width": 832, "height": 480, "multiple": 16,
          "frame_step": 4, "guidance": 5.0},
}
# pipeline arguments a preset or folder may tune as they are (each passed only where the pipeline takes it)
_TUNABLE = ("noise_aug_strength", "min_guidance_scale", "max_guidance_scale", "guidance_rescale",
            "decode_timestep", "decode_noise_scale")

CAMERA_WORDS = {
    "static": "static camera",
    "push_in": "slow push in",
    "pull_out": "slow pull out",
    "pan_left": "camera pans left",
    "pan_right": "camera pans right",
    "tilt_up": "camera tilts up",
    "tilt_down": "camera tilts down",
    "orbit_left": "camera orbits left around the subject",
    "orbit_right": "camera orbits right around the subject",
}


def camera_words(camera: str, amplitude: float) -> str:
    if camera == "static" or amplitude <= 0:
        return CAMERA_WORDS["static"]
    words = CAMERA_WORDS[camera]
    if amplitude >= 0.4:
        words = words.replace("slow ", "") + ", wide sweeping move"
    elif amplitude < 0.08:
        words += ", subtle"
    return words


def motion_words(motion: float) -> str:
    if motion < 0.25:
        return "almost still, minimal motion"
    if motion <= 0.6:
        return "gentle natural motion"
    if motion < 0.85:
        return "lively motion"
    return "dynamic, fast motion"


def full_prompt(prompt: str | None, camera: str, amplitude: float, motion: float) -> str:
    """The node's prompt with its camera move and motion said in words (what these models read)."""
    text = (prompt or "").strip().rstrip(".")
    tail = f"{camera_words(camera, amplitude)}, {motion_words(motion)}"
    return f"{text}. {tail}" if text else tail


def check(loaded) -> str:
    """The pipeline family of a loaded model (one of PIPELINES); a model of another kind fails."""
    run.check_pipeline(loaded, PIPELINES, "turn an image into a video")
    name = type(loaded.obj).__name__
    return name if name in PIPELINES else str(loaded.info.get("pipeline"))


def settings(loaded) -> dict:
    """Native steps, frames, fps, size, multiples... of this model, and the pipeline's own limits."""
    pipe = loaded.obj
    name = check(loaded)
    s = dict(_NATIVE[name])
    unet = getattr(pipe, "unet", None)
    if name == SVD and getattr(getattr(unet, "config", None), "num_frames", None):
        s["frames"] = int(unet.config.num_frames)  # 14 for SVD, 25 for SVD-XT
    preset = run.preset_of(loaded)
    if preset is not None:
        s.update(preset.defaults)
    s.update({k: v for k, v in run.folder_defaults(loaded).items() if isinstance(v, (int, float, str))})
    # what the pipeline itself needs wins over any default
    step, need = 1, 8
    if name == LTX:
        step = int(getattr(pipe, "vae_temporal_compression_ratio", 8))
        need = math.lcm(32, int(pipe.vae_spatial_compression_ratio * pipe.transformer_spatial_patch_size))
    elif name == WAN:
        step = int(getattr(pipe, "vae_scale_factor_temporal", 4))
        need = int(pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1])
    elif name == SVD:
        need = int(pipe.vae_scale_factor * 2 ** (len(unet.config.block_out_channels) - 1))
    s["frame_step"] = max(step, int(s.get("frame_step", 1)))
    s["multiple"] = math.lcm(need, int(s.get("multiple", need)))
    k = s["frame_step"]
    s["frames"] = max(k + 1, (int(s["frames"]) - 1) // k * k + 1)
    return s


def takes_last_frame(loaded) -> bool:
    """Whether the model ends a clip on a given frame (Wan FLF2V), not just starts from one."""
    pipe = loaded.obj
    if not run.accepts(pipe, "last_image"):
        return False
    preset = run.preset_of(loaded)
    if preset is not None:
        return "last_frame" in preset.supports
    # a first-and-last-frame transformer position-embeds the two images' tokens
    config = getattr(getattr(pipe, "transformer", None), "config", None)
    return getattr(config, "pos_embed_seq_len", None) is not None


def _segments(last_index: int, cap: int, step: int) -> list[int]:
    """Frame counts of the generations reaching model frame ``last_index``, each starting on the
    previous one's last frame (so each adds its count minus one)."""
    counts, have = [], 0
    while have < last_index:
        count = min(cap, math.ceil((last_index - have) / step) * step + 1)
        counts.append(count)
        have += count - 1
    return counts or [min(cap, step + 1)]


def _frames_of(out) -> list[np.ndarray]:
    """A pipeline's frames as uint8 H×W×3 arrays, whatever type it returned."""
    video = out.frames if hasattr(out, "frames") else out[0]
    if hasattr(video, "detach"):
        video = video.detach().float().cpu().numpy()
    if isinstance(video, np.ndarray):
        arr = video[0] if video.ndim == 5 else video
        if arr.shape[-1] not in (1, 3) and arr.shape[1] in (1, 3):  # frames, channels, H, W
            arr = arr.transpose(0, 2, 3, 1)
        if arr.dtype != np.uint8:
            arr = np.clip(arr.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return [np.ascontiguousarray(f) for f in arr]
    frames = video[0] if video and isinstance(video[0], (list, tuple)) else video
    return [np.asarray(f.convert("RGB")) for f in frames]


def _mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """The frame ``w`` of the way from model frame ``a`` to the next one ``b`` (a blend in time)."""
    return (a.astype(np.float32) * (1.0 - w) + b.astype(np.float32) * w + 0.5).astype(np.uint8)


class Shot:
    """A clip made by one model: its native settings, the generations it takes and the model frame
    each output frame shows, all known before anything renders."""

    def __init__(self, loaded, *, size: tuple[int, int], times: list[float], prompt: str | None,
                 camera: str, amplitude: float, motion: float, seed: int, steps: int,
                 last: Image.Image | None = None):
        self.name = check(loaded)
        self.pipe = loaded.obj
        self.label = run.label(loaded)
        s = self.settings = settings(loaded)
        self.size = (int(size[0]), int(size[1]))
        self.model_size = run.model_size(*self.size, min(int(s["width"]), int(s["height"])),
                                         int(s["multiple"]))
        self.fps = float(s["fps"])
        asked = int(steps) if steps and steps > 0 else int(s["steps"])
        self.steps = max(asked, run.fewest_steps(self.pipe))
        self.steps_asked = asked
        self.seed, self.motion = int(seed), float(motion)
        self.last = last
        self.text = full_prompt(prompt, camera, amplitude, motion) if run.accepts(self.pipe, "prompt") else None
        self.generations = 0
        end = max(times, default=0.0)
        # with a closing frame the shot is one generation from the first frame to the last one,
        # stretched or squeezed in time to span it exactly
        self.stretch = last is not None
        if self.stretch:
            count = _segments(max(1, math.ceil(end * self.fps - 1e-6)), int(s["frames"]), s["frame_step"])[0]
            self.plan = [count]
            if end > 0:
                self.positions = [min(count - 1.0, t * (count - 1) / end) for t in times]
            else:  # a one-frame clip is its closing frame, as in the draft
                self.positions = [count - 1.0 for _ in times]
        else:
            self.positions = [t * self.fps for t in times]
            last_index = max(1, math.ceil(max(self.positions, default=0.0) - 1e-6))
            self.plan = _segments(last_index, int(s["frames"]), s["frame_step"])

    @property
    def seconds_per_generation(self) -> float:
        return (self.settings["frames"] - 1) / self.fps

    def frames(self, ctx, picture: Image.Image, start: float = 0.0, end: float = 1.0) -> Iterator[tuple]:
        """The clip's frames in order, as Y'CbCr planes at ``size`` (see common.yuv); progress goes
        from ``start`` to ``end`` over every denoising step of every generation."""
        mw, mh = self.model_size
        condition = fit_picture(picture, (mw, mh))
        last = fit_picture(self.last, (mw, mh)) if self.last is not None else None
        generator = run.generator(self.seed)  # one for the chain: each generation draws new noise
        buffered: dict[int, np.ndarray] = {}  # model frames still to be shown, by index in the chain
        have, emitted, part = -1, 0, 0
        total = len(self.positions)
        while emitted < total:
            parts = max(len(self.plan), part + 1)
            count = self.plan[min(part, len(self.plan) - 1)]
            span = (end - start) / parts
            label = "step" if parts == 1 else f"part {part + 1}/{parts} step"
            out = run.call(ctx, self.pipe, steps=self.steps, start=start + span * part,
                           end=start + span * (part + 1), label=label,
                           **self._kwargs(condition, last, count, generator))
            made = _frames_of(out)
            self.generations += 1
            if len(made) < 2:
                raise NodeError(f"model {self.label} returned {len(made)} frame(s) for a {count}-frame "
                                "generation", field="model", fix="choose another image-to-video model")
            # a chained generation starts on the frame it was given: keep that frame once
            for i, frame in enumerate(made if have < 0 else made[1:]):
                buffered[have + 1 + i] = frame
            have += len(made) if have < 0 else len(made) - 1
            part += 1
            while emitted < total:
                p = min(self.positions[emitted], float(have)) if self.stretch else self.positions[emitted]
                a = math.floor(p + 1e-6)
                w = p - a if p - a >= 1e-4 else 0.0
                if a > have or (w > 0 and a + 1 > have):
                    break
                frame = buffered[a] if w == 0 else _mix(buffered[a], buffered[a + 1], w)
                yield rgb_to_planes(fit_picture(Image.fromarray(frame), self.size))
                emitted += 1
            if emitted < total:
                condition = Image.fromarray(buffered[have])
                keep = math.floor(self.positions[emitted] + 1e-6)
                for k in [k for k in buffered if k < min(keep, have)]:
                    del buffered[k]

    def _kwargs(self, image: Image.Image, last: Image.Image | None, count: int, generator) -> dict:
        s, (mw, mh) = self.settings, self.model_size
        kw = {"image": image, "height": mh, "width": mw, "num_frames": count,
              "num_inference_steps": self.steps, "generator": generator, "output_type": "np"}
        if self.name == SVD:
            kw.update(fps=round(self.fps), motion_bucket_id=round(self.motion * 255),
                      decode_chunk_size=int(s.get("decode_chunk_size", 8)))
        else:
            kw.update(prompt=self.text, guidance_scale=float(s.get("guidance", 5.0)), frame_rate=self.fps)
            if "max_sequence_length" in s:
                kw["max_sequence_length"] = int(s["max_sequence_length"])
            if last is not None:
                kw["last_image"] = last
        kw.update({k: float(s[k]) for k in _TUNABLE if k in s})
        return {k: v for k, v in kw.items() if v is not None and run.accepts(self.pipe, k)}


_I2V_MODELS = "an image-to-video model (ltx-video, wan2.1-i2v-480p, svd-xt)"


def _warn_unread(ctx, shot: Shot, prompt: str | None, camera: str) -> None:
    if shot.text is None and ((prompt or "").strip() or camera != "static"):
        ctx.warn(f"model {shot.label} takes no prompt: the prompt and the camera move are ignored "
                 "(motion sets how much moves)")
    if shot.steps > shot.steps_asked:
        ctx.warn(f"model {shot.label} needs at least {shot.steps} steps (its scheduler makes NaN frames from "
                 f"{shot.steps_asked}): ran {shot.steps}")


def render_clip(ctx, loaded, *, picture: Image.Image, size: tuple[int, int], ending: Image.Image | None,
                prompt: str | None, seconds: float, fps: int, camera: str, amplitude: float,
                motion: float, seed: int, steps: int):
    """video.image_to_video's model backend: the stored clip (same contract as the draft)."""
    from reelgraph.nodes.common.yuv import YuvWriter

    from ._camera import blend, ease
    check(loaded)
    frames = max(1, round(seconds * fps))
    closing = takes_last_frame(loaded)
    if closing and ending is None:
        raise NodeError(f"model {run.label(loaded)} makes clips between a first and a last frame, and "
                        "last_frame is not wired", field="last_frame",
                        fix=f"wire the closing picture into last_frame, or choose {_I2V_MODELS}")
    shot = Shot(loaded, size=size, times=[i / fps for i in range(frames)], prompt=prompt, camera=camera,
                amplitude=amplitude, motion=motion, seed=seed, steps=steps,
                last=ending if closing else None)
    _warn_unread(ctx, shot, prompt, camera)
    fade = None
    if ending is not None and not closing:
        ctx.warn(f"model {shot.label} cannot end on a given frame: the clip cross-fades to last_frame "
                 "over its second half, as the draft does")
        fade = rgb_to_planes(fit_picture(ending, size))
    if closing and seconds > shot.seconds_per_generation + 1e-6:
        ctx.warn(f"model {shot.label} makes at most {shot.seconds_per_generation:g} s between a first and a "
                 f"last frame: this {seconds:g} s shot is that generation slowed down (blended frames)")
    path = ctx.temp_path(".mp4")
    with YuvWriter(path, size[0], size[1], fps) as writer:
        for i, frame in enumerate(shot.frames(ctx, picture)):
            if fade is not None:
                t = i / (frames - 1) if frames > 1 else 1.0
                frame = blend(frame, fade, ease((t - 0.5) / 0.5))
            writer.write(frame)
    return ctx.store_file(path, "video", **writer.meta(), camera=camera, amplitude=float(amplitude),
                          seed=int(seed), model=shot.label, generations=shot.generations)


def continuation(ctx, loaded, *, picture: Image.Image, size: tuple[int, int], frames: int, fps: float,
                 prompt: str | None, camera: str, amplitude: float, motion: float, seed: int, steps: int,
                 start: float = 0.0) -> tuple[Shot, Iterator[tuple]]:
    """video.extend's model backend: ``frames`` frames at ``fps`` following ``picture`` (the
    clip's last frame, not repeated), as planes at ``size``."""
    check(loaded)
    if takes_last_frame(loaded):
        raise NodeError(f"model {run.label(loaded)} makes clips between a first and a last frame: it "
                        "cannot continue a clip on its own", field="model", fix=f"choose {_I2V_MODELS}")
    shot = Shot(loaded, size=size, times=[(i + 1) / fps for i in range(frames)], prompt=prompt,
                camera=camera, amplitude=amplitude, motion=motion, seed=seed, steps=steps)
    _warn_unread(ctx, shot, prompt, camera)
    return shot, shot.frames(ctx, picture, start=start)
