"""Public certificate data of fixture certificates, as a pure function of hashes.

``certificate(key, cert, amendments, issued_day, vf_day, vu_day)`` rebuilds the
full public data of certificate ``cert`` after ``amendments`` amendments, so a
worker can produce any of its records without keeping the data in memory.
Everything comes from the shared product catalogue
(``certlife.services.demo.catalogue``); choices come from BLAKE2b digests of
the run key and the certificate number (``choosers.Draw``, never a clock or a
shared random state), so every process agrees.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

from certlife.services.demo import catalogue
from certlife.services.demo.catalogue import COUNTRY_TABLE, PRODUCTS, VALIDITY_YEARS, Country, Product
from certlife.services.demo.choosers import Draw

#: Day 0 of the fixture calendar; days are counted from here.
EPOCH_DATE = date(2020, 1, 1)
#: Companies per product family (popular ones hold many certificates).
COMPANIES = 1500


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
def _company(key: str, industry: str, number: int) -> tuple[str, Country]:
    """Company ``number`` of ``industry`` in this run: the same name wherever it appears."""
    return catalogue.company(Draw(key, "company", industry, number), industry)


def certificate(
    key: str, cert: int, amendments: int, issued_day: int, vf_day: int, vu_day: int
) -> tuple[dict[str, Any], str | None]:
    """Return the public data of ``cert`` and a note on its latest amendment (if any)."""
    product, scheme = product_of(key, cert)
    draw = Draw(key, "certificate", cert)
    manufacturer, country = _company(key, product.industry, COMPANIES * draw.below(1000) ** 2 // 1000**2)
    holder = manufacturer if draw.chance(700) else _company(key, product.industry, draw.below(COMPANIES))[0]
    family = draw.pick(product.families)
    first, rating = catalogue.model(draw, product, family)
    extra = [catalogue.model(draw, product, family)[0] for _ in range(draw.below(4))]
    models = list(dict.fromkeys([first, *extra]))
    factories = [catalogue.address(draw, country)]
    if draw.chance(250):  # a second plant, sometimes abroad
        factories.append(catalogue.address(draw, draw.pick(COUNTRY_TABLE)))
    scope = catalogue.scope(draw, product, rating)
    number = catalogue.number(draw, product, scheme, cert + 1, day_date(issued_day).year)
    note = None
    for ordinal in range(1, amendments + 1):
        change = catalogue.amendment(
            Draw(key, "amendment", cert, ordinal), product, family, models, factories, ordinal
        )
        if change.kind == "models":
            models.append(change.value)
        elif change.kind == "factories":
            factories.append(change.value)
        else:
            scope = f"{scope}; {change.value}"
        note = change.note
    valid_from = day_date(vf_day).isoformat()
    data = {
        "number": number,
        "scheme": scheme,
        "holder": holder,
        "manufacturer": manufacturer,
        "factories": factories,
        "product": product.name,
        "models": models,
        "standards": catalogue.standards(product, scheme, valid_from),
        "scope": scope,
        "validFrom": f"{valid_from}T00:00:00Z",
        "validUntil": f"{day_date(vu_day).isoformat()}T00:00:00Z",
    }
    return data, note
