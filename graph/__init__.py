"""reelgraph.graph — the engine: node declarations, workflows, validation, execution, caching.

Nothing here imports torch, gradio or ray. The public API is what this module exports.
"""

from __future__ import annotations

from . import dispatch, estimates, jobs, measure, safe_write, types
from .api import (
    apply_overrides,
    compile,
    estimate,
    iter_events,
    load,
    open_cache,
    parse_param_text,
    plan,
    run,
    validate,
)
from .cache import ArtifactStore, Cache, CacheError, default_cache_dir, parse_size
from .context import CancelToken, RunContext
from .dispatch import Dispatcher, RunScope, ThreadDispatcher, engine_names, open_engine
from .errors import Cancelled, DeclarationError, Issue, NodeError, NodeFailure, ReelgraphError, WorkflowError
from .estimates import Measurements, Prior, RunEstimate, sketch_media
from .events import EVENT_KINDS, Event
from .executor import LocalExecutor, PlanEntry, RunResult
from .jobs import JobRunner, JobSpec, JobStore, default_data_dir
from .models import LoadedModel, ModelManager, default_manager, register_loader, set_default_budget
from .node import NODE_API_VERSION, Input, ModelNeed, Node, NodeSpec, Output, Param, Resources
from .provenance import KEY as PROVENANCE_KEY
from .provenance import looks_like_media
from .registry import ENTRY_POINT_GROUP, Registry, default_registry, register
from .types import (
    Any,
    Audio,
    Bool,
    Choice,
    Float,
    Image,
    Int,
    List,
    MediaRef,
    Shot,
    ShotValue,
    T,
    Text,
    Video,
)
from .validate import CompiledGraph, compile_workflow
from .workflow import FORMAT_VERSION, Workflow, from_dict, json_schema, loads, save


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("reelgraph")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

__all__ = [
    "dispatch", "Dispatcher", "RunScope", "ThreadDispatcher", "engine_names", "open_engine",
    "jobs", "JobRunner", "JobSpec", "JobStore", "default_data_dir",
    "safe_write", "types", "apply_overrides", "compile", "iter_events", "load", "open_cache", "parse_param_text",
    "plan", "run", "validate", "ArtifactStore", "Cache", "CacheError", "default_cache_dir", "CancelToken",
    "RunContext", "Cancelled", "DeclarationError", "Issue", "NodeError", "NodeFailure",
    "ReelgraphError", "WorkflowError", "EVENT_KINDS", "Event", "LocalExecutor", "PlanEntry",
    "LoadedModel", "ModelManager", "default_manager", "register_loader", "set_default_budget",
    "RunResult", "PROVENANCE_KEY", "NODE_API_VERSION", "Input", "ModelNeed", "Node", "NodeSpec", "Output", "Param",
    "Resources", "ENTRY_POINT_GROUP", "Registry", "default_registry", "register", "Any", "Audio",
    "Bool", "Choice", "Float", "Image", "Int", "List", "MediaRef", "Shot", "ShotValue", "T", "Text",
    "Video", "CompiledGraph", "compile_workflow", "FORMAT_VERSION", "Workflow", "json_schema", "save",
    "__version__", "parse_size", "looks_like_media", "loads", "from_dict",
    "estimates", "measure", "estimate", "Measurements", "Prior", "RunEstimate", "sketch_media",
]
