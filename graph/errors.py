"""Errors that teach: every problem names where it is (node id, field) and what to do about it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# A sentence as an i18n key and its values: ("issue.missing_input", {"type": "Text", ...}). The
# editor words it in its own language; everything else reads the English ``message``/``fix``.
Words = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Issue:
    """One problem found in a workflow, with its location and a suggested fix."""

    message: str
    node: str | None = None
    field: str | None = None
    fix: str | None = None
    code: str = "invalid"
    # (message, fix) as Words, where the checker that found it says so; never part of equality
    words: tuple[Words | None, Words | None] = dataclasses.field(default=(None, None), compare=False, hash=False)

    @property
    def where(self) -> str:
        if self.node and self.field:
            return f"{self.node}.{self.field}"
        return self.node or self.field or "workflow"

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.fix:
            text += f" — {self.fix}"
        return text

    def to_dict(self) -> dict:
        return {"node": self.node, "field": self.field, "message": self.message,
                "fix": self.fix, "code": self.code}


class ReelgraphError(Exception):
    """Base class of every error reelgraph raises on purpose."""


class WorkflowError(ReelgraphError):
    """A workflow could not be read or is invalid; carries every problem found at once."""

    def __init__(self, issues: list[Issue] | Issue, source: str | None = None):
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        self.source = source
        head = f"{source}: " if source else ""
        lines = [str(i) for i in self.issues]
        if len(lines) == 1:
            super().__init__(head + lines[0])
        else:
            super().__init__(head + f"{len(lines)} problems:\n" + "\n".join(f"  {x}" for x in lines))


class DeclarationError(ReelgraphError, TypeError):
    """A node class is declared wrongly; raised when the class is defined or registered."""


class NodeError(ReelgraphError):
    """Raised by a node's run() for bad input; the executor adds the node id.

    ``field`` names the param or input at fault and ``fix`` tells the user what to change.
    """

    def __init__(self, message: str, field: str | None = None, fix: str | None = None):
        self.message = message
        self.field = field
        self.fix = fix
        super().__init__(str(Issue(message, field=field, fix=fix)) if field else
                         message + (f" — {fix}" if fix else ""))


class Cancelled(ReelgraphError):
    """The run was cancelled; raised inside a node at its next progress tick."""


@dataclass
class NodeFailure:
    """A node (or one element of a mapped node) that failed during a run."""

    node: str
    message: str
    field: str | None = None
    fix: str | None = None
    element: int | None = None
    traceback: str | None = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:
        where = self.node + (f"[{self.element}]" if self.element is not None else "")
        if self.field:
            where += f".{self.field}"
        text = f"{where}: {self.message}"
        if self.fix:
            text += f" — {self.fix}"
        return text


def describe(exc: BaseException) -> str:
    """``Type: message`` for any exception, even one whose ``str()`` itself fails."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:
        try:
            text = repr(exc)
        except Exception:
            text = "(its message could not be read)"
    return f"{name}: {text}" if text else name
