"""Public certificate data of fixture certificates, as a pure function of hashes.

``certificate(key, cert, amendments, vf_day, vu_day)`` rebuilds the full
public data of certificate ``cert`` after ``amendments`` amendments, so a
worker can produce any of its records without keeping the data in memory.
Choices come from BLAKE2b digests of the run key and the certificate number
(never from a clock or a shared random state), so every process agrees.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from certlife.services.demo.fixturegen.tables import (
    CB_BODIES,
    COUNTRIES,
    E_NUMBERS,
    PRODUCTS,
    SCOPE_EXTENSIONS,
    VALIDITY_YEARS,
    Product,
    Standard,
)

#: Day 0 of the fixture calendar; days are counted from here.
EPOCH_DATE = date(2020, 1, 1)
#: Companies per product family (popular ones hold many certificates).
COMPANIES = 1500

T = TypeVar("T")
_COUNTRY_TABLE = [c for c in COUNTRIES for _ in range(c[1])]


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


def day_date(day: int) -> date:
    """The calendar date of fixture day ``day``."""
    return EPOCH_DATE + timedelta(days=day)


def date_day(value: date) -> int:
    """The fixture day number of ``value``."""
    return (value - EPOCH_DATE).days


def add_years(day: int, years: int) -> int:
    """The fixture day ``years`` calendar years after ``day`` (29 February -> 28)."""
    start = day_date(day)
    try:
        return date_day(start.replace(year=start.year + years))
    except ValueError:  # 29 February
        return date_day(start.replace(year=start.year + years, day=28))


def product_of(key: str, cert: int) -> tuple[Product, str]:
    """The product family and scheme of certificate ``cert``."""
    draw = Draw(key, "product", cert)
    product = draw.pick(PRODUCTS)
    return product, draw.pick(product.schemes)[0]


def validity_years(key: str, cert: int) -> int:
    """Years of validity given at issue and on renewal."""
    return VALIDITY_YEARS[product_of(key, cert)[1]]


@functools.lru_cache(maxsize=16_384)
def _company(key: str, industry: str, number: int) -> tuple[str, tuple[Any, ...]]:
    draw = Draw(key, "company", industry, number)
    country = draw.pick(_COUNTRY_TABLE)
    root, city = draw.pick(country[5]), draw.pick(country[2])
    prefix = city.split(",")[0] + " " if country[0] == "China" else ""
    return f"{prefix}{root} {industry} {country[4]}", country


def _address(draw: Draw, country: tuple[Any, ...]) -> str:
    return f"{draw.pick(country[3])} {1 + draw.below(400)}, {draw.pick(country[2])}, {country[0]}"


def _standards(schemes: tuple[Standard, ...], vf_day: int) -> list[str]:
    out = []
    for std in schemes:
        if isinstance(std, str):
            out.append(std)
        else:
            old, new, since = std
            out.append(new if vf_day >= _switch_day(since) else old)
    return out


@functools.cache
def _switch_day(since: str) -> int:
    return date_day(date.fromisoformat(since))


def _number(draw: Draw, product: Product, scheme: str, cert: int, issued_day: int) -> str:
    year, serial = day_date(issued_day).year, cert + 1
    if scheme == "CCC":
        return f"{year}{product.code}{serial:08d}"
    if scheme == "CQC":
        return f"CQC{year % 100:02d}{product.code}{serial:07d}"
    if scheme == "CB":
        return f"{draw.pick(CB_BODIES)}-{serial:07d}"
    regulation, series = product.regulation
    return f"E{draw.pick(E_NUMBERS)} {regulation}R-{series} {serial:07d}"


def _model(draw: Draw, product: Product, family: str) -> tuple[str, str]:
    rating = draw.pick(product.ratings)
    return product.model.format(family=family, rating=rating, variant=draw.pick(product.variants)), rating


def certificate(
    key: str, cert: int, amendments: int, issued_day: int, vf_day: int, vu_day: int
) -> tuple[dict[str, Any], str | None]:
    """Return the public data of ``cert`` and a note on its latest amendment (if any)."""
    product, scheme = product_of(key, cert)
    draw = Draw(key, "certificate", cert)
    manufacturer, country = _company(key, product.industry, COMPANIES * draw.below(1000) ** 2 // 1000**2)
    holder = manufacturer if draw.chance(700) else _company(key, product.industry, draw.below(COMPANIES))[0]
    family = draw.pick(product.families)
    first, rating = _model(draw, product, family)
    models = list(dict.fromkeys([first] + [_model(draw, product, family)[0] for _ in range(draw.below(4))]))
    factories = [_address(draw, country)]
    if draw.chance(250):  # a second plant, sometimes abroad
        factories.append(_address(draw, draw.pick(_COUNTRY_TABLE)))
    scope = product.scope.format(rating=rating, detail=draw.pick(product.details))
    number = _number(draw, product, scheme, cert, issued_day)
    schemes = dict(product.schemes)
    note = None
    for amendment in range(1, amendments + 1):
        step = Draw(key, "amendment", cert, amendment)
        kind = step.pick(("models", "models", "factories", "scope"))
        if kind == "models":
            model = _model(step, product, family)[0]
            model = model if model not in models else f"{model} rev.{amendment}"
            models.append(model)
            note = f"model {model} added"
        elif kind == "factories":
            factory = _address(step, step.pick(_COUNTRY_TABLE))
            factory = factory if factory not in factories else f"{factory} (plant {amendment})"
            factories.append(factory)
            note = f"factory added: {factory}"
        else:
            extension = step.pick(SCOPE_EXTENSIONS)
            scope = f"{scope}; {extension}"
            note = f"scope amended: {extension}"
    data = {
        "number": number,
        "scheme": scheme,
        "holder": holder,
        "manufacturer": manufacturer,
        "factories": factories,
        "product": product.name,
        "models": models,
        "standards": _standards(schemes[scheme], vf_day),
        "scope": scope,
        "validFrom": f"{day_date(vf_day).isoformat()}T00:00:00Z",
        "validUntil": f"{day_date(vu_day).isoformat()}T00:00:00Z",
    }
    return data, note
