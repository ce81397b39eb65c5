"""Deterministic, realistic lifecycle command traffic for tests, demos and benchmarks.

``generate_commands(n_certificates, seed, issuer=..., now=...)`` returns Kafka
``(key, value)`` pairs in publish order: wire JSON commands
(``certlife.contracts.commands``) for certificates of products a certification body
really handles -- DC EV chargers (GB/T 18487.1-2023, IEC 61851-1), traction
batteries (GB 38031-2025), automotive microcontrollers (AEC-Q100), tyres
(UN ECE R117) and EV charging cables (IEC 62893) -- under CCC, CQC, IECEE CB
and E-mark, held by companies in several countries.

Each certificate gets an ``issue`` followed by a legal walk through its
lifecycle (suspend, reinstate, renew, amend, revoke, withdraw); walks of
different certificates are interleaved, while one certificate's commands keep
their order and share one key (the certificate number), so they land on one
partition in order. ``expire-due`` sweeps are mixed in under the key
``expire-due``. Optional noise, as fractions of the certificates:

- ``duplicates``: a command re-sent later with the same bytes (same commandId);
- ``conflicts``: a command that must be rejected (a second revoke, a suspend
  after revocation, a reinstate of a valid certificate, a second issue, a
  command for a number that was never issued);
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

#: Key of ``expire-due`` commands (they concern no single certificate).
EXPIRE_DUE_KEY = b"expire-due"

Message = tuple[bytes, bytes]


@dataclass(frozen=True)
class _Product:
    scheme: str
    product: str
    standards: tuple[str, ...]
    scopes: tuple[str, ...]
    model_stems: tuple[str, ...]
    years: int
    holders: tuple[int, ...]  # indices into _HOLDERS that make this kind of product


_PRODUCTS = (
    _Product(
        "CCC",
        "DC electric vehicle charging station",
        ("GB/T 18487.1-2023", "GB/T 20234.3-2023", "IEC 61851-1:2017"),
        (
            "Conductive DC charging, 60 kW, output 200-1000 V",
            "Conductive DC charging, 120 kW, output 200-1000 V, liquid-cooled connector",
            "Conductive DC charging, 480 kW split-power cabinet with 4 dispensers",
        ),
        ("DCFC-60K", "DCFC-120K", "HPC-480", "DCW-30K"),
        5,
        (0, 2, 5, 7, 8),
    ),
    _Product(
        "CB",
        "DC EV supply equipment (mode 4)",
        ("IEC 61851-1:2017", "IEC 61851-23:2023", "IEC 61851-21-2:2018"),
        ("Mode 4 DC charger, CCS2, 150 kW", "Mode 4 DC charger, CCS2 + CHAdeMO, 50 kW"),
        ("HYPR-150", "DUO-50", "CITY-75"),
        5,
        (2, 7, 8, 5),
    ),
    _Product(
        "CCC",
        "Lithium-ion traction battery pack",
        ("GB 38031-2025", "GB/T 31467-2023"),
        (
            "LFP traction battery pack, 280 Ah, 614 V nominal",
            "NMC traction battery pack, 105 kWh, 800 V class",
        ),
        ("LFP-PK-280", "NMC-800-105", "LFP-BLADE-138"),
        5,
        (0, 1, 5),
    ),
    _Product(
        "CQC",
        "32-bit automotive microcontroller",
        ("AEC-Q100 Rev-J", "ISO 26262-5:2018"),
        (
            "AEC-Q100 Grade 1 (-40 °C to +125 °C), LQFP-144",
            "AEC-Q100 Grade 0 (-40 °C to +150 °C), BGA-292",
        ),
        ("AMC32-G1-144", "AMC32-G0-292", "RV-AUTO-M7"),
        3,
        (4, 1, 5),
    ),
    _Product(
        "E-mark",
        "Passenger car tyre (class C1)",
        ("UN ECE R117 (04 series)", "UN ECE R30"),
        (
            "Rolling resistance, wet grip and rolling sound emissions, stage 2",
            "Rolling sound emissions and snow performance (3PMSF), stage 2",
        ),
        ("205/55 R16 91V", "225/45 R17 94W XL", "235/60 R18 107H"),
        8,
        (6, 5, 8),
    ),
    _Product(
        "CB",
        "EV charging cable",
        ("IEC 62893-1:2017", "IEC 62893-3:2017", "IEC 62893-4-1:2020"),
        (
            "Charging cable for mode 3, 450/750 V, 5G6 + 2x0.75 mm²",
            "Charging cable for mode 4 with cooling, 0.6/1 kV DC",
        ),
        ("EVC-M3-5G6", "EVC-M4-LC-95", "EVC-M3-5G2.5"),
        5,
        (3, 9, 0),
    ),
)

#: (holder, country code, factories) -- fictitious companies in several countries.
_HOLDERS = (
    ("Shenzhen Voltara New Energy Co., Ltd.", "CN", ("Bao'an District, Shenzhen", "Huizhou plant")),
    ("Ningde Lanshan Battery Technology Co., Ltd.", "CN", ("Ningde base 2", "Yibin plant")),
    ("Rheinstrom Ladetechnik GmbH", "DE", ("Werk Köln-Porz",)),
    ("Nordkabel AB", "SE", ("Västerås works",)),
    ("Kanto Semiconductor K.K.", "JP", ("Naka fab, Ibaraki", "Kumamoto test site")),
    ("Hanbit Mobility Co., Ltd.", "KR", ("Ulsan plant 3",)),
    ("Pneumatici Valsesia S.p.A.", "IT", ("Stabilimento di Settimo Torinese",)),
    ("Société Lyonnaise de Bornes SAS", "FR", ("Usine de Vénissieux",)),
    ("Great Lakes Charging Inc.", "US", ("Auburn Hills, MI",)),
    ("Tamil Nadu Cable Works Pvt. Ltd.", "IN", ("Hosur unit 2",)),
)

_SUSPEND_REASONS = (
    "follow-up factory inspection not passed (ISO/IEC 17065 §7.9)",
    "market surveillance sample failed the insulation resistance test",
    "holder did not pay the annual surveillance fee",
    "critical component changed without notification",
)
_REVOKE_REASONS = (
    "product found non-compliant after investigation; corrective action not taken",
    "certificate mark misused on uncertified models",
    "falsified test report detected",
)
_WITHDRAW_REASONS = ("withdrawn at the holder's request: model discontinued", None)

#: Transition weights of the walk (status -> [(command, weight)]); "stop" ends a walk.
_WALK = {
    "valid": (("suspend", 3), ("amend", 3), ("renew", 2), ("revoke", 1), ("withdraw", 1), ("stop", 5)),
    "suspended": (("reinstate", 5), ("renew", 1), ("amend", 1), ("revoke", 2), ("withdraw", 1), ("stop", 1)),
}


@dataclass
class _Cert:
    number: str
    product: _Product
    holder: str
    factories: tuple[str, ...]
    models: list[str]
    valid_from: datetime
    valid_until: datetime
    status: str = "valid"
    messages: list[Message] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, issuer: str, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.issuer = issuer
        self.now = now
        self.serial = 0

    def command_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def encode(self, obj: dict[str, Any]) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    def number(self, product: _Product, country: str) -> str:
        self.serial += 1
        year = self.now.year % 100
        n = self.serial
        if product.scheme == "CCC":
            return f"20{year:02d}{self.rng.randrange(1, 99):02d}{self.rng.randrange(1, 9999):04d}{n:06d}"
        if product.scheme == "CQC":
            return f"CQC{year:02d}{n:07d}"
        if product.scheme == "E-mark":
            return f"E{self.rng.choice((1, 4, 11, 13, 24))}*117R04/00*{n:05d}*00"
        return f"{country}-{n:05d}-{self.rng.choice(('A1', 'M1', 'UL'))}"

    def new_certificate(self) -> _Cert:
        product = self.rng.choice(_PRODUCTS)
        holder, country, factories = _HOLDERS[self.rng.choice(product.holders)]
        start = self.now - timedelta(days=self.rng.randrange(0, 20), seconds=self.rng.randrange(86_400))
        k = self.rng.randrange(1, len(product.model_stems) + 1)
        models = self.rng.sample(product.model_stems, k)
        return _Cert(
            number=self.number(product, country),
            product=product,
            holder=holder,
            factories=factories,
            models=models,
            valid_from=start,
            valid_until=start + timedelta(days=365 * product.years),
        )

    def base(self, cert: _Cert, kind: str, **members: Any) -> dict[str, Any]:
        obj = {"type": kind, "commandId": self.command_id(), "issuer": self.issuer, "number": cert.number}
        obj.update({k: v for k, v in members.items() if v is not None})
        return obj

    def issue(self, cert: _Cert) -> dict[str, Any]:
        p = cert.product
        lab = self.rng.choice(("CQC Testing Centre Shenzhen", "TÜV Rheinland", "VDE Prüfinstitut", "UL LLC"))
        return self.base(
            cert,
            "issue",
            scheme=p.scheme,
            holder=cert.holder,
            manufacturer=cert.holder,
            factories=list(cert.factories),
            product=p.product,
            models=list(cert.models),
            standards=list(p.standards),
            scope=self.rng.choice(p.scopes),
            validFrom=format_instant(cert.valid_from),
            validUntil=format_instant(cert.valid_until),
            testReports=[{"lab": lab, "reportNumber": f"TR-{self.rng.randrange(10**7, 10**8)}"}],
        )

    def step(self, cert: _Cert, kind: str) -> dict[str, Any]:
        """The wire command of ``kind`` and the state it leaves ``cert`` in (always legal)."""
        rng = self.rng
        if kind == "suspend":
            cert.status = "suspended"
            review = (self.now + timedelta(days=rng.randrange(30, 120))).date().isoformat()
            return self.base(cert, kind, reason=rng.choice(_SUSPEND_REASONS), reviewDate=review)
        if kind == "reinstate":
            cert.status = "valid"
            return self.base(cert, kind, reason="corrective actions verified")
        if kind == "renew":
            new_from = cert.valid_until - timedelta(days=30)
            cert.valid_until = new_from + timedelta(days=365 * cert.product.years)
            return self.base(
                cert,
                kind,
                validFrom=format_instant(new_from),
                validUntil=format_instant(cert.valid_until),
                reason="periodic re-certification",
            )
        if kind == "amend":
            cert.models = [*cert.models, f"{rng.choice(cert.product.model_stems)}-R{len(cert.models) + 1}"]
            return self.base(cert, kind, models=list(cert.models), reason="model range extended")
        if kind == "revoke":
            cert.status = "final"
            return self.base(cert, kind, reason=rng.choice(_REVOKE_REASONS))
        if kind == "withdraw":
            cert.status = "final"
            return self.base(cert, kind, reason=rng.choice(_WITHDRAW_REASONS))
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
