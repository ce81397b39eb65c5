"""Who may do what on Kafka: certlife's principals and the ACLs that bind them.

One table (:func:`grants`) decides every principal's permissions; the README's
"who may do what" table is rendered from it (``who_may_do_what``) and
``tests/unit/test_principals.py`` keeps the two in step. Everything is scoped
to a deployment's topic prefix, so test deployments on one broker stay apart.

- internal systems (``certctl clients add NAME``): write commands, read
  outcomes, consumer groups ``client.NAME.*``;
- the three services: exactly the topics, group and transactional id they use;
- partner labs (``certctl partners add NAME``): read the public topics (log and
  checkpoints), consumer groups ``partner.NAME.*``; nothing else.

No principal may create topics (the operator's admin creates them,
:func:`provision`), and none but the admin is a super user.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from certlife.contracts import topics
from certlife.domain.errors import CertlifeError
from certlife.services.infra.kafka_access import MECHANISM, KafkaAccess
from certlife.services.infra.kafka_admin import (
    Acl,
    KafkaAdmin,
    Operation,
    Pattern,
    ResourceType,
    ScramCredential,
    until_usable,
)
from certlife.services.infra.secret import Secret
from certlife.services.infra.settings import local_principal

#: The services' roles, as ``Settings.from_env(role=...)`` names them.
SERVICES = ("commands", "relay", "projections")
#: The kinds of principal that ``certctl clients|partners`` manage.
KINDS = ("client", "partner")
#: Consumer group / transactional id of the command service and the relay (after the prefix).
COMMAND_GROUP, RELAY_TXN, PROJECTION_GROUPS = (
    "certlife-command-service",
    "certlife-relay",
    "certlife-projection-",
)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class PrincipalError(CertlifeError, code="principal"):
    """A principal name or operation certlife refuses; one line."""


@dataclass(frozen=True)
class Principal:
    """A Kafka user of one deployment: its kind (service role, ``client``, ``partner``) and name."""

    kind: str
    name: str
    prefix: str = ""

    @property
    def user(self) -> str:
        """The SCRAM user name (services: ``certlife-ROLE``; others: ``KIND.NAME``), after the prefix."""
        if self.kind in SERVICES:
            return local_principal(self.kind, self.prefix)  # the one naming rule, also used by Settings
        return f"{self.prefix}{self.kind}.{self.name}"

    @property
    def principal(self) -> str:
        """The ACL principal, ``User:NAME``."""
        return f"User:{self.user}"

    @property
    def group_prefix(self) -> str:
        """The consumer groups a client or partner may use (``KIND.NAME.`` after the prefix)."""
        return f"{self.prefix}{self.kind}.{self.name}."


def member(kind: str, name: str, prefix: str = "") -> Principal:
    """A client or partner principal; the name must be lower-case letters, digits and dashes."""
    if kind not in KINDS:
        raise PrincipalError(f"unknown principal kind {kind!r}: one of {', '.join(KINDS)}")
    if not _NAME.fullmatch(name):
        raise PrincipalError(
            f"{kind} name must be 1-63 lower-case letters, digits or '-' (not first), got {name[:70]!r}"
        )
    return Principal(kind, name, prefix)


def service(role: str, prefix: str = "") -> Principal:
    """The principal of a certlife service."""
    if role not in SERVICES:
        raise PrincipalError(f"unknown service {role!r}: one of {', '.join(SERVICES)}")
    return Principal(role, role, prefix)


def grants(who: Principal) -> list[Acl]:
    """Every ALLOW binding of ``who``: the one rule of who may do what."""
    p, user = who.prefix, who.principal
    R, T, G, X = Operation.READ, ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    W, D = Operation.WRITE, Operation.DESCRIBE

    def topic(name: str, *ops: Operation) -> list[Acl]:
        return [Acl(user, T, p + name, op) for op in ops]

    if who.kind == "commands":
        return [
            *topic(topics.COMMANDS, R),
            *topic(topics.COMMAND_RESULTS, W),
            *topic(topics.DEAD_LETTER, W),
            Acl(user, G, p + COMMAND_GROUP, R),
            Acl(user, X, p + COMMAND_GROUP, W),
            Acl(user, X, p + COMMAND_GROUP, D),
        ]
    if who.kind == "relay":
        own = (topics.LOG, topics.CHECKPOINTS, topics.EVENTS, topics.RELAY_STATE)
        return [
            *(acl for name in own for acl in topic(name, R, W)),
            Acl(user, X, p + RELAY_TXN, W),
            Acl(user, X, p + RELAY_TXN, D),
        ]
    if who.kind == "projections":
        return [
            *topic(topics.LOG, R),
            *topic(topics.CHECKPOINTS, R),
            Acl(user, G, p + PROJECTION_GROUPS, R, Pattern.PREFIXED),
        ]
    if who.kind == "client":
        return [
            *topic(topics.COMMANDS, W),
            *topic(topics.COMMAND_RESULTS, R),
            Acl(user, G, who.group_prefix, R, Pattern.PREFIXED),
        ]
    if who.kind == "partner":
        return [
            *topic(topics.LOG, R),
            *topic(topics.CHECKPOINTS, R),
            Acl(user, G, who.group_prefix, R, Pattern.PREFIXED),
        ]
    raise PrincipalError(f"no grants for {who.kind!r}")


def who_may_do_what() -> str:
    """The README's "who may do what" table, rendered from :func:`grants`."""
    rows = ["| principal | may | on |", "| --- | --- | --- |"]
    examples = [
        (service("commands"), "command service (`certlife-commands`)"),
        (service("relay"), "relay (`certlife-relay`)"),
        (service("projections"), "projections (`certlife-projections`)"),
        (Principal("client", "NAME"), "internal system (`client.NAME`, `certctl clients add NAME`)"),
        (Principal("partner", "NAME"), "partner lab (`partner.NAME`, `certctl partners add NAME`)"),
    ]
    for who, label in examples:
        by_op: dict[str, list[str]] = {}
        for acl in grants(who):
            star = "*" if acl.pattern == Pattern.PREFIXED else ""
            kind = acl.resource.name.lower().replace("_", " ")
            by_op.setdefault(acl.operation.name, []).append(f"{kind} `{acl.name}{star}`")
        for op, things in by_op.items():
            rows.append(f"| {label} | {op} | {', '.join(things)} |")
            label = ""
    return "\n".join(rows) + "\n"


#: Told of every credential set (the credential) or deleted (None): the local stack keeps them
#: to restore after a broker restart (``certlife.services.infra.stack.credentials``).
Journal = Callable[[str, ScramCredential | None], None]


async def add(
    admin: KafkaAccess, who: Principal, password: Secret | None = None, journal: Journal | None = None
) -> Secret:
    """Create (or re-key) ``who`` with ``password`` (None: a random one) and exactly its grants.

    Re-adding a principal that runs (``certctl stack up`` does it for every
    service) never leaves it without a grant it needs: the missing grants are
    created first, then only the stale ones are deleted.
    """
    secret = password or Secret(secrets.token_urlsafe(24))
    wanted = set(grants(who))
    async with KafkaAdmin(admin) as kafka:
        credential = await kafka.set_password(who.user, secret)
        await kafka.create_acls(sorted(wanted))
        for stale in set(await kafka.acls(who.principal)) - wanted:  # exactly the current grants
            await kafka.delete_acl(stale)
    if journal is not None:
        journal(who.user, credential)
    await until_usable(replace(admin, username=who.user, password=secret, mechanism=MECHANISM))
    return secret


async def revoke(admin: KafkaAccess, who: Principal, journal: Journal | None = None) -> bool:
    """Delete ``who``'s credential and every ACL; False when it did not exist."""
    async with KafkaAdmin(admin) as kafka:
        deleted = await kafka.delete_acls(who.principal)
        existed = await kafka.delete_user(who.user)
    if journal is not None:
        journal(who.user, None)
    return existed or deleted > 0


async def listing(admin: KafkaAccess, kind: str, prefix: str = "") -> list[tuple[str, int]]:
    """``(name, number of ACLs)`` of every ``kind`` principal of the deployment, sorted by name."""
    start = f"{prefix}{kind}."
    async with KafkaAdmin(admin) as kafka:
        users = [u for u in await kafka.users() if u.startswith(start)]
        acls = await kafka.acls()
    counts = {u: sum(1 for a in acls if a.principal == f"User:{u}") for u in users}
    return [(u[len(start) :], counts[u]) for u in users]


async def open_to_anonymous(admin: KafkaAccess, open_: bool) -> None:
    """Unsafe, benchmarks only: the plaintext listener's ``User:ANONYMOUS`` may do everything
    (``open_``), or nothing again (its ACLs deleted)."""
    anyone = "User:ANONYMOUS"
    everything = [
        Acl(anyone, ResourceType.TOPIC, "*", Operation.ALL),
        Acl(anyone, ResourceType.GROUP, "*", Operation.ALL),
        Acl(anyone, ResourceType.TRANSACTIONAL_ID, "*", Operation.ALL),
        Acl(anyone, ResourceType.CLUSTER, "kafka-cluster", Operation.ALL),
    ]
    async with KafkaAdmin(admin) as kafka:
        if open_:
            await kafka.create_acls(everything)
        else:
            await kafka.delete_acls(anyone)
