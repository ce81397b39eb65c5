"""Kafka administration that aiokafka's admin client lacks: SCRAM credentials and ACLs.

The requests are Kafka's own (KIP-554 ``AlterUserScramCredentials`` /
``DescribeUserScramCredentials``, ``CreateAcls`` / ``DeleteAcls`` /
``DescribeAcls`` v3), encoded with aiokafka's protocol framework and sent
through its admin client's connection. The SCRAM salted password is computed
here, as Kafka's Java admin client does, so the password itself never leaves
this process.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    Boolean,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)

from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.secret import Secret

#: SCRAM-SHA-512 in KIP-554's mechanism numbering; 8192 iterations (Kafka's minimum is 4096).
SCRAM_SHA_512, ITERATIONS = 2, 8192


class ResourceType(IntEnum):
    """Kafka ACL resource types."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class Operation(IntEnum):
    """Kafka ACL operations."""

    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


class Pattern(IntEnum):
    """Kafka resource pattern types."""

    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


@dataclass(frozen=True, repr=False)
class ScramCredential:
    """A SCRAM-SHA-512 credential as Kafka's API takes it: salt, iterations, salted password.

    The salted password is password-equivalent for SCRAM: keep it like a password
    (never printed; 0600 files only).
    """

    salt: bytes
    iterations: int
    salted: bytes

    def to_json(self) -> str:
        """The credential as one JSON object (base64 fields)."""
        import base64
        import json

        return json.dumps(
            {
                "salt": base64.b64encode(self.salt).decode(),
                "iterations": self.iterations,
                "salted": base64.b64encode(self.salted).decode(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ScramCredential:
        """The credential of :meth:`to_json`."""
        import base64
        import json

        data = json.loads(text)
        return cls(base64.b64decode(data["salt"]), int(data["iterations"]), base64.b64decode(data["salted"]))


#: Permission types: any (filters), deny, allow.
ANY_PERMISSION, ALLOW = 1, 3


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding: ``principal`` may ``operation`` on a resource (``*`` host)."""

    principal: str
    resource: ResourceType
    name: str
    operation: Operation
    pattern: Pattern = Pattern.LITERAL

    def __str__(self) -> str:
        """``User:x READ TOPIC certlife.log.v1`` (prefixed names end in ``*``)."""
        star = "*" if self.pattern == Pattern.PREFIXED else ""
        return f"{self.principal} {self.operation.name} {self.resource.name} {self.name}{star}"


def _flexible(name: str, key: int, request: Schema, response: Schema) -> type[RequestStruct]:
    """A flexible-version request of API ``key`` (v3 for the ACL APIs, v0 for SCRAM) and its response."""
    version = 3 if key in (29, 30, 31) else 0
    response_type = type(
        f"{name}Response", (Response,), {"API_KEY": key, "API_VERSION": version, "SCHEMA": response}
    )
    return type(
        f"{name}Request_v{version}",
        (RequestStruct,),
        {
            "FLEXIBLE_VERSION": True,
            "API_KEY": key,
            "API_VERSION": version,
            "RESPONSE_TYPE": response_type,
            "SCHEMA": request,
        },
    )


_S = CompactString("utf-8")
_DescribeScram = _flexible(
    "DescribeUserScramCredentials",
    50,
    Schema(("users", CompactArray(("name", _S), ("tags", TaggedFields))), ("tags", TaggedFields)),
    Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", _S),
        (
            "results",
            CompactArray(
                ("user", _S),
                ("error_code", Int16),
                ("error_message", _S),
                (
                    "credential_infos",
                    CompactArray(("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields)),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    ),
)
_AlterScram = _flexible(
    "AlterUserScramCredentials",
    51,
    Schema(
        ("deletions", CompactArray(("name", _S), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", _S),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    ),
    Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(("user", _S), ("error_code", Int16), ("error_message", _S), ("tags", TaggedFields)),
        ),
        ("tags", TaggedFields),
    ),
)
_BINDING = (
    ("resource_type", Int8),
    ("resource_name", _S),
    ("pattern_type", Int8),
    ("principal", _S),
    ("host", _S),
    ("operation", Int8),
    ("permission_type", Int8),
)
_CreateAcls = _flexible(
    "CreateAcls",
    30,
    Schema(("creations", CompactArray(*_BINDING, ("tags", TaggedFields))), ("tags", TaggedFields)),
    Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("error_code", Int16), ("error_message", _S), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    ),
)
_DeleteAcls = _flexible(
    "DeleteAcls",
    31,
    Schema(("filters", CompactArray(*_BINDING, ("tags", TaggedFields))), ("tags", TaggedFields)),
    Schema(
        ("throttle_time_ms", Int32),
        (
            "filter_results",
            CompactArray(
                ("error_code", Int16),
                ("error_message", _S),
                (
                    "matching_acls",
                    CompactArray(
                        ("error_code", Int16), ("error_message", _S), *_BINDING, ("tags", TaggedFields)
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    ),
)
_DescribeAcls = _flexible(
    "DescribeAcls",
    29,
    Schema(*_BINDING, ("tags", TaggedFields)),
    Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", _S),
        (
            "resources",
            CompactArray(
                ("resource_type", Int8),
                ("resource_name", _S),
                ("pattern_type", Int8),
                (
                    "acls",
                    CompactArray(
                        ("principal", _S),
                        ("host", _S),
                        ("operation", Int8),
                        ("permission_type", Int8),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    ),
)


class _Send(Request[Any]):
    """A request of one fixed version (the broker must support it)."""

    API_KEY: ClassVar[int] = -1

    def __init__(self, struct: type[RequestStruct], *fields: Any) -> None:
        self._struct, self._fields = struct, fields

    def prepare(self, versions: dict[int, tuple[int, int]]) -> Any:
        return self._struct(*self._fields)

    def build(self, request_struct_class: type[Any]) -> Any:
        return self._struct(*self._fields)


def _check(code: int, message: str | None, what: str) -> None:
    if code:
        error = for_code(code)
        raise error(f"{what}: {message or error.__name__}")


def _binding(acl: Acl) -> tuple[Any, ...]:
    """``acl`` as an ACL row of CreateAcls, and as the DeleteAcls filter matching exactly it."""
    return (acl.resource, acl.name, acl.pattern, acl.principal, "*", acl.operation, ALLOW, {})


def _everything_of(principal: str | None) -> tuple[Any, ...]:
    """The ACL filter matching every ALLOW or DENY binding of ``principal`` (None: of everyone)."""
    return (ResourceType.ANY, None, Pattern.ANY, principal, None, Operation.ANY, ANY_PERMISSION, {})


class KafkaAdmin:
    """An admin connection (as a super user) for principals and ACLs; use ``async with``."""

    def __init__(self, access: KafkaAccess) -> None:
        """Prepare (not connect) an admin client for ``access``."""
        self._client = AIOKafkaAdminClient(**access.client_options(), request_timeout_ms=15_000)

    async def __aenter__(self) -> KafkaAdmin:
        """Connect."""
        await self._client.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Disconnect."""
        await self._client.close()

    async def _send(self, struct: type[RequestStruct], *fields: Any) -> Any:
        return await self._client._send_request(_Send(struct, *fields))

    async def set_password(self, user: str, password: Secret) -> ScramCredential:
        """Create or replace ``user``'s SCRAM-SHA-512 credential; return it (salted, never the password)."""
        salt = secrets.token_bytes(32)
        credential = ScramCredential(
            salt, ITERATIONS, hashlib.pbkdf2_hmac("sha512", password.encoded(), salt, ITERATIONS)
        )
        await self.restore(user, credential)
        return credential

    async def restore(self, user: str, credential: ScramCredential) -> None:
        """Write ``credential`` as ``user``'s SCRAM-SHA-512 credential (as set before)."""
        await self.restore_all({user: credential})

    async def restore_all(self, credentials: dict[str, ScramCredential], per_request: int = 200) -> None:
        """Write each user's credential (as set before), ``per_request`` users to a request: a broker
        restarted with hundreds of kept principals gets them in a few round trips, not one each."""
        rows: list[tuple[Any, ...]] = [
            (user, SCRAM_SHA_512, c.iterations, c.salt, c.salted, {}) for user, c in credentials.items()
        ]
        for start in range(0, len(rows), per_request):
            response = await self._send(_AlterScram, [], rows[start : start + per_request], {})
            for name, code, message, _ in response.results:
                _check(code, message, f"setting the SCRAM credential of {name}")

    async def delete_user(self, user: str) -> bool:
        """Delete ``user``'s SCRAM credential; False when there was none."""
        response = await self._send(_AlterScram, [(user, SCRAM_SHA_512, {})], [], {})
        for _, code, message, _ in response.results:
            if code == 91:  # RESOURCE_NOT_FOUND: no such credential
                return False
            _check(code, message, f"deleting the SCRAM credential of {user}")
        return True

    async def users(self) -> list[str]:
        """Every user with a SCRAM credential, sorted."""
        response = await self._send(_DescribeScram, None, {})
        _check(response.error_code, response.error_message, "listing SCRAM users")
        return sorted(user for user, code, _, _, _ in response.results if not code)

    async def create_acls(self, acls: Iterable[Acl]) -> None:
        """Add ALLOW bindings (adding an existing one is a no-op)."""
        rows = [_binding(a) for a in acls]
        if not rows:
            return
        response = await self._send(_CreateAcls, rows, {})
        for code, message, _ in response.results:
            _check(code, message, "creating ACLs")

    async def acls(self, principal: str | None = None) -> list[Acl]:
        """The ALLOW bindings of ``principal`` (None: everyone's), sorted."""
        response = await self._send(_DescribeAcls, *_everything_of(principal))
        _check(response.error_code, response.error_message, "describing ACLs")
        found = [
            Acl(who, ResourceType(rtype), name, Operation(op), Pattern(pattern))
            for rtype, name, pattern, bindings, _ in response.resources
            for who, _, op, permission, _ in bindings
            if permission == ALLOW
        ]
        return sorted(found)

    async def delete_acl(self, acl: Acl) -> int:
        """Delete the one binding ``acl``; return how many were deleted (0 or 1)."""
        return await self._delete(_binding(acl), f"deleting {acl}")

    async def delete_acls(self, principal: str) -> int:
        """Delete every binding of ``principal``; return how many were deleted."""
        return await self._delete(_everything_of(principal), f"deleting the ACLs of {principal}")

    async def _delete(self, row: tuple[Any, ...], what: str) -> int:
        """Delete the bindings matching the filter ``row``; how many."""
        response = await self._send(_DeleteAcls, [row], {})
        deleted = 0
        for code, message, matching, _ in response.filter_results:
            _check(code, message, what)
            deleted += len(matching)
        return deleted


_Metadata = type(
    "MetadataRequest_v8",
    (RequestStruct,),
    {
        "API_KEY": 3,
        "API_VERSION": 8,
        "RESPONSE_TYPE": type(
            "MetadataResponse_v8",
            (Response,),
            {
                "API_KEY": 3,
                "API_VERSION": 8,
                "SCHEMA": Schema(
                    ("throttle_time_ms", Int32),
                    (
                        "brokers",
                        Array(
                            ("node_id", Int32),
                            ("host", String("utf-8")),
                            ("port", Int32),
                            ("rack", String("utf-8")),
                        ),
                    ),
                    ("cluster_id", String("utf-8")),
                    ("controller_id", Int32),
                    (
                        "topics",
                        Array(
                            ("error_code", Int16),
                            ("name", String("utf-8")),
                            ("is_internal", Boolean),
                            (
                                "partitions",
                                Array(
                                    ("error_code", Int16),
                                    ("partition_index", Int32),
                                    ("leader_id", Int32),
                                    ("leader_epoch", Int32),
                                    ("replica_nodes", Array(Int32)),
                                    ("isr_nodes", Array(Int32)),
                                    ("offline_replicas", Array(Int32)),
                                ),
                            ),
                            ("topic_authorized_operations", Int32),
                        ),
                    ),
                    ("cluster_authorized_operations", Int32),
                ),
            },
        ),
        "SCHEMA": Schema(
            ("topics", Array(Schema(("name", String("utf-8"))))),
            ("allow_auto_topic_creation", Boolean),
            ("include_cluster_authorized_operations", Boolean),
            ("include_topic_authorized_operations", Boolean),
        ),
    },
)


async def missing_grants(access: KafkaAccess, needed: Iterable[Acl]) -> list[Acl]:
    """Those of ``needed`` (topic and group bindings) that the broker does not grant ``access``.

    Asks the broker what the principal may do (the authorized-operations
    fields of Metadata v8 and DescribeGroups v3), so any principal can check
    itself without rights on ACLs. Transactional ids have no such query; a
    missing one shows as ``TransactionalIdAuthorizationFailed`` when the
    producer starts.
    """
    needed = list(needed)
    topic_names = sorted({a.name for a in needed if a.resource == ResourceType.TOPIC})
    group_names = sorted(
        {a.name for a in needed if a.resource == ResourceType.GROUP and a.pattern == Pattern.LITERAL}
    )
    allowed: dict[tuple[ResourceType, str], int] = {}
    client = AIOKafkaAdminClient(**access.client_options(), request_timeout_ms=15_000)
    await client.start()
    try:
        if topic_names:
            meta = await client._send_request(
                _Send(_Metadata, [(t,) for t in topic_names], False, False, True)
            )
            for code, name, _, _, ops in meta.topics:
                if code != 3:  # a missing topic is reported where it is used, not as a missing grant
                    allowed[(ResourceType.TOPIC, name)] = 0 if code == 29 else ops
        if group_names:
            from aiokafka.protocol.admin import DescribeGroupsRequest

            # Without authorized operations (aiokafka's v3 response does not decode from Kafka 4):
            # a group the principal may not READ is one it may not DESCRIBE either (error 30).
            described = await client._send_request(DescribeGroupsRequest(group_names))
            for code, name, *_ in described.groups:
                allowed[(ResourceType.GROUP, name)] = 0 if code == 30 else 1 << Operation.READ
    finally:
        await client.close()
    missing = []
    for acl in needed:
        ops = allowed.get((acl.resource, acl.name))
        if ops is None:
            continue  # prefixed group patterns and transactional ids: checked when used
        if ops < 0 or not ops & (1 << acl.operation):
            missing.append(acl)
    return missing


async def until_usable(access: KafkaAccess, timeout: float = 15.0) -> None:
    """Wait until ``access`` can log in: the broker applies a new credential asynchronously."""
    import asyncio

    from aiokafka.errors import KafkaError

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        client = AIOKafkaAdminClient(**access.client_options(), request_timeout_ms=5000)
        try:
            await client.start()
            return
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await client.close()
