"""Is a local cluster whole? Its brokers registered, and its credentials written back after a start."""

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
