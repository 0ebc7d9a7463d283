"""Embedding the running workflow in saved files, so a PNG or MP4 can be opened as its workflow."""

from __future__ import annotations

import re

from reelgraph.graph import PROVENANCE_KEY


def png_info(ctx):
    """A PngInfo carrying the workflow (None outside a workflow run)."""
    from PIL.PngImagePlugin import PngInfo
    text = ctx.workflow_json()
    if text is None:
        return None
    info = PngInfo()
    info.add_itxt(PROVENANCE_KEY, text, zip=True)
    return info


def ffmpeg_metadata_args(ctx, inputs: int) -> tuple[list[str], list[str]]:
    """ffmpeg options that store the workflow in the container's comment tag and drop the inputs' tags.

    Returns (input options, to come after the ``inputs`` inputs already given; output options). The
    workflow goes in through an ffmetadata file, not ``-metadata comment=...``: Linux caps a single
    command-line argument at 128 KiB, and a workflow with a long script passes that.
    """
    text = ctx.workflow_json()
    if text is None:
        return [], ["-map_metadata", "-1"]
    file = ctx.temp_path(".ffmetadata")
    file.write_text(";FFMETADATA1\ncomment=" + _FFMETA_SPECIAL.sub(r"\\\g<0>", text) + "\n", encoding="utf-8")
    # the global tags from that file alone; no stream tags carried over from the inputs
    return ["-f", "ffmetadata", "-i", str(file)], ["-map_metadata", str(inputs), "-map_metadata:s", "-1"]


_FFMETA_SPECIAL = re.compile(r"[=;#\\\n]")  # what an ffmetadata value escapes with a backslash
