"""Deterministic, realistic lifecycle command traffic for tests, demos and benchmarks.

``generate_commands(n_certificates, seed, issuer=..., now=...)`` returns Kafka
``(key, value)`` pairs in publish order: wire JSON commands
(``certlife.contracts.commands``) for certificates drawn from the shared
product catalogue (``certlife.services.demo.catalogue``, which the fixture
generator draws from too): EV chargers, traction batteries, automotive
microcontrollers, tyres and EV charging cables under CCC, CQC, IECEE CB and
E-mark, with the standards, model names, number formats, companies and
factories the catalogue defines. Each industry has a few companies per run,
so holders hold several certificates.

Each certificate gets an ``issue`` followed by a legal walk through its
lifecycle (suspend, reinstate, renew, amend, revoke, withdraw); walks of
different certificates are interleaved, while one certificate's commands keep
their order and share one key (the certificate number), so they land on one
partition in order. ``expire-due`` sweeps are mixed in under the key
``expire-due``. Optional noise, as fractions of the certificates:

- ``duplicates``: a command re-sent later with the same bytes (same commandId);
- ``conflicts``: a command that must be rejected (a second revoke, a suspend
  or amend after revocation, a reinstate of a valid certificate, a second
  issue, a second suspend);
- ``malformed``: messages the command service dead-letters -- not JSON, not
  UTF-8, unknown type, schema-invalid, oversized (> 64 KiB); some carry a
  readable commandId, so they also get a rejected outcome.

The same seed and arguments always give the same bytes. Nothing here talks to
Kafka; see ``tests/integration/test_command_service.py`` and
``bench/bench_commands.py`` for publishers.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from certlife.contracts.commands import MAX_COMMAND_BYTES
from certlife.domain.values import format_instant
from certlife.services.demo import catalogue
from certlife.services.demo.catalogue import (
    COUNTRY_TABLE,
    LABS,
    PRODUCTS,
    REASONS,
    VALIDITY_YEARS,
    Country,
    Product,
)
from certlife.services.demo.choosers import Dice, Draw

#: Key of ``expire-due`` commands (they concern no single certificate).
EXPIRE_DUE_KEY = b"expire-due"

Message = tuple[bytes, bytes]


#: Companies per industry in one scenario, so that holders hold several certificates.
COMPANIES = 8
#: Share (per mille) of certificates held by their manufacturer; the rest by another company.
SELF_HELD = 800

#: Reasons a command may carry: the catalogue's reasons of the event it records.
_REASONS = {
    "suspend": REASONS["suspended"],
    "reinstate": REASONS["reinstated"],
    "renew": REASONS["renewed"],
    "revoke": REASONS["revoked"],
    "withdraw": REASONS["withdrawn"],
}

#: Transition weights of the walk (status -> [(command, weight)]); "stop" ends a walk.
_WALK = {
    "valid": (("suspend", 3), ("amend", 3), ("renew", 2), ("revoke", 1), ("withdraw", 1), ("stop", 5)),
    "suspended": (("reinstate", 5), ("renew", 1), ("amend", 1), ("revoke", 2), ("withdraw", 1), ("stop", 1)),
}


@dataclass
class _Cert:
    number: str
    product: Product
    scheme: str
    family: str
    holder: str
    manufacturer: str
    factories: list[str]
    models: list[str]
    scope: str
    valid_from: datetime
    valid_until: datetime
    status: str = "valid"
    amendments: int = 0
    messages: list[Message] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, issuer: str, now: datetime) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.dice = Dice(self.rng)
        self.issuer = issuer
        self.now = now
        self.serial = 0
        self._companies: dict[tuple[str, int], tuple[str, Country]] = {}

    def command_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def encode(self, obj: dict[str, Any]) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    def company(self, industry: str) -> tuple[str, Country]:
        """One of the run's ``COMPANIES`` companies of ``industry`` (same number, same name)."""
        key = (industry, self.dice.below(COMPANIES))
        if key not in self._companies:
            draw = Draw("certlife-scenario-v2", self.seed, *key)
            self._companies[key] = catalogue.company(draw, industry)
        return self._companies[key]

    def new_certificate(self) -> _Cert:
        dice = self.dice
        product = dice.pick(PRODUCTS)
        scheme = dice.pick(product.schemes)[0]
        manufacturer, country = self.company(product.industry)
        holder = manufacturer if dice.chance(SELF_HELD) else self.company(product.industry)[0]
        family = dice.pick(product.families)
        first, rating = catalogue.model(dice, product, family)
        extra = [catalogue.model(dice, product, family)[0] for _ in range(dice.below(3))]
        factories = [catalogue.address(dice, country)]
        if dice.chance(200):  # a second plant, sometimes abroad
            factories.append(catalogue.address(dice, dice.pick(COUNTRY_TABLE)))
        start = self.now - timedelta(days=self.rng.randrange(0, 20), seconds=self.rng.randrange(86_400))
        self.serial += 1
        return _Cert(
            number=catalogue.number(dice, product, scheme, self.serial, start.year),
            product=product,
            scheme=scheme,
            family=family,
            holder=holder,
            manufacturer=manufacturer,
            factories=factories,
            models=list(dict.fromkeys([first, *extra])),
            scope=catalogue.scope(dice, product, rating),
            valid_from=start,
            valid_until=start + timedelta(days=365 * VALIDITY_YEARS[scheme]),
        )

    def base(self, cert: _Cert, kind: str, **members: Any) -> dict[str, Any]:
        obj = {"type": kind, "commandId": self.command_id(), "issuer": self.issuer, "number": cert.number}
        obj.update({k: v for k, v in members.items() if v is not None})
        return obj

    def issue(self, cert: _Cert) -> dict[str, Any]:
        valid_from = format_instant(cert.valid_from)
        report = {"lab": self.dice.pick(LABS), "reportNumber": f"TR-{self.rng.randrange(10**7, 10**8)}"}
        return self.base(
            cert,
            "issue",
            scheme=cert.scheme,
            holder=cert.holder,
            manufacturer=cert.manufacturer,
            factories=list(cert.factories),
            product=cert.product.name,
            models=list(cert.models),
            standards=catalogue.standards(cert.product, cert.scheme, valid_from),
            scope=cert.scope,
            validFrom=valid_from,
            validUntil=format_instant(cert.valid_until),
            testReports=[report],
        )

    def amend(self, cert: _Cert) -> dict[str, Any]:
        """An amendment from the catalogue: a model, a factory or a scope clause added."""
        cert.amendments += 1
        change = catalogue.amendment(
            self.dice, cert.product, cert.family, cert.models, cert.factories, cert.amendments
        )
        if change.kind == "models":
            cert.models = [*cert.models, change.value]
            return self.base(cert, "amend", models=list(cert.models), reason=change.note)
        if change.kind == "factories":
            cert.factories = [*cert.factories, change.value]
            return self.base(cert, "amend", factories=list(cert.factories), reason=change.note)
        cert.scope = f"{cert.scope}; {change.value}"
        return self.base(cert, "amend", scope=cert.scope, reason=change.note)

    def step(self, cert: _Cert, kind: str) -> dict[str, Any]:
        """The wire command of ``kind`` and the state it leaves ``cert`` in (always legal)."""
        rng = self.rng
        if kind == "amend":
            return self.amend(cert)
        reason = self.dice.pick(_REASONS[kind])
        if kind == "suspend":
            cert.status = "suspended"
            review = (self.now + timedelta(days=rng.randrange(30, 120))).date().isoformat()
            return self.base(cert, kind, reason=reason, reviewDate=review)
        if kind == "reinstate":
            cert.status = "valid"
            return self.base(cert, kind, reason=reason)
        if kind == "renew":
            new_from = cert.valid_until - timedelta(days=30)
            cert.valid_until = new_from + timedelta(days=365 * VALIDITY_YEARS[cert.scheme])
            return self.base(
                cert,
                kind,
                validFrom=format_instant(new_from),
                validUntil=format_instant(cert.valid_until),
                reason=reason,
            )
        if kind in ("revoke", "withdraw"):
            cert.status = "final"
            return self.base(cert, kind, reason=reason)
        raise ValueError(kind)

    def walk(self, cert: _Cert) -> None:
        cert.messages.append((cert.number.encode(), self.encode(self.issue(cert))))
        while cert.status != "final":
            choices = _WALK[cert.status]
            kind = self.rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
            if kind == "stop":
                break
            cert.messages.append((cert.number.encode(), self.encode(self.step(cert, kind))))

    def conflict(self, cert: _Cert) -> Message:
        """A command the service must reject, appended after the certificate's walk."""
        rng = self.rng
        if cert.status == "final":
            kind = rng.choice(("revoke", "suspend", "amend"))
            extra: dict[str, Any] = {"reason": "conflicting request from a second office"}
            if kind == "amend":
                extra = {"scope": "conflicting scope"}
            obj = self.base(cert, kind, **extra)
        elif cert.status == "valid":
            obj = rng.choice((self.base(cert, "reinstate"), {**self.issue(cert)}))
        else:
            obj = self.base(cert, "suspend", reason="suspended twice by mistake")
        return cert.number.encode(), self.encode(obj)

    def malformed(self) -> Message:
        """One message the service must dead-letter (some with a readable commandId)."""
        rng = self.rng
        key = f"junk-{rng.randrange(10**6)}".encode()
        cid = self.command_id()
        kind = rng.randrange(7)
        if kind == 0:
            return key, b'{"type": "revoke", "commandId": '  # truncated JSON
        if kind == 1:
            return key, b"\xff\xfe not utf-8 \xc3\x28"
        if kind == 2:
            return key, self.encode({"type": "cancel", "commandId": cid, "number": "X-1"})
        if kind == 3:  # a suspend without its required reason
            return key, self.encode(
                {"type": "suspend", "commandId": cid, "issuer": self.issuer, "number": "X"}
            )
        if kind == 4:  # valid JSON, but well over the size limit, with a readable id
            obj = {"type": "amend", "commandId": cid, "issuer": self.issuer, "number": "X"}
            obj["scope"] = "x" * (MAX_COMMAND_BYTES + 1024)
            return key, self.encode(obj)
        if kind == 5:  # oversized garbage
            return key, b"\x00" * (MAX_COMMAND_BYTES + 1)
        return key, b"[1, 2, 3]"


def _interleave(rng: random.Random, streams: list[list[Message]]) -> list[Message]:
    """Merge streams in random order while keeping each stream's own order."""
    pending = [list(reversed(s)) for s in streams if s]
    out: list[Message] = []
    while pending:
        i = rng.randrange(len(pending))
        out.append(pending[i].pop())
        if not pending[i]:
            pending[i] = pending[-1]
            pending.pop()
    return out


def generate_commands(
    n_certificates: int,
    seed: int,
    *,
    issuer: str,
    now: datetime,
    duplicates: float = 0.0,
    conflicts: float = 0.0,
    malformed: float = 0.0,
) -> list[Message]:
    """Lifecycle commands for ``n_certificates`` as Kafka ``(key, value)`` pairs, in publish order.

    ``now`` anchors validity periods (certificates are valid for years from
    about ``now``; commands carry no ``effectiveAt``, so the service's clock
    applies). ``duplicates``, ``conflicts`` and ``malformed`` are expected
    fractions of ``n_certificates`` (each certificate draws independently) and
    must lie in ``[0, 1]``. About one ``expire-due`` sweep is added per 100
    certificates. Deterministic in all arguments.
    """
    for name, value in (("duplicates", duplicates), ("conflicts", conflicts), ("malformed", malformed)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")
    if n_certificates < 0:
        raise ValueError("n_certificates must not be negative")
    gen = _Generator(seed, issuer, now)
    streams: list[list[Message]] = []
    for _ in range(n_certificates):
        cert = gen.new_certificate()
        gen.walk(cert)
        if gen.rng.random() < conflicts:
            cert.messages.append(gen.conflict(cert))
        if gen.rng.random() < duplicates:
            # Re-send one earlier command at the end: same key, same bytes, same commandId.
            cert.messages.append(gen.rng.choice(cert.messages))
        streams.append(cert.messages)
        if gen.rng.random() < malformed:
            streams.append([gen.malformed()])
    for _ in range(max(1, n_certificates // 100) if n_certificates else 0):
        sweep = {"type": "expire-due", "commandId": gen.command_id(), "limit": 500}
        streams.append([(EXPIRE_DUE_KEY, gen.encode(sweep))])
    return _interleave(gen.rng, streams)
