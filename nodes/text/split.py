from reelgraph.graph import Bool, List, Node, Output, Param, Text


class TextSplitNode(Node):
    """Split text into a list: one item per line, or per separator."""

    type = "text.split"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    text = Param(Text, default="", multiline=True, doc="The text to split (type it or wire it).")
    separator = Param(Text, default="", doc="Split at this text; empty splits into lines.")
    skip_empty = Param(Bool, default=True, doc="Drop items that are empty after trimming.")
    strip = Param(Bool, default=True, doc="Trim spaces around each item.")
    items = Output(List[Text], doc="The pieces, in order.")

    def run(self, ctx, text, separator, skip_empty, strip):
        parts = text.split(separator) if separator else text.splitlines()
        if strip:
            parts = [p.strip() for p in parts]
        if skip_empty:
            parts = [p for p in parts if p.strip()]
        return parts
