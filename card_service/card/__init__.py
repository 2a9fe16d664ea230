"""The emulated card, pure but for its state file: APDUs in, APDUs out.

:mod:`apdu` and :mod:`tlv` (the encodings), :mod:`layout` (the JPKI and card-face input
support applications and their EFs), :mod:`pins`, :mod:`keys`, :mod:`texts` (the card-face
text files), :mod:`state` and :mod:`machine` (:class:`Card`, the card as a state machine),
:mod:`personalize` (the desk's issuing commands), :mod:`store` (the encrypted state file) and
:mod:`persistent` (durable before the answer leaves). Imports no reader, desk or bridge.
"""
