"""Is a local broker or cluster ready? A produce accepted, brokers registered, credentials written back."""

from __future__ import annotations

import asyncio
import logging

from certlife.services.infra.kafka_access import KafkaAccess
from certlife.services.infra.stack import kafka
from certlife.services.infra.stack.errors import StackError
from certlife.services.infra.stack.settings import StackSettings


def registered_brokers(access: KafkaAccess) -> int:
    """How many brokers the cluster's metadata lists now (0 while it cannot be asked)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    async def count() -> int:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        admin = AIOKafkaAdminClient(**access.client_options(), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 10)
            return len((await asyncio.wait_for(admin.describe_cluster(), 10))["brokers"])
        except (KafkaError, TimeoutError, OSError):
            return 0
        finally:
            await admin.close()

    return asyncio.run(count())


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


def restore_credentials(settings: StackSettings) -> None:
    """Write the kept SCRAM credentials back (``stack/credentials.py``) and wait until one logs in."""
    from aiokafka.errors import KafkaError

    from certlife.services.infra.stack import credentials

    try:
        asyncio.run(
            credentials.restore(settings.state, kafka.admin_access(settings), kafka._known_login(settings))
        )
    except KafkaError as exc:
        raise StackError(
            f"the Kafka cluster started but refused the restored credentials ({exc}); "
            f"see {settings.state}/kafka-*/server.log"
        ) from None
