"""Value objects of the certificate domain (frozen, validated on construction).

Times: every instant is timezone-aware and is written on the wire as an RFC 3339
UTC timestamp with a ``Z`` suffix at **second precision** (``2025-01-31T00:00:00Z``);
sub-second parts are dropped when an instant enters the domain, so what the
aggregate keeps is exactly what is published. Calendar dates (a suspension's
review date) are written ``YYYY-MM-DD``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from certlife.domain.errors import InvalidCertificateData

#: Wire keys of the public certificate data, in the order of the record schema.
PUBLIC_KEYS = (
    "number",
    "scheme",
    "holder",
    "manufacturer",
    "factories",
    "product",
    "models",
    "standards",
    "scope",
    "validFrom",
    "validUntil",
)

#: Schemes seen in practice; any non-empty scheme name is accepted.
KNOWN_SCHEMES = ("CCC", "CQC", "CB", "E-mark", "CE", "UL")

_MAX_TEXT = 1024


def instant(value: datetime) -> datetime:
    """Return ``value`` in UTC truncated to whole seconds; reject naive datetimes."""
    if value.tzinfo is UTC and not value.microsecond:  # already one (the common case)
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidCertificateData(f"time {value.isoformat()} has no time zone")
    return value.astimezone(UTC).replace(microsecond=0)


def format_instant(value: datetime) -> str:
    """Format an instant as RFC 3339 UTC with ``Z`` at second precision."""
    return _format_utc(instant(value))


@lru_cache(maxsize=4096)  # a batch formats the same few instants (its ``now``) for every event
def _format_utc(value: datetime) -> str:
    if value.year < 1000:  # isoformat would pad the year; keep strftime's form
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.replace(tzinfo=None).isoformat() + "Z"


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any offset) into an aware UTC instant."""
    try:
        return instant(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidCertificateData(f"not an RFC 3339 timestamp: {text!r}") from None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise InvalidCertificateData(f"{name} must be a non-empty string of at most 1024 chars")
    return value


def _texts(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str) or not values:
        raise InvalidCertificateData(f"{name} must be a non-empty list of strings")
    items = tuple(_text(name, v) for v in values)
    if len(set(items)) != len(items):
        raise InvalidCertificateData(f"{name} must not contain duplicates")
    return items


@dataclass(frozen=True)
class ValidityPeriod:
    """The period ``[valid_from, valid_until)`` in which a certificate is valid."""

    valid_from: datetime
    valid_until: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid_from", instant(self.valid_from))
        object.__setattr__(self, "valid_until", instant(self.valid_until))
        if self.valid_until <= self.valid_from:
            raise InvalidCertificateData("validUntil must be later than validFrom")


@dataclass(frozen=True)
class TestReportRef:
    """A test report a certificate relies on (for mutual recognition, e.g. IECEE CB)."""

    __test__ = False  # not a pytest test class despite the name

    lab: str
    report_number: str

    def __post_init__(self) -> None:
        _text("test report lab", self.lab)
        _text("test report number", self.report_number)

    def to_dict(self) -> dict[str, str]:
        """Return the internal (event) form ``{"lab", "reportNumber"}``."""
        return {"lab": self.lab, "reportNumber": self.report_number}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> TestReportRef:
        """Build from the form written by :meth:`to_dict`."""
        return cls(lab=data["lab"], report_number=data["reportNumber"])


@dataclass(frozen=True)
class Amendment:
    """A change of scope, models, factories and/or standards (``None`` = unchanged)."""

    scope: str | None = None
    models: tuple[str, ...] | None = None
    factories: tuple[str, ...] | None = None
    standards: tuple[str, ...] | None = None

    def changed_fields(self) -> list[str]:
        """Names of the fields this amendment sets."""
        return [k for k in ("scope", "models", "factories", "standards") if getattr(self, k) is not None]


@dataclass(frozen=True)
class CertificateData:
    """The public data of a certificate, as registries (IAF CertSearch, IECEE, CCC) show it."""

    number: str
    scheme: str
    holder: str
    manufacturer: str
    factories: tuple[str, ...]
    product: str
    models: tuple[str, ...]
    standards: tuple[str, ...]
    scope: str
    validity: ValidityPeriod

    def __post_init__(self) -> None:
        if len(self.number) > 128:
            raise InvalidCertificateData("number must be at most 128 chars")
        for name in ("number", "scheme", "holder", "manufacturer", "product", "scope"):
            _text(name, getattr(self, name))
        for name in ("factories", "models", "standards"):
            object.__setattr__(self, name, _texts(name, getattr(self, name)))

    @property
    def valid_until(self) -> datetime:
        """End of the validity period."""
        return self.validity.valid_until

    def to_public(self) -> dict[str, Any]:
        """Return the wire form with exactly the keys of :data:`PUBLIC_KEYS`."""
        return {
            "number": self.number,
            "scheme": self.scheme,
            "holder": self.holder,
            "manufacturer": self.manufacturer,
            "factories": list(self.factories),
            "product": self.product,
            "models": list(self.models),
            "standards": list(self.standards),
            "scope": self.scope,
            "validFrom": format_instant(self.validity.valid_from),
            "validUntil": format_instant(self.validity.valid_until),
        }

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> CertificateData:
        """Build from the wire form written by :meth:`to_public`."""
        if set(data) != set(PUBLIC_KEYS):
            raise InvalidCertificateData(f"certificate keys must be exactly {PUBLIC_KEYS}")
        return cls(
            number=data["number"],
            scheme=data["scheme"],
            holder=data["holder"],
            manufacturer=data["manufacturer"],
            factories=tuple(data["factories"]),
            product=data["product"],
            models=tuple(data["models"]),
            standards=tuple(data["standards"]),
            scope=data["scope"],
            validity=ValidityPeriod(parse_instant(data["validFrom"]), parse_instant(data["validUntil"])),
        )

    def amended(self, amendment: Amendment) -> CertificateData:
        """Return a copy with the amendment's fields replaced."""
        changes = {k: getattr(amendment, k) for k in amendment.changed_fields()}
        return replace(self, **changes)

    def renewed(self, validity: ValidityPeriod) -> CertificateData:
        """Return a copy with a new validity period."""
        return replace(self, validity=validity)


@dataclass(frozen=True)
class LifecyclePolicy:
    """Time rules of the issuer, passed in by the application (never a global).

    ``max_backdating``: how far ``effectiveAt`` may lie before ``recordedAt``.
    ``renewal_grace``: how long after expiry an expired certificate may be renewed.
    ``record_size``: the most bytes a log record of a certificate whose public form is
    the argument can take (any later event, reason, index), given by the application
    from the log's wire format; ``None`` leaves the size unchecked.
    ``max_record_bytes``: the largest record the log signs.
    """

    max_backdating: timedelta = timedelta(days=30)
    renewal_grace: timedelta = timedelta(days=90)
    record_size: Callable[[dict[str, Any]], int] | None = None
    max_record_bytes: int = 65535

    def __post_init__(self) -> None:
        if self.max_backdating < timedelta(0) or self.renewal_grace < timedelta(0):
            raise ValueError("policy durations must not be negative")


def format_date(value: date) -> str:
    """Format a calendar date as ``YYYY-MM-DD``."""
    return value.isoformat()
