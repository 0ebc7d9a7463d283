from reelgraph.graph import Input, List, Node, Output, Param, Text


class TextJoinNode(Node):
    """Join a list of texts into one, with a separator between them."""

    type = "text.join"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    items = Input(List[Text], doc="The texts to join, in order.")
    separator = Param(Text, default="\n", doc="Put between two items (\\n is a new line).")
    text = Output(Text, doc="The joined text.")

    def run(self, ctx, items, separator):
        return separator.join(items)
