"""certlife's one exception base, and the domain's errors: each names what was attempted and why not.

:class:`CertlifeError` lives here, in the lowest layer, so that every layer's
errors can derive from it (tests/unit/test_errors.py checks that they all do).
"""

from __future__ import annotations

from typing import Any


class CertlifeError(Exception):
    """Base of every error certlife raises on purpose: a message for people, a stable ``code``.

    ``code`` is a short kebab-case name of the error's family that never changes
    once released (outcomes, reports and JSON error objects carry it). Each
    subclass names its own, as a class attribute (``code = "..."``) or, equally,
    as a class keyword (``class Refused(CertlifeError, code="refused"):``); one
    instance may carry a more specific code (``code=`` argument). The CLIs turn
    any of these into one line and an exit status (``certlife.services.cli.exits``).
    """

    code: str = "certlife-error"

    def __init_subclass__(cls, code: str | None = None, **kwargs: Any) -> None:
        """Take the ``code`` class keyword as the subclass's ``code``."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code

    def __init__(self, *args: object, code: str | None = None) -> None:
        """``args`` as for :class:`Exception` (the first is the message); ``code`` overrides the class's."""
        super().__init__(*args)
        if code is not None:
            self.code = code


class CertificateError(CertlifeError):
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


class RecordTooLarge(CertificateError):
    """The certificate would no longer fit one log record (every reader must be able to read it)."""

    code = "record-too-large"

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(
            f"the certificate's log record could reach {size} bytes, over the log's limit of {limit}: "
            "shorten its texts or lists"
        )
