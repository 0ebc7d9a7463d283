"""The model manager and the executor's model scheduling.

A model loads once per process and stays while it fits the memory budget; the least recently used
unpinned model is evicted first; a model in use is never evicted; calls that share a model run back
to back so it loads once per run; a loader's failure fails the node that needed it, not the run.
These tests use a counting loader of their own kind ("counted"): the real loaders are exercised by
the tiny-model tests (test_models_*.py).
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import make_workflow
from reelgraph import graph
from reelgraph.graph import Input, ModelNeed, Node, NodeError, Output, Param, Text
from reelgraph.graph.models import LoadedModel, ModelManager, register_loader
from stubnodes import make_registry

MB = 1 << 20
GB = 1 << 30


class CountingLoader:
    """Loads a "model" that is just its id, as big as the need's vram_gb says."""

    def __init__(self):
        self.loaded: list[str] = []
        self.unloaded: list[str] = []
        self.order: list[str] = []
        self.lock = threading.Lock()

    def key(self, need):
        return (need.id,)

    def load(self, need, report):
        if need.id.startswith("broken"):
            raise NodeError(f"cannot load {need.id}: weights are corrupt", field="model",
                            fix="pull it again")
        with self.lock:
            self.loaded.append(need.id)
            self.order.append(f"load {need.id}")

        def unload():
            self.unloaded.append(need.id)
            self.order.append(f"unload {need.id}")
        return LoadedModel({"id": need.id}, int(need.vram_gb * GB), unload=unload)


class Overlap:
    """How many threads were inside ``hold`` at once, at most."""

    def __init__(self):
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(seconds)
        with self.lock:
            self.active -= 1


@pytest.fixture
def loader():
    counting = CountingLoader()
    register_loader("counted", counting)
    return counting


def need(model_id: str, mb: float = 10) -> ModelNeed:
    return ModelNeed(id=model_id, kind="counted", vram_gb=mb * MB / GB, name="pipeline")


def test_a_model_loads_once_and_is_reused(loader):
    manager = ModelManager(budget_bytes=100 * MB)
    with manager.use([need("a")]) as got:
        assert got["pipeline"].obj == {"id": "a"}
    with manager.use([need("a")]) as again:
        assert again["pipeline"].obj == {"id": "a"}
    assert loader.loaded == ["a"]
    assert (manager.loads, manager.hits) == (1, 1)


def test_least_recently_used_model_is_evicted_when_the_budget_is_full(loader):
    manager = ModelManager(budget_bytes=25 * MB)
    for model_id in ("a", "b", "a", "c"):  # a is used again after b, so b is the LRU when c comes
        with manager.use([need(model_id)]):
            pass
    assert [k[1] for k in manager.resident()] == ["a", "c"]
    assert loader.unloaded == ["b"]
    assert manager.resident_bytes <= manager.budget_bytes


def test_room_is_made_before_a_model_loads_not_after(loader):
    # on a GPU, loading the next model beside the old ones is the out-of-memory case
    events = []
    manager = ModelManager(budget_bytes=25 * MB)
    for model_id, mb in (("a", 10), ("b", 10), ("big", 20)):
        with manager.use([need(model_id, mb)]) as got:
            events.append(("resident while loaded", sorted(k[1] for k in manager.resident())))
            assert got["pipeline"].obj == {"id": model_id}
    assert events[-1] == ("resident while loaded", ["big"])
    assert loader.unloaded == ["a", "b"]
    assert loader.order == ["load a", "load b", "unload a", "unload b", "load big"]


def test_a_model_in_use_is_never_evicted(loader):
    manager = ModelManager(budget_bytes=15 * MB)
    with manager.use([need("a")]):
        with manager.use([need("b")]):  # over budget while both are pinned: both stay
            assert {k[1] for k in manager.resident()} == {"a", "b"}
        assert loader.unloaded == ["b"]  # b released while a is still pinned: b goes
    assert [k[1] for k in manager.resident()] == ["a"]


def test_lowering_the_budget_evicts_and_clear_unloads_everything(loader):
    manager = ModelManager(budget_bytes=100 * MB)
    for model_id in ("a", "b", "c"):
        with manager.use([need(model_id)]):
            pass
    manager.budget_bytes = 15 * MB
    assert [k[1] for k in manager.resident()] == ["c"]
    manager.clear()
    assert manager.resident() == [] and sorted(loader.unloaded) == ["a", "b", "c"]


def test_two_threads_asking_for_one_model_load_it_once(loader):
    manager = ModelManager(budget_bytes=100 * MB)
    barrier = threading.Barrier(4)

    def use():
        barrier.wait()
        with manager.use([need("shared")]):
            pass

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.loaded == ["shared"] and manager.hits == 3


def test_an_unknown_kind_says_how_to_install_the_loaders():
    with pytest.raises(NodeError) as err, ModelManager().use([ModelNeed(id="x", kind="nope")]):
        pass
    assert "reelgraph[models]" in err.value.fix


# -- the executor


class UsesModel(Node):
    """Generate with the model named by `model` (a test node: returns the model id it was handed)."""

    type = "test.uses_model"
    version = "1.0.0"

    model = Param(Text, default="a")
    label = Param(Text, default="")
    after = Input(Text, required=False)
    out = Output(Text)

    @classmethod
    def models_for(cls, values, workspace):
        return (need(values["model"]),) if values["model"] else ()

    def run(self, ctx, model, label, after):
        got = ctx.models.get("pipeline")
        return f"{label}:{got.obj['id'] if got else 'none'}"


@pytest.fixture
def reg():
    r = make_registry()
    r.register(UsesModel, pack="test")
    return r


def run_models(reg, manager, nodes, edges=()):
    executor = graph.LocalExecutor(None, models=manager)
    with executor:
        return graph.run(make_workflow(nodes, list(edges)), cache=False, registry=reg, executor=executor)


def test_the_node_receives_its_loaded_model_through_its_context(reg, loader):
    result = run_models(reg, ModelManager(100 * MB), {"g": ("test.uses_model", {"model": "a", "label": "g"})})
    assert result.ok and result.value("g.out") == "g:a"


def test_nodes_sharing_a_model_run_back_to_back_so_it_loads_once(reg, loader):
    # room for one model only: the order a, b, a would load three times; grouping loads twice
    nodes = {"n1": ("test.uses_model", {"model": "a", "label": "1"}),
             "n2": ("test.uses_model", {"model": "b", "label": "2"}),
             "n3": ("test.uses_model", {"model": "a", "label": "3"})}
    manager = ModelManager(budget_bytes=15 * MB)
    result = run_models(reg, manager, nodes)
    assert result.ok
    assert loader.loaded in (["a", "b"], ["b", "a"])
    assert manager.loads == 2


def test_model_calls_hold_the_device_one_at_a_time(reg, loader):
    overlap = Overlap()

    class Slow(CountingLoader):
        def load(self, need, report):
            overlap.hold(0.05)
            return super().load(need, report)

    register_loader("counted", Slow())
    nodes = {f"n{i}": ("test.uses_model", {"model": f"m{i}", "label": str(i)}) for i in range(4)}
    assert run_models(reg, ModelManager(100 * MB), nodes).ok
    assert overlap.peak == 1


def test_a_model_that_fails_to_load_fails_its_node_and_keeps_the_rest(reg, loader):
    nodes = {"bad": ("test.uses_model", {"model": "broken-1", "label": "x"}),
             "good": ("test.uses_model", {"model": "a", "label": "y"}),
             "after": ("test.uses_model", {"model": "", "label": "z"})}
    result = run_models(reg, ModelManager(100 * MB), nodes, [("bad.out", "after.after")])
    assert result.status == "failed"
    failure = result.failures[0]
    assert (failure.node, failure.field) == ("bad", "model") and "pull it again" in failure.fix
    assert result.value("good.out") == "y:a"
    assert "after" in result.skipped


def test_loading_is_reported_as_progress(reg, loader):
    events = []
    executor = graph.LocalExecutor(None, models=ModelManager(100 * MB))
    with executor:
        graph.run(make_workflow({"g": ("test.uses_model", {"model": "a"})}), cache=False, registry=reg,
                  executor=executor, on_event=events.append)
    assert any(e.event == "node_progress" and e.message == "loading a" for e in events)


def test_two_runs_never_call_models_at_the_same_time(loader):
    # two editor tabs (or API calls) in one process share the GPU and the pipelines: a pipeline's
    # scheduler keeps state, so the manager hands out one model block at a time
    manager = ModelManager(budget_bytes=100 * MB)
    overlap = Overlap()
    barrier = threading.Barrier(3)

    def call(model_id):
        barrier.wait()
        for _ in range(5):
            with manager.use([need(model_id)]):
                overlap.hold(0.005)

    threads = [threading.Thread(target=call, args=(m,)) for m in ("a", "a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap.peak == 1 and manager.loads == 2
