"""The loader: the packaged registry, generated on first use and kept in memory."""

from __future__ import annotations

import functools

from agencies.corporations.search import Index
from agencies.corporations.synth import DEFAULT_COUNT, generate

__all__ = ["default_index"]


@functools.cache
def default_index(count: int = DEFAULT_COUNT, seed: int = 1) -> Index:
    """``count`` synthetic corporations and the public facts (made in a fraction of a second)."""
    return Index(generate(count, seed=seed))
