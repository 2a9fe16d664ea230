"""The government offices: J-LIS, the municipalities and every other provider, each an office
on the participant runtime (``hub.node``). See ``agencies/README.md``."""
