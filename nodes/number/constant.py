from reelgraph.graph import Float, Node, Output, Param


class NumberConstantNode(Node):
    """A number you set: a duration, a strength, a scale."""

    type = "number.constant"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    value = Param(Float, default=0.0, wirable=False, doc="The number to pass on.")
    out = Output(Float, doc="The same number.")

    def run(self, ctx, value):
        return value
