"""The cluster's replication after a chaos run: every topic on every node, in sync, ``min.insync.replicas``.

On the 3-node cluster each certlife topic and the internal logs (transactions,
consumer offsets) must keep three replicas, all back in the in-sync set once the
killed nodes have returned, with ``min.insync.replicas=2`` (an acknowledged write
is on two nodes at least).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from certlife.services.chaos.checks import Check

#: Kafka's own logs a transactional, grouped deployment writes to.
INTERNAL = ("__transaction_state", "__consumer_offsets")


async def describe(client: dict[str, Any], topics: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Partitions (``partition``, ``leader``, ``replicas``, ``isr``) of each topic, in partition order,
    each with the topic's ``min_isr``; ``client``: aiokafka options of a principal that may describe."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(**client)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(topics)}
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, t, {"min.insync.replicas": None}) for t in topics
        ]
        min_isr: dict[str, int] = {}
        for response in await admin.describe_configs(resources):
            for resource in response.resources:
                min_isr[resource[3]] = int({c[0]: c[1] for c in resource[4]}["min.insync.replicas"])
        return {
            t: [{**p, "min_isr": min_isr[t]} for p in sorted(described[t]["partitions"], key=_index)]
            for t in topics
        }
    finally:
        await admin.close()


def _index(partition: dict[str, Any]) -> int:
    return int(partition["partition"])


def _faults(described: dict[str, list[dict[str, Any]]], nodes: list[int]) -> list[str]:
    found = []
    for topic, partitions in described.items():
        if not partitions:
            found.append(f"{topic}: no partitions")
        for p in partitions:
            where = f"{topic}[{p['partition']}]"
            if sorted(p["replicas"]) != nodes:
                found.append(f"{where}: replicas {sorted(p['replicas'])}")
            elif sorted(p["isr"]) != nodes:
                found.append(f"{where}: in sync {sorted(p['isr'])}")
            if p["min_isr"] != 2:
                found.append(f"{where}: min.insync.replicas {p['min_isr']}")
    return found


async def replication_check(client: dict[str, Any], topics: list[str], nodes: int, wait: float = 90) -> Check:
    """Every topic of ``topics`` and :data:`INTERNAL` on all ``nodes``, all in sync (waiting up to
    ``wait`` seconds for a restarted node to catch up), with ``min.insync.replicas=2``."""
    names, expected = [*topics, *INTERNAL], list(range(1, nodes + 1))
    began = time.monotonic()
    while True:
        described = await describe(client, names)
        faults = _faults(described, expected)
        if not faults or time.monotonic() - began > wait:
            break
        await asyncio.sleep(2)
    partitions = sum(len(p) for p in described.values())
    waited = time.monotonic() - began
    detail = (
        f"{len(names)} topics, {partitions} partitions: replicas {expected}, all in sync "
        f"({waited:.0f} s after the load), min.insync.replicas 2"
        if not faults
        else f"{len(faults)} partitions out of shape, e.g. {faults[:4]}"
    )
    figures = {
        "topics": len(names),
        "partitions": partitions,
        "out of shape": len(faults),
        "waited": round(waited, 1),
    }
    return Check(
        "every topic has 3 replicas, all in sync, min.insync.replicas=2", not faults, detail, figures
    )
