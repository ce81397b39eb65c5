"""Re-adding a running principal (``certctl stack up`` does it for every service) never takes a grant away.

A chaos run found the projections refused (GroupAuthorizationFailed, then not
authorized to read the log) while the launcher re-provisioned them: ``add``
deleted every ACL and created them again. Now it creates the missing ones
first and deletes only stale ones.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from certlife.services.infra import principals
from certlife.services.infra.kafka_admin import Acl, KafkaAdmin, Operation, ResourceType
from tests.kafka import admin

pytestmark = pytest.mark.integration


async def test_re_adding_a_principal_keeps_its_grants_and_drops_only_stale_ones() -> None:
    prefix = f"ra{uuid.uuid4().hex[:8]}."
    who = principals.service("projections", prefix)
    wanted = set(principals.grants(who))
    stale = Acl(who.principal, ResourceType.TOPIC, prefix + "old-topic", Operation.READ)
    gaps: list[int] = []
    try:
        await principals.add(admin(), who)
        async with KafkaAdmin(admin()) as kafka:
            await kafka.create_acls([stale])
            # ACLs reach the broker's authorizer from the controller's log: listing them can lag a create
            deadline = asyncio.get_running_loop().time() + 10
            while (
                stale not in await kafka.acls(who.principal) and asyncio.get_running_loop().time() < deadline
            ):
                await asyncio.sleep(0.05)
            assert stale in await kafka.acls(who.principal)
            stop = asyncio.Event()

            async def watch() -> None:
                while not stop.is_set():
                    held = set(await kafka.acls(who.principal))
                    gaps.append(len(wanted - held))

            watcher = asyncio.create_task(watch())
            for _ in range(5):
                await principals.add(admin(), who)
            stop.set()
            await watcher
            assert set(await kafka.acls(who.principal)) == wanted  # exactly its grants: the stale one went
    finally:
        async with KafkaAdmin(admin()) as kafka:
            await kafka.delete_acls(who.principal)
            await kafka.delete_user(who.user)
    assert len(gaps) > 10 and not any(gaps), f"grants missing during a re-add: {gaps}"
