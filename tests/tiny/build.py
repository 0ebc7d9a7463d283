"""Build one tiny random model per generative task and print the `--set` flags that point the
storyboard workflow at them: the whole model path, end to end, on a CPU, in a minute, no download.

    .venv/bin/python tests/tiny/build.py out/tiny-models
    .venv/bin/reelgraph run workflows/storyboard_to_clip.json -o out/tiny.mp4 $(cat out/tiny-models/sets.txt)

The pictures and sounds are noise (random weights): this proves the plumbing, not the look.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiny import audio, image, text, video  # noqa: E402

# node id in workflows/storyboard_to_clip.json -> (folder, builder)
MODELS = {
    "expand": ("text", text.build),
    "keyframe": ("keyframe", image.build_sd),
    "animate": ("video", video.build_ltx),
    "upscale": ("upscale", image.build_upscaler),
    "voice": ("speech", audio.vits),
    "music": ("music", audio.stable_audio),
}

# small enough for a CPU: tiny frames, 8 fps, two denoising steps, short prompts
SPEED = {"keyframe.resolution": "64", "keyframe.steps": "2", "animate.fps": "8", "timeline.fps": "8",
         "music.steps": "2"}


def build(root: str | Path) -> dict[str, str]:
    """Build every tiny model under ``root``; returns the overrides (``NODE.PARAM`` -> value)."""
    root = Path(root)
    sets: dict[str, str] = {}
    for node, (name, builder) in MODELS.items():
        folder = root / name
        if not (folder / "model_index.json").exists() and not (folder / "config.json").exists():
            builder(folder)
        if name == "text":  # a short prompt: random weights only write noise anyway
            (folder / "reelgraph.json").write_text(json.dumps({"defaults": {"max_new_tokens": 24}}))
        if name == "upscale":
            (folder / "reelgraph.json").write_text(json.dumps({"defaults": {"steps": 2}}))
        sets[f"{node}.backend"] = "diffusers"
        sets[f"{node}.model"] = str(folder.resolve())
    return {**sets, **SPEED}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sets = build(sys.argv[1])
    flags = " ".join(f"--set {k}={v}" for k, v in sets.items())
    (Path(sys.argv[1]) / "sets.txt").write_text(flags + "\n")
    print(flags)


if __name__ == "__main__":
    main()
