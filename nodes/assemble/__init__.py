"""assemble nodes."""
