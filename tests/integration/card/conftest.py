"""The card's integration tests run against the real PC/SC stack: pcscd with the vpcd
virtual reader. They fail, never skip, when it is missing (see card_env.require_pcsc)."""

from card_env import ca

__all__ = ["ca"]
