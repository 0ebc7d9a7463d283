"""Stub nodes for engine tests: small, observable, registered only in the tests' own registry."""

from __future__ import annotations

import time

from reelgraph.graph import (
    Float,
    Image,
    Input,
    Int,
    List,
    Node,
    NodeError,
    Output,
    Param,
    Registry,
    Resources,
    Text,
)
from reelgraph.graph.registry import default_registry


class SleepNode(Node):
    """Wait for a while (like a remote API call) and pass a label on."""

    type = "stub.sleep"
    version = "1.0.0"
    resources = Resources(cpu=0)

    seconds = Param(Float, default=0.0, min=0)
    label = Param(Text, default="")
    after = Input(Text, required=False)
    out = Output(Text)

    def run(self, ctx, seconds, label, after):
        time.sleep(seconds)
        return label if after is None else f"{after}>{label}"


class CpuSleepNode(Node):
    """Occupy a core for a while (a CPU-bound node)."""

    type = "stub.cpu_sleep"
    version = "1.0.0"
    resources = Resources(cpu=1)

    seconds = Param(Float, default=0.0, min=0)
    label = Param(Text, default="")
    out = Output(Text)

    def run(self, ctx, seconds, label):
        time.sleep(seconds)
        return label


class GpuSleepNode(Node):
    """Hold the (pretend) GPU for a while."""

    type = "stub.gpu_sleep"
    version = "1.0.0"
    resources = Resources(cpu=0, gpu=1, vram_gb=8)

    seconds = Param(Float, default=0.0, min=0)
    out = Output(Float)

    def run(self, ctx, seconds):
        start = time.monotonic()
        time.sleep(seconds)
        return start


class NumbersNode(Node):
    """Emit the list [start, start+1, ..., start+count-1]."""

    type = "stub.numbers"
    version = "1.0.0"

    start = Param(Int, default=0)
    count = Param(Int, default=3, min=0)
    items = Output(List[Int])

    def run(self, ctx, start, count):
        return list(range(start, start + count))


class AddNode(Node):
    """Add two whole numbers (b can be set or wired)."""

    type = "stub.add"
    version = "1.0.0"

    a = Input(Int)
    b = Param(Int, default=0, min=-1000, max=1000)
    total = Output(Int)

    def run(self, ctx, a, b):
        if a == 13:
            raise NodeError("13 is unlucky", field="a", fix="wire another number")
        return a + b


class SumNode(Node):
    """Sum a list of whole numbers."""

    type = "stub.sum"
    version = "1.0.0"

    items = Input(List[Int])
    total = Output(Int)

    def run(self, ctx, items):
        return sum(items)


class FailNode(Node):
    """Always fail, with a plain exception (a bug) or a NodeError (bad input)."""

    type = "stub.fail"
    version = "1.0.0"

    kind = Param(Text, default="bug")
    after = Input(Text, required=False)
    out = Output(Text)

    def run(self, ctx, kind, after):
        if kind == "bug":
            raise RuntimeError("boom")
        raise NodeError("bad input", field="kind", fix="set kind to something else")


class SlowProgressNode(Node):
    """Work in small steps, reporting progress and writing a scratch file (for cancellation tests)."""

    type = "stub.slow"
    version = "1.0.0"
    resources = Resources(cpu=0)

    steps = Param(Int, default=50, min=1)
    step_seconds = Param(Float, default=0.02, min=0)
    image = Output(Image)

    def run(self, ctx, steps, step_seconds):
        scratch = ctx.temp_path(".png")
        with open(scratch, "wb") as f:
            for i in range(steps):
                ctx.progress(i / steps, f"step {i}")
                f.write(b"x" * 1024)
                time.sleep(step_seconds)
        return ctx.store_file(scratch, "image", width=32, height=32)


class MakeImageNode(Node):
    """Write a small file as an Image into the artifact store."""

    type = "stub.make_image"
    version = "1.0.0"

    text = Param(Text, default="pixels")
    image = Output(Image)

    def run(self, ctx, text):
        path = ctx.temp_path(".png")
        path.write_bytes(text.encode() * 100)
        return ctx.store_file(path, "image", width=10, height=10)


class ImageSizeNode(Node):
    """Read an Image's size in bytes (proves the media reference points at a real file)."""

    type = "stub.image_size"
    version = "1.0.0"

    image = Input(Image)
    size = Output(Int)

    def run(self, ctx, image):
        with open(image.path, "rb") as f:
            return len(f.read())


STUBS = [SleepNode, CpuSleepNode, GpuSleepNode, NumbersNode, AddNode, SumNode, FailNode,
         SlowProgressNode, MakeImageNode, ImageSizeNode]


def make_registry(with_builtins: bool = True) -> Registry:
    reg = Registry()
    if with_builtins:
        for spec in default_registry():
            reg.register(spec.cls, pack="builtin")
    for cls in STUBS:
        reg.register(cls, pack="stubs")
    return reg


# --- Stubs added for the engine tests (tests/test_executor.py, test_cache.py, test_events.py,
# test_cancellation.py). Registered with the others through make_registry().


class IntsNode(Node):
    """Parse comma-separated whole numbers into a list (edit one number to change one element)."""

    type = "stub.ints"
    version = "1.0.0"

    values = Param(Text, default="1,2,3")
    items = Output(List[Int])

    def run(self, ctx, values):
        return [int(v) for v in values.split(",") if v.strip()]


class ChattyNode(Node):
    """Report progress and a warning, then pass a label on."""

    type = "stub.chatty"
    version = "1.0.0"
    resources = Resources(cpu=0)

    label = Param(Text, default="hi")
    out = Output(Text)

    def run(self, ctx, label):
        ctx.progress(0.5, "half way")
        ctx.warn(f"careful with {label}")
        ctx.progress(1.0, "done")
        return label


class WriteFileNode(Node):
    """Store ``text`` repeated ``repeat`` times as an Image; ``tag`` changes the cache key, not the bytes."""

    type = "stub.write_file"
    version = "1.0.0"

    text = Param(Text, default="data")
    repeat = Param(Int, default=100, min=1)
    tag = Param(Text, default="")
    image = Output(Image)

    def run(self, ctx, text, repeat, tag):
        path = ctx.temp_path(".png")
        path.write_bytes(text.encode() * repeat)
        return ctx.store_file(path, "image", width=1, height=1)


STUBS += [IntsNode, ChattyNode, WriteFileNode]
