"""The ``backend`` param shared by every generative node, and how a choice resolves."""

from __future__ import annotations

from reelgraph.graph import Choice, NodeError, Param, Text

BACKENDS = ("draft", "diffusers", "auto")


def backend_param(default: str = "draft") -> Param:
    return Param(Choice, default=default, choices=BACKENDS, wirable=False,
                 doc="draft: procedural on the CPU, seconds (an animatic); diffusers: local models "
                     "(not built yet); auto: models where a GPU and the weights are present, else draft.")


def model_param() -> Param:
    return Param(Text, default="", wirable=False,
                 doc="Model preset id for the diffusers backend (empty: the node's default preset).")


def resolve(ctx, backend: str) -> str:
    """The backend that will actually run. Only ``draft`` is built in this release."""
    if backend == "draft":
        return "draft"
    if backend == "auto":
        ctx.warn("backend auto: no model backend is installed in this release, rendering the draft")
        return "draft"
    raise NodeError(f"backend {backend!r} is not available in this release", field="backend",
                    fix="set backend to draft (or auto, which falls back to draft)")
