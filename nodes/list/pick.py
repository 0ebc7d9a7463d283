from reelgraph.graph import Input, Int, List, Node, NodeError, Output, Param, T


class ListPickNode(Node):
    """Take one item out of a list by its position (0 is the first, -1 the last)."""

    type = "list.pick"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    items = Input(List[T], doc="The list to pick from.")
    index = Param(Int, default=0, doc="Position: 0 is the first item, -1 the last.")
    item = Output(T, doc="The picked item.")

    def run(self, ctx, items, index):
        if not items:
            raise NodeError("the list is empty", field="items", fix="wire a non-empty list")
        if not -len(items) <= index < len(items):
            raise NodeError(f"index {index} is out of range for a list of {len(items)}", field="index",
                            fix=f"use 0..{len(items) - 1}, or -1 for the last item")
        return items[index]
