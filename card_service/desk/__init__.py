"""The municipal desk: issue a card to a resident.

:mod:`resident` (the desk's input, validated), :mod:`issuance` (personalize a card through a
:class:`CardClient` with the CA's certificates), :mod:`ca_http` (the CA over HTTP) and
:mod:`edge` (a blank card in memory, issued, saved once).
"""
