from reelgraph.graph import Node, Output, Param, Text


class TextConstantNode(Node):
    """A piece of text you type in: a title, a script, a prompt."""

    type = "text.constant"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    text = Param(Text, default="", multiline=True, wirable=False, doc="The text to pass on.")
    out = Output(Text, doc="The same text.")

    def run(self, ctx, text):
        return text
