"""The local broker's SCRAM credentials, kept so that a broker restart cannot lose them.

Kafka 4.1.1 was seen here to come back from a restart with an empty SCRAM
credential store (DescribeUserScramCredentials listing no user, every SCRAM
login refused) although the metadata log holds the records. So the launcher
keeps each credential it or ``certctl clients|partners`` set (salt, iterations,
salted password; 0600 files under ``state/secrets/kafka-scram``, never the
password) and writes them all back after every broker start, as its admin,
who logs in with PLAIN over TLS against the broker's own properties file and
so does not depend on that store.
"""

from __future__ import annotations

from pathlib import Path

from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.kafka_admin import KafkaAdmin, ScramCredential, until_usable
from certlife.services.infra.principals import Journal


def _folder(state: Path) -> Path:
    return state / "secrets" / "kafka-scram"


def journal(state: Path) -> Journal:
    """A ``principals.Journal`` that keeps (or forgets) each credential in ``state``."""

    def note(user: str, credential: ScramCredential | None) -> None:
        path = _folder(state) / f"{user}.json"
        if credential is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file_atomic(path, credential.to_json().encode(), mode=0o600)

    return note


async def restore(state: Path, admin: KafkaAccess, probe: KafkaAccess | None = None) -> int:
    """Write every kept credential back to the broker; return how many.

    With ``probe`` (a kept principal with its password), return only once the
    broker accepts its login: it applies credentials asynchronously.
    """
    files = sorted(_folder(state).glob("*.json")) if _folder(state).exists() else []
    if not files:
        return 0
    kept = {path.name[: -len(".json")]: ScramCredential.from_json(path.read_text()) for path in files}
    async with KafkaAdmin(admin) as kafka:
        await kafka.restore_all(kept)
    if probe is not None and (_folder(state) / f"{probe.username}.json").exists():
        await until_usable(probe, timeout=60.0)
    return len(files)


async def provision_services(
    state: Path, admin: KafkaAccess, prefix: str, journal: Journal | None = None
) -> list[str]:
    """A deployment's topics and its three service principals; their user names.

    Each password is made once and kept in ``state/secrets/kafka`` (0600), where
    the services find it; running again re-applies exactly their grants.
    """
    from certlife.services.infra import principals
    from certlife.services.infra.secret import Secret
    from certlife.services.infra.stack.secrets import ensure_secret
    from certlife.services.infra.topics import certlife_topics, ensure_topics

    await ensure_topics(admin, certlife_topics(4, prefix))
    users = []
    for role in principals.SERVICES:
        who = principals.service(role, prefix)
        await principals.add(admin, who, Secret(ensure_secret(state, "kafka", who.user)), journal=journal)
        users.append(who.user)
    return users
