"""video nodes."""
