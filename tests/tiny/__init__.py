"""Tiny randomly initialised models for the model-backend tests (built from configs, no downloads).

Each family module builds a pipeline a few layers deep with tiny sizes and tokenizers made in
memory, and ``save_pretrained``s it, so the backends' real loading and pipeline code runs on CPU.
``to_hub_cache`` lays a saved folder out as the Hugging Face cache does, so a preset or repo id
resolves to it with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def to_hub_cache(folder: str | os.PathLike, cache: str | os.PathLike, repo_id: str,
                 revision: str = "main") -> Path:
    """Copy ``folder`` into ``cache`` in the hub cache layout (blobs by hash, a snapshot of symlinks,
    refs/<revision> naming the commit); returns the snapshot folder."""
    folder, cache = Path(folder), Path(cache)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    commit = hashlib.sha1(b"".join(str(p.relative_to(folder)).encode() + p.read_bytes()[:4096]
                                   for p in files)).hexdigest()
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    for p in files:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(p, blob)
        link = snap / p.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return snap
