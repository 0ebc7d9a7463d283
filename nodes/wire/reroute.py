from reelgraph.graph import Input, Node, Output, T


class RerouteNode(Node):
    """A point on a wire: route a long wire around other nodes; what comes in goes out unchanged."""

    type = "wire.reroute"
    instant = True  # a reference passed on: nothing to wait for
    version = "1.0.0"

    value = Input(T, doc="Anything: a text, an image, a list of shots...")
    out = Output(T, doc="The same value, untouched.")

    def run(self, ctx, value):
        return value
