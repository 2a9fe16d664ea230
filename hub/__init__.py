"""The kit every process imports — ``hub.wire``, ``hub.bus``, ``hub.node``, ``hub.log``,
``hub.batch`` — and the network operator's service: ``hub.routing``, ``hub.records``,
``hub.directory``. The kit imports no service. See ``hub/README.md``."""
