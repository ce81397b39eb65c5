"""Domain errors: one hierarchy, each naming what was attempted and why not."""

from __future__ import annotations

from typing import Any


class CertificateError(Exception):
    """Base class of every lifecycle rule violation."""

    code = "certificate-error"


class InvalidTransition(CertificateError):
    """A lifecycle change that the certificate's current status forbids."""

    code = "invalid-transition"

    def __init__(self, current: Any, attempted: Any) -> None:
        self.current = None if current is None else str(current)
        self.attempted = str(attempted)
        state = "does not exist" if current is None else f"is {self.current}"
        super().__init__(f"cannot apply '{self.attempted}': certificate {state}")


class CertificateNotFound(CertificateError):
    """No certificate with this issuer and number exists."""

    code = "certificate-not-found"

    def __init__(self, issuer: str, number: str) -> None:
        self.issuer = issuer
        self.number = number
        super().__init__(f"certificate {number!r} of issuer {issuer!r} does not exist")


class UnknownIssuer(CertificateError):
    """A command for an issuer other than the one this log belongs to."""

    code = "unknown-issuer"

    def __init__(self, issuer: str, expected: str) -> None:
        self.issuer = issuer
        super().__init__(
            f"issuer {issuer!r} is not the issuer of this log ({expected!r}): a log holds the "
            "certificates of one issuer, and certificate numbers are unique within it"
        )


class InvalidCertificateData(CertificateError):
    """Certificate data (or a change to it) that breaks a data rule."""

    code = "invalid-certificate-data"


class RenewalGraceExpired(InvalidTransition):
    """Renewal of an expired certificate after the renewal grace period ended."""

    code = "renewal-grace-expired"

    def __init__(self, expired_at: str, grace_ended_at: str) -> None:
        super().__init__("expired", "renewed")
        self.expired_at = expired_at
        self.grace_ended_at = grace_ended_at
        self.args = (
            f"cannot apply 'renewed': certificate is expired since {expired_at} and "
            f"its renewal grace period ended at {grace_ended_at}",
        )


class NotYetDue(InvalidTransition):
    """Expiry of a certificate whose validity period has not ended yet."""

    code = "not-yet-due"

    def __init__(self, current: str, valid_until: str) -> None:
        super().__init__(current, "expired")
        self.valid_until = valid_until
        self.args = (f"cannot apply 'expired': certificate is {current} and valid until {valid_until}",)


class BackdatingTooFar(CertificateError):
    """An ``effectiveAt`` further in the past than the lifecycle policy allows."""

    code = "backdating-too-far"


class EffectiveInFuture(CertificateError):
    """An ``effectiveAt`` later than the time the change is recorded."""

    code = "effective-in-future"
