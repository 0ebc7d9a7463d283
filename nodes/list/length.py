from reelgraph.graph import Any, Input, Int, List, Node, Output


class ListLengthNode(Node):
    """Count the items in a list."""

    type = "list.length"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    items = Input(List[Any], doc="The list to count.")
    count = Output(Int, doc="How many items it has.")

    def run(self, ctx, items):
        return len(items)
