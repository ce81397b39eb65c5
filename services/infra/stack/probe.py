"""Does a broker accept writes? The launcher's produce probe (as admin, acks=all)."""

from __future__ import annotations

import asyncio
import logging

from certlife.services.infra.kafka_access import KafkaAccess

#: The topic the launcher writes to see that the broker accepts produces.
PROBE_TOPIC = "certlife.stack.probe"


def produce_probe(access: KafkaAccess) -> bool:
    """As admin, create a probe topic and send one message; True once the broker really accepts produces."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from certlife.services.infra.topics import TopicSpec, ensure_topics

    async def probe() -> bool:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        producer = AIOKafkaProducer(**access.client_options(), acks="all", request_timeout_ms=5000)
        try:
            await asyncio.wait_for(ensure_topics(access, [TopicSpec(PROBE_TOPIC)]), 15)
            await asyncio.wait_for(producer.start(), 10)
            await asyncio.wait_for(producer.send_and_wait(PROBE_TOPIC, b"ping"), 15)
            return True
        except (KafkaError, TimeoutError, OSError):
            return False
        finally:
            await producer.stop()

    return asyncio.run(probe())
