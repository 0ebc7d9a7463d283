"""The Ray engine's test kit: a cluster of several Ray nodes on this machine, and nodes that say
where they ran. Imported by the tests and by bench/ray.py, and by the Ray workers (node classes
travel by reference, so this folder is on the workers' PYTHONPATH).

Nothing here starts Ray at import: the workers import it too.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from reelgraph.graph import (
    Float,
    Int,
    LoadedModel,
    ModelNeed,
    Node,
    NodeError,
    Output,
    Param,
    Registry,
    Resources,
    Text,
    register_loader,
)

TESTS = Path(__file__).resolve().parent


def _here() -> str:
    """The Ray node this process runs on ("driver" outside Ray)."""
    try:
        import ray
        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:
        pass
    return "driver"


class StubLoader:
    """Loads a pretend model of ``need.id`` in ``load_seconds`` (a model file read from disk)."""

    def key(self, need: ModelNeed) -> tuple:
        return (need.id,)

    def load(self, need, report) -> LoadedModel:
        report(f"loading {need.id}")
        time.sleep(float(need.option("load_seconds", "0") or 0))
        return LoadedModel({"id": need.id, "pid": os.getpid()}, nbytes=1 << 20)


register_loader("raytest", StubLoader())


class SleepHere(Node):
    """Occupy a core for a while, leave a note of where it ran in ``notes``, and say where."""

    type = "raytest.sleep_here"
    version = "1.0.0"
    resources = Resources(cpu=1)

    seconds = Param(Float, default=0.0, min=0)
    label = Param(Text, default="")
    notes = Param(Text, default="")
    out = Output(Text)

    def run(self, ctx, seconds, label, notes):
        where = _here()
        if notes:
            Path(notes, f"{label}-{where}-{os.getpid()}").write_text("started")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ctx.progress(1 - (end - time.monotonic()) / max(seconds, 1e-9), "working")
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return f"{label}@{where}"


class Generate(Node):
    """Run a pretend model ``model`` for ``seconds`` and say which process (model worker) ran it."""

    type = "raytest.generate"
    version = "1.0.0"
    resources = Resources(cpu=0)

    model = Param(Text, default="m")
    seconds = Param(Float, default=0.0, min=0)
    load_seconds = Param(Float, default=0.0, min=0)
    label = Param(Int, default=0)
    notes = Param(Text, default="")
    out = Output(Text)

    @classmethod
    def models_for(cls, values, workspace):
        return (ModelNeed(id=values["model"], kind="raytest", name="pipeline",
                          options=(("load_seconds", str(values.get("load_seconds") or 0)),)),)

    def run(self, ctx, model, seconds, load_seconds, label, notes):
        if notes:
            Path(notes, f"{label}-{os.getpid()}").write_text("started")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ctx.progress(1 - (end - time.monotonic()) / max(seconds, 1e-9), "denoising")
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return f"{ctx.models['pipeline'].obj['id']}#{label}@{os.getpid()}"


class DecidedWhereItRuns(Node):
    """Fail with the process that looked up its models (a backend that asks the machine)."""

    type = "raytest.decided_where_it_runs"
    version = "1.0.0"

    backend = Param(Text, default="auto")
    out = Output(Text)

    @classmethod
    def resolves_where_it_runs(cls, values):
        return values.get("backend") != "draft"

    @classmethod
    def models_for(cls, values, workspace):
        if values.get("backend") == "draft":
            return ()
        raise NodeError(f"looked up in process {os.getpid()}", field="backend", fix="none needed: a test")

    def run(self, ctx, backend):
        return "draft"


NODES = (SleepHere, Generate, DecidedWhereItRuns)


def registry(with_builtins: bool = True) -> Registry:
    from stubnodes import make_registry
    reg = make_registry(with_builtins)
    for cls in NODES:
        reg.register(cls, pack="raytest")
    return reg


@contextmanager
def local_cluster(tmp: Path, *, head_cpus: int = 1, workers: tuple[dict, ...] = ({"num_cpus": 1, "num_gpus": 1},
                                                                                 {"num_cpus": 1, "num_gpus": 1})):
    """A Ray cluster of several nodes on this machine (head + workers with logical GPUs), this
    process connected to it. Ray writes only under ``tmp``; the workers import this folder."""
    import ray
    from ray.cluster_utils import Cluster

    tmp.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "HOME", "PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    path = os.pathsep.join(p for p in (str(TESTS), saved["PYTHONPATH"]) if p)
    os.environ.update(RAY_TMPDIR=str(tmp), HOME=str(tmp), PYTHONPATH=path, RAY_USAGE_STATS_ENABLED="0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": head_cpus, "num_gpus": 0,
                                                            "include_dashboard": False})
    try:
        for args in workers:
            cluster.add_node(**args)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace="reelgraph-tests", log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
