"""audio.music through a text-to-audio diffusion model (Stable Audio Open, AudioLDM2).

torch and diffusers are imported inside the functions: the node pack loads without them.
A model makes at most ``max_seconds`` per call (Stable Audio Open: 47 s), so a longer bed is made
of several calls joined with short equal-power crossfades. Whatever the model's rate and channels,
the bed comes out as the draft's does: 48 kHz stereo, exactly ``seconds`` long, faded in and out,
at the draft's level (RMS about -18 dBFS, peaks at -3 dBFS at most), so audio.mix treats both alike.
"""

from __future__ import annotations

import math

import numpy as np
from reelgraph.nodes.common.audio import fit_length, n_samples, write_wav
from reelgraph.nodes.common.draw import stable_int
from reelgraph.nodes.models import run

from ._dsp import RATE, db, fade, peak_rms, resample

PIPELINES = ("StableAudioPipeline", "AudioLDM2Pipeline")
# what the pipelines' authors use when a local folder or an unlisted repo carries no preset
FALLBACK = {"StableAudioPipeline": {"steps": 100, "guidance": 7.0},
            "AudioLDM2Pipeline": {"steps": 100, "guidance": 3.5, "max_seconds": 10.24}}
CROSSFADE = 1.0  # seconds between two calls; a quarter of a call at most (models with short calls)


def prompt_for(mood: str, tempo: int) -> str:
    """The text prompt: the mood words, with the tempo spelled out as these models were captioned."""
    text = " ".join((mood or "").split()) or "instrumental music"
    return f"{text}, {int(tempo)} BPM" if tempo and tempo > 0 else text


def kind_of(loaded) -> str:
    name = type(loaded.obj).__name__
    return name if name in PIPELINES else str(loaded.info.get("pipeline") or name)


def model_rate(pipe, kind: str) -> int:
    if kind == "StableAudioPipeline":
        return int(pipe.vae.config.sampling_rate)
    return int(pipe.vocoder.config.sampling_rate)


def longest_call(loaded, kind: str) -> float:
    """Seconds one call may make: the preset's (or folder's) limit, never more than the model's own."""
    pipe = loaded.obj
    limit = run.default(loaded, "max_seconds", None)
    if kind == "StableAudioPipeline":
        # the DiT's latent length times the VAE's hop: what diffusers refuses to exceed
        own = float(pipe.transformer.config.sample_size * pipe.vae.hop_length / pipe.vae.config.sampling_rate)
        return min(float(limit), own) if limit else own
    return float(limit) if limit else float(FALLBACK[kind]["max_seconds"])  # AudioLDM2: its training length


def plan_segments(total: int, longest: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) in samples of the calls that cover ``total`` samples, each at most
    ``longest`` long, consecutive ones overlapping by ``overlap``; all about the same length so
    that no call is a short stub."""
    if total <= longest:
        return [(0, total)]
    count = math.ceil((total - overlap) / (longest - overlap))
    length = math.ceil((total + (count - 1) * overlap) / count)
    hop = length - overlap
    return [(i * hop, min(length, total - i * hop)) for i in range(count)]


def segment_seed(seed: int, index: int) -> int:
    # the first call uses the seed as given (a short bed is exactly what the pipeline makes for it);
    # later calls get unrelated noise, or every segment would repeat the first
    return int(seed) if index == 0 else stable_int("audio.music.segment", int(seed), index) % (2**63)


def render(ctx, loaded, *, mood: str, seconds: float, tempo: int, seed: int, steps: int):
    """The bed as a stored Audio file (what MusicNode.run returns)."""
    run.check_pipeline(loaded, PIPELINES, "make music from a text prompt")
    pipe, kind = loaded.obj, kind_of(loaded)
    n_steps = int(steps) if steps and steps > 0 else int(run.default(loaded, "steps", FALLBACK[kind]["steps"]))
    guidance = float(run.default(loaded, "guidance", FALLBACK[kind]["guidance"]))
    rate = model_rate(pipe, kind)
    longest_s = longest_call(loaded, kind)
    prompt = prompt_for(mood, tempo)

    total = n_samples(seconds)
    longest = int(longest_s * RATE) - 1  # rounding must never ask diffusers for more than it allows
    overlap = min(n_samples(CROSSFADE), longest // 4)
    parts = plan_segments(total, longest, overlap)
    out = np.zeros((total, 2), dtype=np.float32)
    for i, (start, length) in enumerate(parts):
        ctx.check_cancelled()
        # a few samples more than needed, so resampling never leaves a gap of zeros at the end
        ask = min(longest_s, length / RATE + 4.0 / rate)
        label = f"segment {i + 1}/{len(parts)}, step" if len(parts) > 1 else "step"
        wave = _call(ctx, pipe, kind, prompt=prompt, seconds=ask, steps=n_steps, guidance=guidance,
                     seed=segment_seed(seed, i), start=0.95 * i / len(parts),
                     end=0.95 * (i + 1) / len(parts), label=label)
        x = fit_length(resample(stereo(wave), rate, RATE), length)
        x -= x.mean(axis=0, dtype=np.float64).astype(np.float32)  # no DC: it would click at every join
        _join(out, x, start, overlap if i > 0 else 0)
    ctx.progress(0.97, "levelling")
    fade(out, min(1.5, 0.25 * seconds), min(3.0, 0.3 * seconds))
    peak, rms = peak_rms(out)
    if peak > 0:
        out *= np.float32(min(db(-18.0) / max(rms, 1e-12), db(-3.0) / peak))
    path = ctx.temp_path(".wav")
    meta = write_wav(path, out)
    ctx.progress(1.0, "done")
    extra = {"tempo": int(tempo)} if tempo else {}
    return ctx.store_file(path, "audio", **meta, mood=(mood or "")[:200], seed=int(seed), **extra,
                          model=run.label(loaded), steps=n_steps, segments=len(parts))


def _call(ctx, pipe, kind: str, *, prompt: str, seconds: float, steps: int, guidance: float, seed: int,
          start: float, end: float, label: str) -> np.ndarray:
    kwargs = {"prompt": prompt, "num_inference_steps": steps, "guidance_scale": guidance,
              "generator": run.generator(seed), "num_waveforms_per_prompt": 1, "output_type": "np"}
    if kind == "StableAudioPipeline":
        kwargs["audio_end_in_s"] = seconds
    else:
        kwargs["audio_length_in_s"] = seconds
    result = run.call(ctx, pipe, steps=steps, start=start, end=end, label=label, **kwargs)
    audio = result.audios
    if hasattr(audio, "detach"):  # a tensor where the pipeline ignores output_type
        audio = audio.detach().float().cpu().numpy()
    return np.asarray(audio[0], dtype=np.float32)


def stereo(wave: np.ndarray) -> np.ndarray:
    """(samples, 2) from a pipeline's (samples,) mono or (channels, samples) waveform."""
    x = np.asarray(wave, dtype=np.float32)
    x = x[:, None] if x.ndim == 1 else x.T
    if x.shape[1] == 1:
        return np.repeat(x, 2, axis=1)
    return np.ascontiguousarray(x[:, :2])


def _join(out: np.ndarray, x: np.ndarray, start: int, overlap: int) -> None:
    """Write ``x`` at ``start``, its first ``overlap`` samples crossfaded (equal power: two
    unrelated takes keep their loudness through the join) with what ``out`` holds there."""
    k = min(overlap, len(x))
    if k > 0:
        theta = np.linspace(0.0, np.pi / 2, k, dtype=np.float64)
        fade_in = np.sin(theta).astype(np.float32)[:, None]
        fade_out = np.cos(theta).astype(np.float32)[:, None]
        out[start:start + k] = out[start:start + k] * fade_out + x[:k] * fade_in
    out[start + k:start + len(x)] = x[k:]
