from reelgraph.graph import Input, List, Node, NodeError, Output, T


class ListBuildNode(Node):
    """Collect up to six wired values, in slot order, into one list."""

    type = "list.build"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    item_1 = Input(T, required=False, doc="First item.")
    item_2 = Input(T, required=False, doc="Second item.")
    item_3 = Input(T, required=False, doc="Third item.")
    item_4 = Input(T, required=False, doc="Fourth item.")
    item_5 = Input(T, required=False, doc="Fifth item.")
    item_6 = Input(T, required=False, doc="Sixth item.")
    items = Output(List[T], doc="The wired items; empty slots are left out.")

    def run(self, ctx, **slots):
        items = [slots[f"item_{i}"] for i in range(1, 7) if slots[f"item_{i}"] is not None]
        if not items:
            raise NodeError("no item is wired", field="item_1", fix="wire at least one value into item_1")
        return items
