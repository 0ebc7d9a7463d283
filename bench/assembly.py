"""Assembly benchmark: our concat (crossfades) + audio mux vs ONE hand-written ffmpeg command.

    .venv/bin/python bench/assembly.py      # prints one line

Both sides do the same job on the same clips (``shots`` clips of ``seconds`` s, testsrc2 + a tone,
H.264 + AAC like the pipeline's intermediates): crossfade every cut by 0.5 s, lay a WAV bed under
the result, encode H.264 (``common.ffmpeg.H264``: veryfast, CRF 18, yuv420p) + AAC 192k.

- ours: a workflow run through ``graph.run(..., cache=False)``: ``io.load_video`` per clip ->
  ``list.build`` -> ``assemble.concat`` -> ``assemble.mux_audio`` (the bed comes from a tiny
  bench-only node that stores the WAV, as ``io.load_audio`` would). So "ours" includes loading
  the clips into the artifact store, the clips' own sound crossfaded by concat, a second ffmpeg call
  for the mux (video stream-copied) and hashing every result.
- plain: one ffmpeg command, an xfade chain and the bed mapped as the audio.

Each side: best of 3 wall-clock runs, interleaved (ours, plain, ours, ...). The ratio is ours / plain (goal <= 1.2).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reelgraph import graph
from reelgraph.graph import Audio, Node, Output, Param, Text
from reelgraph.nodes.common import ffmpeg

XFADE = 0.5
RUNS = 3


class BenchWavNode(Node):
    """Store a WAV file from the workspace as an Audio value (the bench's stand-in for io.load_audio)."""

    type = "bench.wav"
    version = "1.0.0"
    path = Param(Text, default="", doc="WAV file, relative to the workspace.")
    audio = Output(Audio, doc="The sound.")

    def run(self, ctx, path):
        import wave
        src = ctx.user_path(path, "path")
        with wave.open(str(src)) as w:
            n, rate, ch = w.getnframes(), w.getframerate(), w.getnchannels()
        return ctx.store_file(src, "audio", sample_rate=rate, channels=ch, samples=n, duration=n / rate)


def _ffmpeg(args: list[str]) -> None:
    subprocess.run([ffmpeg.exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *map(str, args)],
                   check=True)


def make_inputs(workdir: Path, shots: int, seconds: float, size: tuple[int, int], fps: int) -> tuple[list[Path], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(shots):
        p = workdir / f"clip{i + 1}.mp4"
        _ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={size[0]}x{size[1]}:r={fps}:d={seconds}",
                 "-f", "lavfi", "-i", f"sine=f={220 * (i + 2)}:r=48000:d={seconds}",
                 "-vf", f"hue=h={i * 360 / shots:.1f}", *ffmpeg.H264, *ffmpeg.AAC, "-ac", "2", "-shortest", p])
        clips.append(p)
    total = shots * seconds - (shots - 1) * XFADE
    bed = workdir / "bed.wav"
    _ffmpeg(["-f", "lavfi", "-i", f"sine=f=110:r=48000:d={total + 1}", "-ac", "2", "-c:a", "pcm_s16le", bed])
    return clips, bed


def workflow(clips: list[Path], bed: Path) -> dict:
    nodes = {f"load{i + 1}": {"type": "io.load_video", "params": {"path": c.name}} for i, c in enumerate(clips)}
    nodes["clips"] = {"type": "list.build", "params": {}}
    nodes["concat"] = {"type": "assemble.concat",
                       "params": {"transition": "crossfade", "transition_seconds": XFADE}}
    nodes["bed"] = {"type": "bench.wav", "params": {"path": bed.name}}
    nodes["mux"] = {"type": "assemble.mux_audio", "params": {}}
    edges = [{"from": f"load{i + 1}.video", "to": f"clips.item_{i + 1}"} for i in range(len(clips))]
    edges += [{"from": "clips.items", "to": "concat.videos"}, {"from": "concat.video", "to": "mux.video"},
              {"from": "bed.audio", "to": "mux.audio"}]
    return {"schema": "reelgraph/workflow", "version": 1, "name": "assembly bench", "nodes": nodes,
            "edges": edges}


def plain_command(clips: list[Path], bed: Path, seconds: float, out: Path) -> list[str]:
    chains, prev = [], "0:v"
    for i in range(1, len(clips)):
        offset = i * (seconds - XFADE)
        label = f"x{i}"
        chains.append(f"[{prev}][{i}:v]xfade=transition=fade:duration={XFADE}:offset={offset:g}[{label}]")
        prev = label
    args = []
    for c in clips:
        args += ["-i", c]
    return [*args, "-i", bed, "-filter_complex", ";".join(chains), "-map", f"[{prev}]",
            "-map", f"{len(clips)}:a", *ffmpeg.H264, *ffmpeg.AAC, "-shortest", out]


def assembly_ratio(workdir, shots: int = 6, seconds: float = 4, size=(1280, 720), fps: int = 24):
    """Best-of-3 wall times of our assembly and of one ffmpeg command: (ours, plain, ours / plain)."""
    if shots > 6:
        raise ValueError("list.build takes at most 6 items; use shots <= 6")
    workdir = Path(workdir)
    clips, bed = make_inputs(workdir, shots, seconds, size, fps)
    reg = graph.Registry().discover()
    reg.register(BenchWavNode, pack="bench")
    wf = workflow(clips, bed)
    expected = shots * seconds - (shots - 1) * XFADE

    ours, plain = [], []
    out = workdir / "plain.mp4"
    for _ in range(RUNS):  # interleaved, so both sides see the same load on a shared machine
        t0 = time.perf_counter()
        result = graph.run(wf, cache=False, registry=reg, workspace=workdir)
        ours.append(time.perf_counter() - t0)
        if not result.ok:
            raise RuntimeError("; ".join(map(str, result.failures)))
        meta = result.values["mux"]["video"].meta
        if abs(meta["duration"] - expected) > 1.0 / fps + 1e-6:
            raise RuntimeError(f"our result lasts {meta['duration']} s, expected {expected} s")
        t0 = time.perf_counter()
        _ffmpeg(plain_command(clips, bed, seconds, out))
        plain.append(time.perf_counter() - t0)
    best_ours, best_plain = min(ours), min(plain)
    return best_ours, best_plain, best_ours / best_plain


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="reelgraph-assembly-"))
    try:
        ours, plain, ratio = assembly_ratio(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"assembly vs one ffmpeg command: ratio {ratio:.2f} (ours {ours:.2f} s, ffmpeg {plain:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
