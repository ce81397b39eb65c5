"""The identifiers of a log's issuer, keys and status lists, all derived from the log origin.

The origin ``certlife.example/log`` gives the issuer ``https://certlife.example/log/issuer``,
the verification method ``https://certlife.example/log/issuer#<keyId>`` and the lists
``https://certlife.example/log/statuslists/revocation`` and ``…/suspension``.
"""

from __future__ import annotations

from urllib.parse import quote

#: One status list per purpose, in this order (a credential's ``credentialStatus`` follows it).
PURPOSES = ("revocation", "suspension")


def _base(origin: str) -> str:
    if not origin or origin != origin.strip() or "://" in origin or origin.endswith("/"):
        raise ValueError(f"not a log origin: {origin!r}")
    return f"https://{origin}"


def issuer_id(origin: str) -> str:
    """Return the issuer id of log ``origin``: ``https://{origin}/issuer``."""
    return _base(origin) + "/issuer"


def verification_method(origin: str, key_id: str) -> str:
    """Return the verification method id of credential key ``key_id``: ``{issuer}#{keyId}``."""
    return f"{issuer_id(origin)}#{key_id}"


def status_list_id(origin: str, purpose: str) -> str:
    """Return the id (and URL) of the status list credential of ``purpose``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown status purpose {purpose!r}")
    return f"{_base(origin)}/statuslists/{purpose}"


def credential_id(origin: str, number: str, seq: int) -> str:
    """Return the id of the credential of certificate ``number`` built from its record ``seq``.

    ``urn:certlife:{origin}:{number}:{seq}``, the number percent-encoded (UTF-8) except for
    ASCII letters, digits and ``-._~``, so that the id is a URI whatever the number holds.
    """
    return f"urn:certlife:{_base(origin)[8:]}:{quote(number, safe='-._~')}:{seq}"
