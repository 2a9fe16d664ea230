"""Which offices hold a token for a person, from when to when: routing data, no content.

The person is named by the hub's own token (never the number); an entry is written when an
office enrolls (符号取得) through the hub. See ``hub/directory/README.md``.
"""

from hub.directory.store import Directory, Enrollment, MemoryDirectory, PgDirectory

__all__ = ["Directory", "Enrollment", "MemoryDirectory", "PgDirectory"]
