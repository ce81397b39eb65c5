"""The broker's JVM: the pinned jars from Maven Central (cached), storage formatting, a node process."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.settings import StackSettings

_MARKER = ".complete"


def ensure_jars(settings: StackSettings) -> Path:
    """Resolve the pinned broker jars once into the cache; later calls are offline."""
    libs = settings.kafka_libs
    if (libs / _MARKER).exists():
        return libs
    if shutil.which("mvn") is None:
        raise StackError("Maven not found on PATH: install it (apt-get install -y maven)")
    libs.mkdir(parents=True, exist_ok=True)
    pom = resources.files("certlife.services.infra.stack") / "kafka-pom.xml"
    with resources.as_file(pom) as pom_path:
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom_path),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            f"-Dmaven.repo.local={settings.maven_repo}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        if any("No space left" in line for line in tail):
            raise StackError(f"disk full while downloading Kafka jars into {libs}: free space")
        raise StackError(
            "could not download the Kafka jars from Maven Central "
            f"({' / '.join(tail) or 'mvn failed'}): check network access to Maven Central"
        )
    (libs / _MARKER).write_text("ok\n")
    return libs


def java_path() -> str:
    """The ``java`` on PATH; a one-line StackError naming the fix when there is none."""
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java not found on PATH: install a JDK 17 (apt-get install -y openjdk-17-jre-headless)"
        )
    return java


def format_storage(java: str, classpath: str, props: Path, cluster_id: str | None = None) -> None:
    """Format the storage (no credential goes into it: the admin is checked against props).

    A cluster's nodes are formatted with the same ``cluster_id``; None: a new one.
    """
    cluster_id = cluster_id or uuid.uuid4().hex[:22]
    args = ["-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)]
    fmt = subprocess.run([java, *args], capture_output=True, text=True, check=False)
    if fmt.returncode != 0:
        raise StackError(f"formatting the Kafka storage failed: {fmt.stderr.strip()[-300:]}")


def spawn(java: str, classpath: str, props: Path, home: Path, heap: list[str]) -> subprocess.Popen[bytes]:
    """Start one Kafka node (its own session, output appended to ``home/stdout.log``)."""
    log4j = resources.files("certlife.services.infra.stack") / "log4j2.properties"
    with resources.as_file(log4j) as log4j_path, open(home / "stdout.log", "ab") as out:
        return subprocess.Popen(
            [
                java,
                *heap,
                "-XX:+UseG1GC",
                f"-Dkafka.logs.dir={home}",
                f"-Dlog4j2.configurationFile={log4j_path}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(props),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
