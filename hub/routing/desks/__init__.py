"""The hub's desks: one per message flow, registered by message type (``router.desks_for``).

Each desk takes what it needs explicitly (the ``Forwarder``, the token client, the directory,
the registry...) and answers one kind of request: ``handle`` returns the context (with the
person once known) and the outcome to record now, or None when an office's reply (or the
deadline) will finish it; ``complete`` turns that office's reply into the outcome to record.
The router keeps only the steps every flow shares. See ``hub/routing/README.md``.
"""

from hub.routing.desks.desk import PROVIDER_ANSWERS, Desk
from hub.routing.desks.forward import Forwarder, deadline_message

__all__ = ["PROVIDER_ANSWERS", "Desk", "Forwarder", "deadline_message"]
