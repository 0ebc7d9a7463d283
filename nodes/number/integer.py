from reelgraph.graph import Int, Node, Output, Param


class NumberIntegerNode(Node):
    """A whole number you set: a seed, a count, a frame number."""

    type = "number.integer"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    value = Param(Int, default=0, wirable=False, doc="The whole number to pass on.")
    out = Output(Int, doc="The same number.")

    def run(self, ctx, value):
        return value
