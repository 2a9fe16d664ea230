"""The resident's card bridge: the card served to the resident portal on localhost.

:mod:`app` (the aiohttp application), with the pure :mod:`forms` (the resident's input) and
:mod:`pages` (the HTML it answers with).
"""
