"""The one error a command raises to stop: ``renkei`` prints ``renkei: CODE: message``, exit 2."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """A command cannot go on; ``renkei`` prints ``renkei: CODE: message`` and exits 2."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
