"""The hub's desks: one per message flow, registered by message type (``router.desks_for``).

Each desk takes what it needs explicitly (the ``Forwarder``, the token client, the directory,
the registry...) and answers one kind of request: ``handle`` returns the context (with the
person once known) and the outcome to record now, or None when an office's reply (or the
deadline) will finish it; a desk that claims may start work with the claim (``ahead``: its
result comes to ``handle``); ``complete`` turns that office's reply into the outcome to record.
The router keeps only the steps every flow shares. See ``hub/routing/README.md``.
"""

from hub.routing.desks.desk import PROVIDER_ANSWERS, Desk
from hub.routing.desks.forward import DEADLINE_BATCH, Forwarder

__all__ = ["DEADLINE_BATCH", "PROVIDER_ANSWERS", "Desk", "Forwarder"]
