"""Model residency: load each model once per process, keep the recently used ones, evict by memory.

The engine knows nothing about torch or diffusers. A *loader* is registered per ``ModelNeed.kind``
(the built-in node pack registers ``diffusers`` and ``transformers``); it turns a need into a key
(what makes two loads the same: weights, dtype, device, offload mode) and loads it, returning a
``LoadedModel`` that says how many bytes it holds. The manager keeps loaded models in an LRU bounded
by a byte budget; a model in use by a running call is never evicted. The manager is separate from
the result cache: results persist on disk, models live only in this process.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from .errors import NodeError
from .node import ModelNeed

log = logging.getLogger("reelgraph.models")


@dataclass
class LoadedModel:
    """A model in memory. ``obj`` is what the node uses (a pipeline, or a dict of model + tokenizer)."""

    obj: Any
    nbytes: int
    key: tuple = ()
    device: str = "cpu"
    dtype: str = "float32"
    info: dict[str, Any] = field(default_factory=dict)  # what the loader applied (offload, tiling...)
    unload: Callable[[], None] | None = None
    seconds: float = 0.0  # how long the load took


class Loader(Protocol):
    def key(self, need: ModelNeed) -> tuple: ...

    def load(self, need: ModelNeed, report: Callable[[str], None]) -> LoadedModel: ...


_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str, loader: Loader) -> None:
    """Make ``ModelNeed(kind=...)`` loadable. A later registration of the same kind replaces it."""
    _LOADERS[kind] = loader


def loader_for(need: ModelNeed) -> Loader:
    try:
        return _LOADERS[need.kind]
    except KeyError:
        known = ", ".join(sorted(_LOADERS)) or "none"
        raise NodeError(f"no loader for models of kind {need.kind!r} (known: {known})", field="model",
                        fix="install the models extra: pip install 'reelgraph[models]'") from None


class ModelManager:
    """Loads models on demand and keeps them resident within ``budget_bytes`` (LRU by memory).

    ``budget_bytes=None`` asks ``budget()`` (registered with ``set_default_budget``) on first use,
    so the device's real memory sets it without the engine importing torch.
    """

    def __init__(self, budget_bytes: int | None = None):
        self._budget = budget_bytes
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._in_use: dict[tuple, int] = {}
        self._lock = threading.RLock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        # One model call at a time per manager (per device): a pipeline is not safe to call from two
        # threads (its scheduler keeps state), and two runs (two editor tabs, two API calls) sharing
        # one GPU would only fight over its memory. Re-entrant: a node may load more inside its call.
        self._device = threading.RLock()
        self.loads = 0
        self.hits = 0
        self.evictions = 0
        # ("load"|"hit"|"evict", key): what happened lately, in order (bounded: the editor runs for days)
        self.log: deque[tuple[str, tuple]] = deque(maxlen=1000)

    # -- budget
    @property
    def budget_bytes(self) -> int:
        if self._budget is None:
            self._budget = int(_default_budget()) if _default_budget else 8 << 30
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, value: int) -> None:
        with self._lock:
            self._budget = int(value)
            self._evict_for(0)

    @property
    def resident_bytes(self) -> int:
        with self._lock:
            return sum(m.nbytes for m in self._models.values())

    def resident(self) -> list[tuple]:
        """Keys of the loaded models, least recently used first."""
        with self._lock:
            return list(self._models)

    # -- use
    @contextmanager
    def use(self, needs: tuple[ModelNeed, ...] | list[ModelNeed],
            report: Callable[[str], None] = lambda message: None) -> Iterator[dict[str, LoadedModel]]:
        """Load (or reuse) every need and pin them while the block runs: ``{need.name: LoadedModel}``.
        Blocks of different threads run one at a time (see ``_device``)."""
        pinned: list[tuple] = []
        self._device.acquire()
        try:
            out = {}
            for need in needs:
                loaded = self._acquire(need, report)
                pinned.append(loaded.key)
                out[need.name] = loaded
            yield out
        finally:
            with self._lock:
                for key in pinned:
                    self._in_use[key] -= 1
                    if not self._in_use[key]:
                        del self._in_use[key]
                self._evict_for(0)
            self._device.release()

    def _acquire(self, need: ModelNeed, report: Callable[[str], None]) -> LoadedModel:
        loader = loader_for(need)
        key = (need.kind, *loader.key(need))
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # two runs asking for one model load it once
            with self._lock:
                hit = self._models.get(key)
                if hit is not None:
                    self._models.move_to_end(key)
                    self._in_use[key] = self._in_use.get(key, 0) + 1
                    self.hits += 1
                    self.log.append(("hit", key))
                    return hit
            with self._lock:
                # make room before loading: two big models side by side is the out-of-memory case
                self._evict_for(int(need.vram_gb * 2**30))
            report(f"loading {need.id}")
            t0 = time.perf_counter()
            loaded = loader.load(need, report)
            loaded.key = key
            loaded.seconds = time.perf_counter() - t0
            with self._lock:
                self._evict_for(loaded.nbytes)
                self._models[key] = loaded
                self._in_use[key] = self._in_use.get(key, 0) + 1
                self.loads += 1
                self.log.append(("load", key))
            log.info("loaded %s in %.1f s (%.2f GB)", need.id, loaded.seconds, loaded.nbytes / 1e9)
            return loaded

    def _evict_for(self, incoming: int) -> None:
        """Drop least recently used, unpinned models until ``incoming`` more bytes fit the budget."""
        budget = self.budget_bytes
        for key in list(self._models):
            if self.resident_bytes + incoming <= budget:
                break
            if self._in_use.get(key):
                continue
            self._drop(key)

    def _drop(self, key: tuple) -> None:
        model = self._models.pop(key)
        self.evictions += 1
        self.log.append(("evict", key))
        if model.unload is not None:
            try:
                model.unload()
            except Exception:
                log.exception("unloading %s failed", key)
        del model
        gc.collect()

    def clear(self) -> None:
        """Unload every model that is not in use."""
        with self._lock:
            for key in list(self._models):
                if not self._in_use.get(key):
                    self._drop(key)


_default_budget: Callable[[], int] | None = None
_manager: ModelManager | None = None
_manager_lock = threading.Lock()


def set_default_budget(fn: Callable[[], int]) -> None:
    """How the process-wide manager sizes its budget (the model pack asks the device)."""
    global _default_budget
    _default_budget = fn


def default_manager() -> ModelManager:
    """The process-wide manager: models stay loaded across runs of one process (editor, API)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = ModelManager()
        return _manager
