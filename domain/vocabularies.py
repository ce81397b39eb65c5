"""How each certlife status reads in other vocabularies (see domain/README.md).

- OCSP (RFC 6960): ``good`` / ``revoked`` (with a CRLReason, RFC 5280 §5.3.1) /
  ``unknown``. A suspension is the reversible revocation reason
  ``certificateHold``. OCSP has no status for an expired certificate, so a
  responder would answer ``unknown`` (it keeps no information past validity).
- IAF CertSearch (ISO/IEC 17021-1 terms): ``Active``, ``Suspended``,
  ``Withdrawn``, ``Expired``. Accreditation vocabulary does not distinguish a
  revocation by the body from a withdrawal: both read ``Withdrawn`` (lossy).
- CCC / CNCA (Chinese product certification): 有效 (valid), 暂停 (suspended),
  撤销 (revoked by the body), 注销 (cancelled, e.g. at the holder's request),
  过期 (expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from certlife.domain.lifecycle import Status


@dataclass(frozen=True)
class OcspStatus:
    """An OCSP ``CertStatus`` and, for ``revoked``, its CRLReason name."""

    cert_status: str
    revocation_reason: str | None = None


#: certlife status -> OCSP status.
OCSP = MappingProxyType(
    {
        Status.VALID: OcspStatus("good"),
        Status.SUSPENDED: OcspStatus("revoked", "certificateHold"),
        Status.REVOKED: OcspStatus("revoked", "unspecified"),
        Status.WITHDRAWN: OcspStatus("revoked", "cessationOfOperation"),
        Status.EXPIRED: OcspStatus("unknown"),
    }
)

#: certlife status -> IAF CertSearch certification status.
IAF_CERTSEARCH = MappingProxyType(
    {
        Status.VALID: "Active",
        Status.SUSPENDED: "Suspended",
        Status.REVOKED: "Withdrawn",
        Status.WITHDRAWN: "Withdrawn",
        Status.EXPIRED: "Expired",
    }
)

#: certlife status -> CCC (CNCA) certificate status.
CCC = MappingProxyType(
    {
        Status.VALID: "有效",
        Status.SUSPENDED: "暂停",
        Status.REVOKED: "撤销",
        Status.WITHDRAWN: "注销",
        Status.EXPIRED: "过期",
    }
)
