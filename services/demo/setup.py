"""One demo run's names, keys, environment and service processes (under one supervisor)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from signal import SIGKILL

import asyncpg

from certlife.services.infra.settings import Settings
from certlife.services.infra.stack import provision_if_local
from certlife.services.infra.stack.settings import StackSettings
from certlife.services.infra.supervisor import ServiceProcess, Supervisor
from certlife.services.relay.keystore import KeyStore

SERVICES = ("commands", "relay", "projections")
#: What a run starts and must stop: the partners' witnesses, and the operator's supervisor.
Started = ServiceProcess | Supervisor
READY = {
    "commands": "started successfully",
    "relay": "relay active",
    "projections": "started successfully",
    "publisher": "publisher active",
}


@dataclass(frozen=True)
class DemoRun:
    """Everything one run isolates: topic prefix, schemas, key folder, logs."""

    run_id: str
    directory: Path
    env: dict[str, str]
    #: Each service's own database URL (its least-privilege role), once ``migrate`` ran.
    service_urls: dict[str, str] = field(default_factory=dict)

    @cached_property
    def settings(self) -> Settings:
        """The services' settings for this run (parsed once)."""
        return Settings.from_env(self.env)

    @property
    def mirror_schema(self) -> str:
        """The partner mirror's schema (in real life: the partner's own database)."""
        return f"mirror_{self.run_id}"

    @classmethod
    def create(cls, bootstrap: str, database_url: str, scale_id: str = "") -> DemoRun:
        """Fresh names under $CERTLIFE_HOME/demo/<run>; the key passphrase lives in a 0600 file."""
        run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + scale_id
        directory = StackSettings.from_env().home / "demo" / run_id
        directory.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if not (env.get("CERTLIFE_KEY_PASSPHRASE") or env.get("CERTLIFE_KEY_PASSPHRASE_FILE")):
            secret = directory / "passphrase"
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24))
            env["CERTLIFE_KEY_PASSPHRASE_FILE"] = str(secret)
        env.update(
            {
                "CERTLIFE_KAFKA_BOOTSTRAP": bootstrap,
                "CERTLIFE_DATABASE_URL": database_url,
                "CERTLIFE_DB_SCHEMA": f"demo_{run_id}",
                "CERTLIFE_TOPIC_PREFIX": f"demo{run_id}.",
                "CERTLIFE_KEYS_DIR": str(directory / "keys"),
                "CERTLIFE_CHECKPOINT_INTERVAL": env.get("CERTLIFE_CHECKPOINT_INTERVAL", "1"),
                "CERTLIFE_POLL_INTERVAL": env.get("CERTLIFE_POLL_INTERVAL", "0.2"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return cls(run_id, directory, env)

    def provision_kafka(self) -> None:
        """On the local stack: this run's topics and its services' own principals (least privilege).

        The services then run as ``<prefix>certlife-<role>`` (their grants only),
        not as whatever principal the caller's environment names.
        """
        if not provision_if_local(self.settings.kafka_bootstrap, self.settings.topic_prefix):
            return  # an external cluster: its operator provisions principals
        for name in ("CERTLIFE_KAFKA_USERNAME", "CERTLIFE_KAFKA_PASSWORD", "CERTLIFE_KAFKA_PASSWORD_FILE"):
            self.env.pop(name, None)

    def service_env(self, name: str) -> dict[str, str]:
        """The environment of service ``name``: the run's, with the service's own database role."""
        url = self.service_urls.get(name)
        return {**self.env, "CERTLIFE_DATABASE_URL": url} if url else self.env

    async def create_schemas(self) -> None:
        """The event store's schema (services create their tables themselves)."""
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.settings.db_schema}"')
        finally:
            await conn.close()

    def generate_keys(self) -> tuple[str, KeyStore]:
        """The first record key and the note key (encrypted PKCS#8)."""
        from certlife.services.bootstrap import build_keystore

        store = build_keystore(self.settings)
        ids = store.record_key_ids()
        kid = ids[0] if ids else store.generate_record_key()
        store.ensure_note_key()
        return kid, store

    async def migrate(self) -> None:
        """On the local stack: create the run's tables as the schema owner (``certctl db migrate``)
        and run each service as its own PostgreSQL role, with only the grants it uses."""
        from certlife.services.cli.db_cmd import migrated
        from certlife.services.infra.stack import pgroles

        stack = StackSettings.from_env()
        if self.settings.database_url != stack.database_url:
            return  # an external database: its operator creates the roles
        await migrated(self.settings)
        self.service_urls.update({name: pgroles.role_url(stack, f"certlife_{name}") for name in SERVICES})
        self.service_urls["api"] = pgroles.role_url(stack, pgroles.READER)  # SELECT on read models only

    def start_services(self, args: Sequence[str] = ()) -> list[ServiceProcess]:
        """Command service, relay and projections as three unsupervised processes, once ready
        (tests and benchmarks that watch each one; the main job uses :meth:`supervise`).
        ``args`` follow ``certctl serve NAME`` (e.g. ``--log-level DEBUG``). They die with the
        calling thread (a killed benchmark leaves none running)."""
        procs = [
            ServiceProcess(
                name, self.service_env(name), self.directory / "logs", args=args, parent_death_signal=SIGKILL
            ).start()
            for name in SERVICES
        ]
        for proc in procs:
            proc.wait_for_log(READY[proc.service], timeout=60)
        return procs

    def supervise(self, extra: Sequence[ServiceProcess] = ()) -> Supervisor:
        """Command service, relay, projections and ``extra`` as children of one supervisor, once ready.

        The supervisor (``certctl serve all``'s) restarts a child that dies; its
        lines go to ``logs/supervisor.log``, restarts also to standard error.
        """
        self._log_supervisor()
        logs = self.directory / "logs"
        procs = [ServiceProcess(name, self.service_env(name), logs) for name in SERVICES] + list(extra)
        supervisor = Supervisor(procs).start()
        try:
            for proc in procs:
                if proc.service in READY:
                    proc.wait_for_log(READY[proc.service], timeout=60)
        except BaseException:
            supervisor.stop()
            raise
        return supervisor

    def start_api(self, supervisor: Supervisor) -> str:
        """``certctl serve api`` under ``supervisor`` (read-only role, this run's trust file and
        tiles, any free port kept across restarts); the lookup page's URL."""
        env = {**self.service_env("api"), "CERTLIFE_TRUST_FILE": str(self.directory / "trust.json")}
        api = supervisor.add(ServiceProcess("api", env, self.directory / "logs", args=["--port", "0"]))
        url = api.listening_url(timeout=60)
        api.pin_port(url)
        return url + "/"

    def _log_supervisor(self) -> None:
        log = logging.getLogger("certlife.supervisor")
        log.setLevel(logging.INFO)
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(self.directory / "logs" / "supervisor.log")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_console = logging.StreamHandler()
        to_console.setLevel(logging.WARNING)
        log.addHandler(to_file)
        log.addHandler(to_console)
