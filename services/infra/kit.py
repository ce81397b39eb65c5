"""Client kits: everything an internal system or a partner lab needs to connect, in one folder.

``certctl clients add NAME --kit DIR`` and ``certctl partners add NAME --kit
DIR`` write one. The password is in ``password`` (0600) and never printed;
the files that must embed it for their client (Java's ``client.properties``,
kcat's ``kcat.conf``) are 0600 too. ``kafka.env`` is what certlife's own
tools read (``certverify ... --kit DIR``; or ``set -a; . DIR/kafka.env``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from certlife.domain.errors import CertlifeError
from certlife.services.infra.fileio import write_file_atomic
from certlife.services.infra.kafka_access import MECHANISM
from certlife.services.infra.principals import Principal
from certlife.services.infra.secret import Secret

#: The file of a kit that certlife's tools read.
KIT_ENV = "kafka.env"
#: The variables a kit's kafka.env may set (anything else in it is ignored).
KIT_VARIABLES = (
    "CERTLIFE_KAFKA_BOOTSTRAP",
    "CERTLIFE_KAFKA_SECURITY",
    "CERTLIFE_KAFKA_USERNAME",
    "CERTLIFE_KAFKA_PASSWORD_FILE",
    "CERTLIFE_KAFKA_CA_FILE",
    "CERTLIFE_TOPIC_PREFIX",
)


class KitError(CertlifeError, code="kit"):
    """A kit folder cannot be written or read; one line."""


def _topics(who: Principal) -> str:
    from certlife.contracts import topics

    p = who.prefix
    if who.kind == "partner":
        return f"read {p}{topics.LOG} and {p}{topics.CHECKPOINTS}"
    return f"write {p}{topics.COMMANDS}; read {p}{topics.COMMAND_RESULTS}"


def check_kit_folder(directory: Path) -> None:
    """Refuse a kit folder that exists and is not empty (a kit is never written over another)."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise KitError(f"{directory} exists and is not an empty folder: choose a new folder for the kit")


def write_kit(
    directory: Path,
    who: Principal,
    bootstrap: str,
    password: Secret,
    ca_file: Path | None,
    trust: bytes | None = None,
) -> list[str]:
    """Write the kit of ``who`` into ``directory`` (new or empty); return the file names written."""
    check_kit_folder(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        home = directory.resolve()
        written = []

        def put(name: str, text: str | bytes, mode: int = 0o644) -> None:
            data = text.encode() if isinstance(text, str) else text
            write_file_atomic(home / name, data, mode=mode)
            written.append(name)

        put("password", password.reveal() + "\n", 0o600)
        if ca_file is not None:
            shutil.copyfile(ca_file, home / "ca.pem")
            written.append("ca.pem")
        ca_line = f"CERTLIFE_KAFKA_CA_FILE={home / 'ca.pem'}\n" if ca_file else ""
        put(
            KIT_ENV,
            f"# certlife {who.kind} kit for {who.user}: certverify --kit {home}, or: set -a; . {home / KIT_ENV}\n"
            f"CERTLIFE_KAFKA_BOOTSTRAP={bootstrap}\n"
            "CERTLIFE_KAFKA_SECURITY=sasl_ssl\n"
            f"CERTLIFE_KAFKA_USERNAME={who.user}\n"
            f"CERTLIFE_KAFKA_PASSWORD_FILE={home / 'password'}\n"
            f"{ca_line}"
            f"CERTLIFE_TOPIC_PREFIX={who.prefix}\n"
            f"# consumer groups: {who.group_prefix}*\n",
        )
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{who.user}" password="{password.reveal()}";'
        )
        ca_java = f"ssl.truststore.type=PEM\nssl.truststore.location={home / 'ca.pem'}\n" if ca_file else ""
        put(
            "client.properties",
            "# Java / Kafka CLI tools: --command-config client.properties (0600: holds the password)\n"
            f"bootstrap.servers={bootstrap}\nsecurity.protocol=SASL_SSL\nsasl.mechanism={MECHANISM}\n"
            f"sasl.jaas.config={jaas}\n{ca_java}"
            f"group.id={who.group_prefix}main\nisolation.level=read_committed\n",
            0o600,
        )
        ca_kcat = f"ssl.ca.location={home / 'ca.pem'}\n" if ca_file else ""
        put(
            "kcat.conf",
            "# kcat -F kcat.conf (0600: holds the password)\n"
            f"bootstrap.servers={bootstrap}\nsecurity.protocol=SASL_SSL\nsasl.mechanisms={MECHANISM}\n"
            f"sasl.username={who.user}\nsasl.password={password.reveal()}\n{ca_kcat}",
            0o600,
        )
        ca_py = (
            f'ssl.create_default_context(cafile="{home / "ca.pem"}")'
            if ca_file
            else "ssl.create_default_context()"
        )
        put(
            "aiokafka_example.py",
            '"""Connect with aiokafka using this kit (the password is read from its file)."""\n\n'
            "import ssl\nfrom pathlib import Path\n\nfrom aiokafka import AIOKafkaConsumer\n\n"
            "SETTINGS = dict(\n"
            f'    bootstrap_servers="{bootstrap}",\n'
            '    security_protocol="SASL_SSL",\n'
            f'    sasl_mechanism="{MECHANISM}",\n'
            f'    sasl_plain_username="{who.user}",\n'
            f'    sasl_plain_password=Path("{home / "password"}").read_text().strip(),\n'
            f"    ssl_context={ca_py},\n"
            '    isolation_level="read_committed",\n'
            f'    group_id="{who.group_prefix}main",\n'
            ")\n\n"
            "# consumer = AIOKafkaConsumer(*TOPICS, **SETTINGS)\n",
        )
        if trust is not None:
            put("trust.json", trust)
        put(
            "README.txt",
            f"certlife {who.kind} kit for {who.user}\n\n"
            f"You may {_topics(who)}, with consumer groups named {who.group_prefix}*; nothing else.\n"
            "password, client.properties and kcat.conf hold your password: keep them 0600, never share them.\n"
            f"kafka.env          certlife tools: certverify log|mirror --kit {home}\n"
            "client.properties  Java clients and Kafka's CLI tools (--command-config)\n"
            "kcat.conf          kcat -F kcat.conf\n"
            "aiokafka_example.py  plain aiokafka settings\n"
            + ("trust.json         the log's keys, for certverify --trust\n" if trust is not None else ""),
        )
    except OSError as exc:
        raise KitError(f"cannot write the kit into {directory} ({exc.strerror})") from None
    return written


def read_kit_env(directory: Path) -> dict[str, str]:
    """The ``CERTLIFE_*`` settings of the kit in ``directory``."""
    path = directory / KIT_ENV
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise KitError(
            f"cannot read the kit {path} ({exc.strerror}): pass the folder certctl wrote"
        ) from None
    env = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name.strip() in KIT_VARIABLES:
            env[name.strip()] = value.strip()
    return env
