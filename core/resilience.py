"""Riding out our own infrastructure's short outages (a PostgreSQL restart, a Redis blip).

`with_db_retry` keeps a write that must not be lost (a provider's acceptance, a release of
claimed work) and tries it again on a fresh connection until the database is back, for at
most DB_WRITE_RETRY_SECONDS. `INFRA_ERRORS` are the errors that mean "our side is briefly
away", as opposed to a bug or a provider's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from core.clock import clock

logger = logging.getLogger(__name__)
T = TypeVar("T")

DB_ERRORS = (OperationalError, InterfaceError)
INFRA_ERRORS = (*DB_ERRORS, RedisError, BrokerError, ConnectionError, TimeoutError)


def with_db_retry(write: Callable[[], T], *, what: str) -> T:
    """Run `write`; while the database is unreachable, reconnect and try again (bounded).

    Inside a transaction a reconnect is impossible (the transaction is gone with the
    connection), so the error is raised at once and the caller's transaction decides.
    """
    deadline = clock.time() + settings.DB_WRITE_RETRY_SECONDS
    pause = 0.2
    while True:
        try:
            return write()
        except DB_ERRORS as exc:
            if connection.in_atomic_block or clock.time() + pause > deadline:
                raise
            logger.warning("database unavailable while %s (%s); retrying in %.1fs", what, exc, pause)
            connection.close()  # the next query opens a fresh connection
            clock.sleep(pause)
            pause = min(pause * 2, 3.0)
