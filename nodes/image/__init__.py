"""image nodes."""
