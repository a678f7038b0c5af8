"""Every write about subscribers with consequences. Import from here: `from subscribers.services import ...`."""

from subscribers.services.consent import ConsentContext, consent_record_create
from subscribers.services.gdpr import subscriber_erase, subscriber_export
from subscribers.services.imports import import_job_create, subscribers_import
from subscribers.services.messages import MessageKind, subscriber_message_send
from subscribers.services.preferences import (
    SubscriptionChoice,
    subscriber_links_revoke,
    subscriber_preferences_update,
)
from subscribers.services.subscribe import subscriber_confirm, subscriber_link_request, subscriber_subscribe
from subscribers.services.suppression import suppression_add, suppression_remove
from subscribers.services.unsubscribe import subscriber_unsubscribe

__all__ = [
    "ConsentContext",
    "MessageKind",
    "SubscriptionChoice",
    "consent_record_create",
    "import_job_create",
    "subscriber_confirm",
    "subscriber_erase",
    "subscriber_export",
    "subscriber_link_request",
    "subscriber_links_revoke",
    "subscriber_message_send",
    "subscriber_preferences_update",
    "subscriber_subscribe",
    "subscriber_unsubscribe",
    "subscribers_import",
    "suppression_add",
    "suppression_remove",
]
