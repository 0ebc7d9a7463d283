"""wiring helpers: nodes that shape how wires run on the canvas."""
