"""audio nodes."""
