"""story nodes."""

from ._script import EDITABLE_KEYS, ScriptError, detect_format, edit_shot

__all__ = ["EDITABLE_KEYS", "ScriptError", "detect_format", "edit_shot"]
