"""What one node call cost where it ran: wall seconds, peak process memory, peak GPU memory.

``measure()`` wraps a call (``dispatch.run_call`` uses it, so every engine measures the same way):

- seconds: wall time of the call, model loading included (``load_seconds`` says how much of it);
- ram_mb: the highest resident memory of this process (plus its children, e.g. ffmpeg, when psutil
  is installed) seen while the call ran, sampled every 50 ms by one shared thread;
- vram_mb: ``torch.cuda.max_memory_allocated`` over the call, only where torch is already imported
  and CUDA is in use (measuring never imports torch). Calls that overlap on one GPU share the peak.

Nothing here is exact for calls that overlap in one process (their RAM is one process's), which is
why estimates are ranges.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """This process's resident memory now (plus its children's with psutil), in MB (1e6 bytes)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            me = psutil.Process()
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            return total / 1e6
        except (psutil.Error, OSError):
            pass
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / 1e6
    except (OSError, ValueError, IndexError):
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e3 if sys.platform != "darwin" else peak / 1e6


class _Sampler:
    """One daemon thread that samples RSS while any call is measured, and keeps each call's peak."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.lock = threading.Lock()
        self.peaks: dict[int, float] = {}
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()

    def start(self) -> int:
        now = rss_mb()
        with self.lock:
            token = next(self.tokens)
            self.peaks[token] = now
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="reelgraph-measure", daemon=True)
                self.thread.start()
            self.wake.set()
        return token

    def stop(self, token: int) -> float:
        now = rss_mb()
        with self.lock:
            return max(self.peaks.pop(token, now), now)

    def _loop(self) -> None:
        while True:
            with self.lock:
                idle = not self.peaks
            if idle:
                self.wake.clear()
                if not self.wake.wait(30.0):
                    with self.lock:
                        if not self.peaks:
                            self.thread = None
                            return
                continue
            now = rss_mb()
            with self.lock:
                for token, peak in self.peaks.items():
                    if now > peak:
                        self.peaks[token] = now
            time.sleep(self.interval)


_sampler = _Sampler()


@dataclass
class Measure:
    """What a call cost; filled in by ``measure()`` when the call ends."""

    seconds: float = 0.0
    ram_mb: float = 0.0
    vram_mb: float | None = None
    load_seconds: float = 0.0  # of ``seconds``, spent loading models (0 when they were resident)
    device: str = "cpu"

    def to_dict(self) -> dict:
        return {"seconds": round(self.seconds, 4), "ram_mb": round(self.ram_mb, 1),
                "vram_mb": None if self.vram_mb is None else round(self.vram_mb, 1),
                "load_seconds": round(self.load_seconds, 4), "device": self.device}


def _cuda():
    torch = sys.modules.get("torch")  # never import torch to measure
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_initialized() else None
    except Exception:
        return None


@contextmanager
def measure() -> Iterator[Measure]:
    m = Measure()
    token = _sampler.start()
    cuda = _cuda()
    if cuda is not None:
        try:
            cuda.reset_peak_memory_stats()
        except Exception:
            cuda = None
    t0 = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - t0
        m.ram_mb = _sampler.stop(token)
        cuda = cuda or _cuda()  # the call may have been the first to use CUDA
        if cuda is not None:
            try:
                m.vram_mb = cuda.max_memory_allocated() / 1e6
                m.device = "cuda"
            except Exception:
                pass
