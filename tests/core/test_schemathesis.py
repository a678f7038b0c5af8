"""The OpenAPI schema tells the truth (issue 11, item 11): schemathesis generates valid and
invalid requests for every operation of /api/schema/, sends each with every role's token to the
real WSGI application, and runs all its checks on every answer (no server error, status codes,
content types, headers and bodies as documented, invalid data refused, valid data accepted...).

Bounded for the suite (a few examples per operation, derandomized: the same cases every run);
`make fuzz` runs the same test longer and random (SCHEMATHESIS_MAX_EXAMPLES, SCHEMATHESIS_RANDOM,
SCHEMATHESIS_EVERY_ROLE; reproduce a failure with `--hypothesis-seed=<seed it printed>`).
"""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.db import transaction
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from core.roles import Role
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, TopicFactory, UserFactory

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "4"))
# Derandomized by default: the suite runs the same cases every time; `make fuzz` does not.
RANDOM = bool(os.environ.get("SCHEMATHESIS_RANDOM"))
# The suite sends each case with the next role's token in turn (every operation gets dozens of
# cases, so every role meets every operation); `make fuzz` sends every case with every token.
EVERY_ROLE_EVERY_CASE = bool(os.environ.get("SCHEMATHESIS_EVERY_ROLE"))
ROLES = (Role.VIEWER, Role.EDITOR, Role.PUBLISHER, Role.ADMIN)
# Every check is on. A request the schema allows can still break a business rule the schema
# cannot express (a topic slug that does not exist, a channel config for another kind): that is
# a documented 400 with field errors, so valid data may be refused with 400 as well.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429"]  # schemathesis' own list
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]},
            # Invalid data may also be refused for its size first: a body over API_MAX_BODY_BYTES
            # is a 413 before it is parsed (a fuzzed 200,000-character text did it).
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            },
        }
    }
)


@pytest.fixture
def same_connection():
    """Django's own test client does this too: the WSGI request must not close the database
    connection that holds the test's transaction (request_started/finished close old ones)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def role_headers(django_db_setup, django_db_blocker) -> dict[str, dict[str, str]]:
    """A token per role, and a little data for generated ids and slugs to find. Made once for the
    module (each case's own changes roll back with its test) and removed afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        topic = TopicFactory(slug="schemathesis", is_public=True)
        made = [topic, PublicationFactory(topics=[topic]), SubscriberFactory(), ChannelFactory()]
        headers = {}
        for role in ROLES:
            user = UserFactory(username=f"schemathesis-{role.name.lower()}")
            user.groups.add(Group.objects.get(name=role.group_name))
            headers[role.name] = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
            made.append(user)
    yield headers
    with django_db_blocker.unblock(), transaction.atomic():
        for instance in made:
            instance.delete()


def _live_schema():
    """/api/schema/ as the WSGI application serves it (no database needed to answer it)."""
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


schema = _live_schema()


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_for_every_role(case, role_headers, same_connection):
    roles = ROLES if EVERY_ROLE_EVERY_CASE else [next(_turns.setdefault(case.operation.label, itertools.cycle(ROLES)))]
    for role in roles:
        case.call_and_validate(headers=role_headers[role.name])


_turns: dict[str, itertools.cycle] = {}
