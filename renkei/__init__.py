"""The composition root: wires the services to a bus and stores, and parses the commands."""
