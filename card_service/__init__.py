"""The individual number card: APDU-level emulator, PC/SC access, issuance, client."""
