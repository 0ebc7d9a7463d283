"""story nodes."""
