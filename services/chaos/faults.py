"""The faults, one at a time: what each does to the private stack, and when it began and ended.

A fault's ``ended`` is the instant the system had what it needs again: the kill
itself for a SIGKILL (the supervisor or the cluster must cope from there), the
return of the restart for an outage (the broker accepts produces, PostgreSQL
takes connections). Recovery is measured from ``ended`` (:mod:`.checks`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient

from certlife.contracts import topics
from certlife.services.chaos.errors import ChaosError
from certlife.services.chaos.privstack import PrivateStack
from certlife.services.infra.service_process import service_children
from certlife.services.infra.stack import kafka

SERVICES = ("commands", "relay", "projections")


@dataclass
class Fault:
    """One injected fault and what was seen of it."""

    name: str
    kind: str  # kill | broker-down | postgres-down | leader-kill | controller-kill | postgres-failover
    target: str = ""
    seconds: float = 0.0  # how long the outage was meant to last (0: an instant)
    started: float = 0.0  # epoch seconds
    ended: float = 0.0
    notes: list[str] = field(default_factory=list)


def plan(
    full: bool, brokers: int, pg_replica: bool, outage: float, cluster_only: bool = False
) -> list[Fault]:
    """The faults of one run, in order (full: three kills of each service, else one; ``cluster_only``:
    only the cluster's node kills and the PostgreSQL failover)."""
    out: list[Fault] = []
    if not cluster_only:
        kills = [Fault(f"SIGKILL {s} #{i + 1}", "kill", s) for i in range(3 if full else 1) for s in SERVICES]
        out += [*kills[:3], Fault(f"broker down {outage:.0f} s", "broker-down", seconds=outage)]
        out += [*kills[3:6], Fault(f"PostgreSQL down {outage:.0f} s", "postgres-down", seconds=outage)]
        out += kills[6:]
    if brokers > 1:
        out += [
            Fault("SIGKILL log partition leader", "leader-kill"),
            Fault("SIGKILL active controller", "controller-kill"),
        ]
    if pg_replica:
        out.append(Fault("PostgreSQL primary killed, replica promoted", "postgres-failover"))
    return out


def child_pid(parent: int, service: str) -> int | None:
    """The pid of ``certctl serve SERVICE`` running as a child of ``parent`` (the supervisor; not its
    waiting warm spare)."""
    return service_children(parent).get(service)


class Injector:
    """Injects faults into the private stack under a running ``certctl serve all`` (pid ``supervisor``)."""

    def __init__(self, stack: PrivateStack, supervisor: int, prefix: str, node_down: float = 20.0) -> None:
        """Faults on ``stack``; services are children of ``supervisor``; ``prefix`` names the topics;
        a killed cluster node is started again ``node_down`` seconds after its kill."""
        self.stack, self.supervisor, self.prefix, self.node_down = stack, supervisor, prefix, node_down

    async def inject(self, fault: Fault) -> None:
        """Inject ``fault`` and return once it has ended (filling in its times and notes)."""
        handler = getattr(self, "_" + fault.kind.replace("-", "_"))
        await handler(fault)

    async def _kill(self, fault: Fault) -> None:
        pid = child_pid(self.supervisor, fault.target)
        if pid is None:
            raise ChaosError(f"{fault.target} is not running under the supervisor (pid {self.supervisor})")
        os.kill(pid, signal.SIGKILL)
        fault.started = fault.ended = time.time()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            new = child_pid(self.supervisor, fault.target)
            if new is not None and new != pid:
                fault.notes.append(f"restarted by the supervisor after {time.time() - fault.started:.2f} s")
                return
            await asyncio.sleep(0.05)
        fault.notes.append("not restarted within 60 s")

    async def _outage(self, fault: Fault, stop: Callable[[], object], start: Callable[[], object]) -> None:
        fault.started = time.time()
        await asyncio.to_thread(stop)
        await asyncio.sleep(max(0.0, fault.started + fault.seconds - time.time()))
        back = time.time()
        await asyncio.to_thread(start)
        fault.ended = time.time()
        fault.notes.append(f"down {back - fault.started:.1f} s; restart took {fault.ended - back:.1f} s")

    async def _broker_down(self, fault: Fault) -> None:
        node = self.stack.settings.brokers  # the last node (the single broker: 1)
        fault.target = f"kafka-{node}"
        await self._outage(fault, lambda: self.stack.broker_stop(node), self.stack.kafka_start)

    async def _postgres_down(self, fault: Fault) -> None:
        fault.target = f"postgres :{self.stack.settings.postgres_port}"
        await self._outage(fault, self.stack.postgres_stop, self.stack.postgres_start)

    async def _leader_kill(self, fault: Fault) -> None:
        await self._node_kill(fault, await self._log_leader())

    async def _controller_kill(self, fault: Fault) -> None:
        await self._node_kill(fault, self.stack.active_controller())

    async def _node_kill(self, fault: Fault, node: int) -> None:
        fault.target = f"kafka-{node}"
        self.stack.broker_kill(node)
        fault.started = fault.ended = time.time()
        await asyncio.sleep(self.node_down)  # the cluster carries on with two nodes; then the node is back
        began = time.time()
        await asyncio.to_thread(self.stack.kafka_start)
        fault.notes.append(
            f"node {node} restarted {self.node_down:.0f} s after the kill (took {time.time() - began:.1f} s)"
        )

    async def _postgres_failover(self, fault: Fault) -> None:
        from certlife.services.infra import stack

        fault.target = f"postgres :{self.stack.settings.postgres_port}"
        fault.started = time.time()
        await asyncio.to_thread(self.stack.postgres_stop)  # the primary dies (immediate: no checkpoint)
        line = await asyncio.to_thread(stack.promote, self.stack.settings)
        fault.ended = time.time()
        fault.notes.append(f"{line} after {fault.ended - fault.started:.1f} s")

    async def _log_leader(self) -> int:
        admin = AIOKafkaAdminClient(**kafka.admin_access(self.stack.settings).client_options())
        await admin.start()
        try:
            described = await admin.describe_topics([self.prefix + topics.LOG])
            return int(described[0]["partitions"][0]["leader"])
        finally:
            await admin.close()
