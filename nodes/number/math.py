import math

from reelgraph.graph import Choice, Float, Node, NodeError, Output, Param

_OPS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "min": min,
    "max": max,
    # math.pow, not **: a negative base with a fractional exponent raises ValueError instead of
    # returning a complex number (which float() cannot take).
    "power": math.pow,
}


class NumberMathNode(Node):
    """Combine two numbers: add, subtract, multiply, divide, min, max or power."""

    type = "number.math"
    instant = True  # milliseconds, no media: the planner may run it to look ahead
    version = "1.0.0"

    a = Param(Float, default=0.0, doc="First number (set or wire it).")
    b = Param(Float, default=0.0, doc="Second number (set or wire it).")
    op = Param(Choice, default="add", choices=list(_OPS), doc="What to do with a and b.")
    result = Output(Float, doc="a op b.")

    def run(self, ctx, a, b, op):
        if op == "divide" and b == 0:
            raise NodeError("cannot divide by zero", field="b", fix="set b to a non-zero number")
        try:
            value = float(_OPS[op](a, b))
        except (OverflowError, ValueError, ZeroDivisionError) as e:
            raise NodeError(f"{op} of {a} and {b} failed: {e}", field="op") from None
        if not math.isfinite(value):
            raise NodeError(f"{op} of {a} and {b} is not a finite number", field="b",
                            fix="use smaller numbers")
        return value
