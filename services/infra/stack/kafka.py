"""Assemble an Apache Kafka broker from Maven Central and run it in KRaft mode."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
import uuid
from importlib import resources
from pathlib import Path

from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.procs import port_open, read_pid, stop_pid
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


def _properties(settings: StackSettings, data: Path) -> str:
    k, c = settings.kafka_port, settings.controller_port
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{c}",
            f"listeners=PLAINTEXT://127.0.0.1:{k},CONTROLLER://127.0.0.1:{c}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{k}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]
    )


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java not found on PATH: install a JDK 17 (apt-get install -y openjdk-17-jre-headless)"
        )
    return java


def preflight(settings: StackSettings) -> str:
    """Check Java and free ports before anything starts; return the java path."""
    java = _java()
    if read_pid(settings.state / "kafka" / "kafka.pid") is not None:
        return java
    for port in (settings.kafka_port, settings.controller_port):
        if port_open(port):
            raise StackError(
                f"port {port} is already in use by another process: stop it, or choose "
                "other ports with CERTLIFE_KAFKA_PORT / CERTLIFE_KAFKA_CONTROLLER_PORT"
            )
    return java


def start(settings: StackSettings) -> bool:
    """Start the broker unless ours already runs; True when this call started it."""
    home = settings.state / "kafka"
    pid_file = home / "kafka.pid"
    if running(settings):
        return False
    java = preflight(settings)
    libs = ensure_jars(settings)
    data = home / "data"
    try:
        home.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text(_properties(settings, data))
    except OSError as exc:
        raise StackError(f"cannot write the broker's files under {home} ({exc.strerror})") from None
    classpath = f"{libs}/*"
    if not (data / "meta.properties").exists():
        cluster_id = uuid.uuid4().hex[:22]
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise StackError(f"formatting the Kafka storage failed: {fmt.stderr.strip()[-300:]}")
    log4j = resources.files("certlife.services.infra.stack") / "log4j2.properties"
    with resources.as_file(log4j) as log4j_path, open(home / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            [
                java,
                f"-Xmx{settings.kafka_heap}",
                "-Xms256m",
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
    pid_file.write_text(f"{proc.pid}\n")
    _wait_ready(settings, proc, home)
    return True


def _wait_ready(settings: StackSettings, proc: subprocess.Popen[bytes], home: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(
                f"the Kafka broker exited at start (code {proc.returncode}); see {home}/stdout.log"
            )
        if port_open(settings.kafka_port) and _produce_probe(settings.kafka_bootstrap):
            return
        time.sleep(0.5)
    stop_pid(proc.pid)
    raise StackError(f"the Kafka broker did not accept a produce request within 90 s; see {home}/server.log")


def _produce_probe(bootstrap: str) -> bool:
    """Send one message to a probe topic; True once the broker really accepts produces."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    async def probe() -> bool:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(producer.start(), 10)
            await asyncio.wait_for(producer.send_and_wait("certlife.stack.probe", b"ping"), 15)
            return True
        except (KafkaError, TimeoutError, OSError):
            return False
        finally:
            await producer.stop()

    return asyncio.run(probe())


def running(settings: StackSettings) -> bool:
    """True when the broker this launcher started is up."""
    return read_pid(settings.state / "kafka" / "kafka.pid") is not None and port_open(settings.kafka_port)


def status(settings: StackSettings) -> str:
    """One line describing the broker's state."""
    pid = read_pid(settings.state / "kafka" / "kafka.pid")
    if pid is not None:
        return f"kafka: running (pid {pid}) at {settings.kafka_bootstrap}"
    if port_open(settings.kafka_port):
        return f"kafka: something else listens on {settings.kafka_bootstrap}"
    return "kafka: stopped"


def stop(settings: StackSettings) -> bool:
    """Stop the broker this launcher started; True when one was stopped."""
    pid_file = settings.state / "kafka" / "kafka.pid"
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    stop_pid(pid)
    pid_file.unlink(missing_ok=True)
    return True


def reset(settings: StackSettings) -> None:
    """Remove the broker's data (only while stopped)."""
    shutil.rmtree(settings.state / "kafka" / "data", ignore_errors=True)
    os.sync()
