"""Embedding the running workflow in saved files, so a PNG or MP4 can be opened as its workflow."""

from __future__ import annotations

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


def ffmpeg_metadata_args(ctx) -> list[str]:
    """ffmpeg output options that store the workflow in the container's comment tag."""
    text = ctx.workflow_json()
    if text is None:
        return []
    return ["-metadata", f"comment={text}"]
