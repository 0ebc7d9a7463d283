"""Model backends shared by the generative nodes (no nodes live here).

- ``presets``: the preset data file (presets.json), finding weights on disk, ``pull``;
- ``device``: the device policy (tier, dtype, offload, memory budget), chosen once per process;
- ``loading``: the model manager's loaders for diffusers pipelines and transformers models;
- ``run``: calling a pipeline with seeds, per-step progress and cancellation.

Importing this package registers the loaders; torch and diffusers load only with a model.
"""

from reelgraph.graph import register_loader, set_default_budget

from . import device as _device
from .loading import DiffusersLoader, TransformersLoader

register_loader("diffusers", DiffusersLoader())
register_loader("transformers", TransformersLoader())
set_default_budget(lambda: _device.policy().budget_bytes)
