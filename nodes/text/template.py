import string

from reelgraph.graph import Input, Node, NodeError, Output, Param, Text

_SLOTS = ("a", "b", "c", "d")


class TextTemplateNode(Node):
    """Fill {a} {b} {c} {d} in a template with the wired texts ({n}: the element number when mapped)."""

    type = "text.template"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    template = Param(Text, default="{a}", multiline=True, wirable=False,
                     doc="Text with placeholders {a} {b} {c} {d}, and {n} for the 1-based element number.")
    a = Input(Text, required=False, doc="Value for {a}.")
    b = Input(Text, required=False, doc="Value for {b}.")
    c = Input(Text, required=False, doc="Value for {c}.")
    d = Input(Text, required=False, doc="Value for {d}.")
    text = Output(Text, doc="The filled-in template.")

    def run(self, ctx, template, a, b, c, d):
        values = {"a": a, "b": b, "c": c, "d": d,
                  "n": str((ctx.element or 0) + 1)}
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as e:
            raise NodeError(f"template is malformed: {e}", field="template",
                            fix="write braces as {a}; a literal brace is {{ or }}") from None
        for name in fields:
            if name not in values:
                raise NodeError(f"placeholder {{{name}}} is not one of {{a}} {{b}} {{c}} {{d}} {{n}}",
                                field="template", fix="rename it or write a literal brace as {{")
            if values[name] is None:
                raise NodeError(f"the template uses {{{name}}} but input {name} is not wired",
                                field=name, fix=f"wire a Text into {name} or remove {{{name}}}")
        return template.format(**values)
