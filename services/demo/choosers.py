"""Sources of deterministic choices that the catalogue's naming functions draw from.

``certlife.services.demo.catalogue`` composes names, numbers and addresses from
any ``Chooser``. Two kinds exist:

* ``Draw`` -- choices from BLAKE2b digests of its arguments, so the same
  arguments give the same choices in any process and in any order (the fixture
  generator rebuilds a certificate from its number alone);
* ``Dice`` -- choices from one shared ``random.Random`` stream, in call order
  (the scenario generator walks its certificates one after another).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    """A deterministic source of choices."""

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        ...

    def pick(self, items: Sequence[T]) -> T:
        """One element of ``items``."""
        ...

    def chance(self, per_mille: int) -> bool:
        """True with probability ``per_mille`` / 1000."""
        ...


class Draw:
    """A stream of deterministic choices from BLAKE2b digests of ``parts``.

    The digest is read as one 512-bit number from which each choice takes
    a mixed-radix digit; a fresh digest is chained in when fewer than 64 bits
    remain, so every choice is uniform to within 2**-64 · n.
    """

    __slots__ = ("_digest", "_value")

    def __init__(self, *parts: object) -> None:
        self._digest = hashlib.blake2b("\n".join(map(str, parts)).encode(), digest_size=64).digest()
        self._value = int.from_bytes(self._digest, "big")

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        if self._value >> 64 == 0:
            self._digest = hashlib.blake2b(self._digest, digest_size=64).digest()
            self._value = int.from_bytes(self._digest, "big")
        self._value, digit = divmod(self._value, n)
        return digit

    def pick(self, items: Sequence[T]) -> T:
        """One element of ``items``."""
        return items[self.below(len(items))]

    def chance(self, per_mille: int) -> bool:
        """True with probability ``per_mille`` / 1000."""
        return self.below(1000) < per_mille


class Dice:
    """Choices taken in call order from a shared ``random.Random``."""

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        return self.rng.randrange(n)

    def pick(self, items: Sequence[T]) -> T:
        """One element of ``items``."""
        return items[self.rng.randrange(len(items))]

    def chance(self, per_mille: int) -> bool:
        """True with probability ``per_mille`` / 1000."""
        return self.rng.randrange(1000) < per_mille
