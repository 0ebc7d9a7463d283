"""The device policy, chosen once per process.

- ``cpu``: no accelerator; fp32; only presets of the cpu tier (and local folders under
  ``REELGRAPH_CPU_MAX_GB`` of weights, 4 by default) are allowed.
- ``consumer``: a GPU under 60 GB (a 24 GB card): the preset's half precision, the whole pipeline
  resident when its vram_gb fits in 85 % of the card, else model CPU offload (sequential offload
  when even that cannot fit); VAE slicing and tiling on.
- ``datacenter``: 60 GB and more: everything resident, no offload.

``probe()`` decides the tier without torch (``REELGRAPH_DEVICE``, ``nvidia-smi``), so planning,
``auto`` backends and the editor never import it; ``policy()`` confirms with torch when a model
actually loads. Overrides: ``REELGRAPH_DEVICE=cpu|cuda|cuda:1|mps``, ``REELGRAPH_OFFLOAD=none|model|
sequential``, ``REELGRAPH_MODEL_MEMORY_GB`` (the model manager's budget).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger("reelgraph.models")

DATACENTER_GB = 60.0
OFFLOADS = ("none", "model", "sequential")


@dataclass(frozen=True)
class Probe:
    accelerator: str | None  # "cuda", "mps" or None
    memory_gb: float  # accelerator memory (0 on CPU)
    name: str

    @property
    def tier(self) -> str:
        if self.accelerator is None:
            return "cpu"
        return "datacenter" if self.memory_gb >= DATACENTER_GB else "consumer"


@lru_cache(maxsize=1)
def probe() -> Probe:
    """What accelerator this machine has, without importing torch."""
    forced = os.environ.get("REELGRAPH_DEVICE", "").strip().lower()
    if forced == "cpu":
        return Probe(None, 0.0, "cpu (REELGRAPH_DEVICE)")
    if forced.startswith("mps"):
        return Probe("mps", _ram_gb() * 0.6, "Apple GPU (REELGRAPH_DEVICE)")
    smi = shutil.which("nvidia-smi")
    if smi and (forced in ("", "auto") or forced.startswith("cuda")):
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout.strip().splitlines()
            index = int(forced.split(":", 1)[1]) if forced.startswith("cuda:") else 0
            name, mem = out[index].rsplit(",", 1)
            return Probe("cuda", float(mem) / 1024, name.strip())
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            log.debug("nvidia-smi did not answer", exc_info=True)
    if forced.startswith("cuda"):
        return Probe("cuda", 24.0, "cuda (REELGRAPH_DEVICE)")
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return Probe("mps", _ram_gb() * 0.6, "Apple GPU")
    return Probe(None, 0.0, "cpu")


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 16.0


@dataclass(frozen=True)
class Policy:
    device: str  # torch device string
    tier: str
    memory_gb: float
    offload: str | None  # forced offload mode, or None to choose per model
    name: str

    def dtype_for(self, preferred: str) -> str:
        """fp32 on the CPU; bf16 only where the GPU supports it (else fp16). ``auto`` (a folder with no
        preset) is half precision on a GPU: fp32 would double its memory and time for nothing."""
        if self.device == "cpu":
            return "float32"
        if preferred == "auto":
            preferred = "bfloat16" if self.device.startswith("cuda") else "float16"
        if preferred == "bfloat16" and self.device.startswith("cuda") and not _bf16_ok():
            return "float16"
        return preferred

    def offload_for(self, vram_gb: float) -> str:
        """Whether a model of ``vram_gb`` stays resident, or is offloaded to the CPU between uses."""
        return offload_for(vram_gb, self.memory_gb, "cpu" if self.device == "cpu" else self.tier, self.offload)


    @property
    def budget_bytes(self) -> int:
        """How many bytes of models the manager keeps loaded."""
        if os.environ.get("REELGRAPH_MODEL_MEMORY_GB"):
            return int(float(os.environ["REELGRAPH_MODEL_MEMORY_GB"]) * 2**30)
        if self.device == "cpu" or self.tier == "consumer":
            # resident on the CPU (or offloaded there): keep half the RAM for everything else
            return int(_ram_gb() * 0.5 * 2**30)
        return int(self.memory_gb * 0.9 * 2**30)


def offload_for(vram_gb: float, memory_gb: float, tier: str, forced: str | None = None) -> str:
    """The offload a model of ``vram_gb`` gets on a device of ``memory_gb`` (no torch: estimates ask too)."""
    if forced is not None:
        return forced
    if tier in ("cpu", "datacenter") or vram_gb <= 0.85 * memory_gb:
        return "none"
    # model offload keeps one component on the GPU at a time; the largest must still fit
    return "model" if vram_gb * 0.7 <= memory_gb else "sequential"


def _bf16_ok() -> bool:
    import torch
    try:
        return bool(torch.cuda.is_bf16_supported())
    except Exception:
        return False


@lru_cache(maxsize=1)
def policy() -> Policy:
    """The policy for this process (imports torch: call it only when a model loads)."""
    import torch
    seen = probe()
    offload = os.environ.get("REELGRAPH_OFFLOAD", "").strip().lower() or None
    if offload is not None and offload not in OFFLOADS:
        log.warning("REELGRAPH_OFFLOAD=%s is not one of %s; choosing per model", offload, OFFLOADS)
        offload = None
    forced = os.environ.get("REELGRAPH_DEVICE", "").strip().lower()
    if seen.accelerator == "cuda" and torch.cuda.is_available():
        device = forced if forced.startswith("cuda") else "cuda"
        index = torch.device(device).index or 0
        mem = torch.cuda.get_device_properties(index).total_memory / 2**30
        name = torch.cuda.get_device_name(index)
        tier = "datacenter" if mem >= DATACENTER_GB else "consumer"
        return Policy(device, tier, mem, offload, name)
    if seen.accelerator == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return Policy("mps", "consumer", seen.memory_gb, offload, seen.name)
    if seen.accelerator is not None:
        log.warning("%s found, but this torch build cannot use it (CPU build?): models run on the CPU",
                    seen.name)
    if offload not in (None, "none"):
        offload = "none"  # offloading needs an accelerator to offload from
    return Policy("cpu", "cpu", 0.0, offload, "cpu")


def cpu_max_gb() -> float:
    return float(os.environ.get("REELGRAPH_CPU_MAX_GB", "4"))
