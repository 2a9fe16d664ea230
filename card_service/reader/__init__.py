"""The host's side of the card: a reader and what a resident does through it.

:mod:`transport` (the one method every link has), :mod:`pcsc` (PC/SC through pyscard, the only
module that imports ``smartcard``, lazily), :mod:`vpcd` (the emulator's link to vpcd),
:mod:`access` (which of them to open), :mod:`client` (:class:`CardClient`, APDUs over any
transport) and :mod:`jpki` (show, read a certificate, sign, read the card-face text).
"""
