"""A secret string that never shows in a ``repr``, a message or a log line."""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """A secret string that never shows in ``repr`` or ``str``; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        """Keep ``value``."""
        self._value = value

    def reveal(self) -> str:
        """The secret itself: hand it on, never print or log it."""
        return self._value

    def encoded(self) -> bytes:
        """The secret's bytes as the environment held them (undecodable bytes kept as they were)."""
        return self._value.encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        """A fixed mask."""
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        """Equal secrets (constant-time comparison)."""
        return isinstance(other, Secret) and hmac.compare_digest(self.encoded(), other.encoded())

    def __hash__(self) -> int:
        """A hash consistent with equality (per-process salted, like every ``str`` hash)."""
        return hash((Secret, self._value))
