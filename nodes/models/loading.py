"""Loaders for the model manager: diffusers pipelines and transformers models from local folders.

Registered with ``reelgraph.graph.models`` for the kinds ``diffusers`` and ``transformers`` (see
``nodes/models/__init__.py``). torch, diffusers and transformers are imported here, on first load.
The folder always comes from ``presets.locate`` (a hub cache snapshot or a local folder): loading
never reaches the network.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Callable

from reelgraph.graph import LoadedModel, ModelNeed, NodeError

from . import device

log = logging.getLogger("reelgraph.models")


def _plan(need: ModelNeed) -> tuple[str, str, str]:
    """(device, dtype, offload) for a need under this process's policy."""
    pol = device.policy()
    dtype = pol.dtype_for(need.option("dtype") or "auto")
    return pol.device, dtype, pol.offload_for(need.vram_gb)


def module_bytes(modules) -> int:
    import torch
    seen: set[int] = set()
    total = 0
    for m in modules:
        if not isinstance(m, torch.nn.Module):
            continue
        for t in list(m.parameters()) + list(m.buffers()):
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
    return total


def _load_error(need: ModelNeed, name: str, e: Exception) -> NodeError:
    if isinstance(e, ImportError):  # an undeclared extra: torchsde (Stable Audio), ftfy (Wan), phonemizer
        return NodeError(f"loading {need.id} as {name} needs a missing package: {e}", field="model",
                         fix=f"pip install {getattr(e, 'name', None) or 'the package named above'}")
    return NodeError(f"cannot load {need.id} as {name}: {e}", field="model",
                     fix="the folder may be incomplete: pull it again (reelgraph models pull ID) or re-save "
                         "it with save_pretrained (model and tokenizer)")


def _quiet() -> None:
    """The libraries' own progress bars and log warnings (prompt truncated, torchvision missing, a
    deprecated config key) would flood the run log once per call: our events say what matters."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    import diffusers
    import transformers
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # torchsde (Stable Audio's sampler) warns whenever float32 sigmas land a hair outside its interval,
    # and clamps them; VITS still builds its weight norm the deprecated way. Nothing a user can act on.
    warnings.filterwarnings("ignore", message=r"Should have t[ab]", category=UserWarning)
    warnings.filterwarnings("ignore", message=r".*weight_norm.* is deprecated", category=FutureWarning)


def _free_accelerator() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class DiffusersLoader:
    def key(self, need: ModelNeed) -> tuple:
        return (need.option("path"), need.option("pipeline"), need.option("identity"), *_plan(need))

    def load(self, need: ModelNeed, report: Callable[[str], None]) -> LoadedModel:
        _quiet()
        import diffusers
        import torch
        dev, dtype, offload = _plan(need)
        name = need.option("pipeline") or "DiffusionPipeline"
        cls = getattr(diffusers, name, None)
        if cls is None:
            raise NodeError(f"diffusers {diffusers.__version__} has no pipeline {name}", field="model",
                            fix="upgrade diffusers (pip install -U diffusers) or choose another model")
        try:
            pipe = cls.from_pretrained(need.option("path"), dtype=getattr(torch, dtype))
        except (ImportError, OSError, ValueError, KeyError, TypeError) as e:
            raise _load_error(need, name, e) from None
        pipe.set_progress_bar_config(disable=True)
        applied = [f"{dtype} on {dev}"]
        if offload == "model":
            pipe.enable_model_cpu_offload(device=dev)
            applied.append("model CPU offload")
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=dev)
            applied.append("sequential CPU offload")
        else:
            pipe.to(dev)
        if dev != "cpu" and device.policy().tier == "consumer":
            applied += _optional(pipe)
        nbytes = module_bytes(pipe.components.values())
        return LoadedModel(pipe, nbytes, device=dev, dtype=dtype,
                           info={"applied": applied, "offload": offload, "pipeline": name,
                                 "preset": need.option("preset") or None, "label": need.id,
                                 "path": need.option("path")},
                           unload=_free_accelerator)


def _optional(pipe) -> list[str]:
    """Memory savers that not every pipeline has: each is tried, and skipped when missing."""
    done = []
    vae = getattr(pipe, "vae", None)
    for label, fn in (("VAE slicing", getattr(vae, "enable_slicing", None)),
                      ("VAE tiling", getattr(vae, "enable_tiling", None))):
        if fn is None:
            continue
        try:
            fn()
            done.append(label)
        except Exception as e:  # not supported by this VAE: run without it
            log.debug("%s not available: %s", label, e)
    return done


class TransformersLoader:
    """``{"model": ..., "tokenizer": ...}`` for text-to-speech (VITS) and causal language models."""

    def key(self, need: ModelNeed) -> tuple:
        return (need.option("path"), need.option("pipeline"), need.option("identity"), *_plan(need))

    def load(self, need: ModelNeed, report: Callable[[str], None]) -> LoadedModel:
        _quiet()
        import torch
        import transformers
        dev, dtype, _ = _plan(need)  # small models: always resident
        name = need.option("pipeline") or "AutoModel"
        if name == "AutoModelForCausalLM" or name.endswith(("ForCausalLM", "LMHeadModel")):
            cls = transformers.AutoModelForCausalLM
        else:
            cls = getattr(transformers, name, None)
            if cls is None:
                raise NodeError(f"transformers {transformers.__version__} has no model class {name}",
                                field="model", fix="upgrade transformers or choose another model")
        path = need.option("path")
        try:
            model = cls.from_pretrained(path, dtype=getattr(torch, dtype)).to(dev).eval()
            tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        except (ImportError, OSError, ValueError, KeyError, TypeError) as e:
            raise _load_error(need, name, e) from None
        return LoadedModel({"model": model, "tokenizer": tokenizer}, module_bytes([model]), device=dev,
                           dtype=dtype, info={"applied": [f"{dtype} on {dev}"], "pipeline": name,
                                 "preset": need.option("preset") or None, "label": need.id,
                                 "path": need.option("path")},
                           unload=_free_accelerator)
