"""reelgraph.ui.cluster — the Ray engine (``--engine ray``; the ``[ray]`` extra).

The executor's scheduler stays in the driver process; ``RayDispatcher`` runs node calls as Ray
tasks and on GPU model workers (see ``dispatcher``; what runs on the workers is in ``worker``).
Importing this module imports ray: the engine finds it through the entry-point group
``reelgraph.engines``, so the graph and node code never do.
"""

from .dispatcher import RayDispatcher

__all__ = ["RayDispatcher"]
