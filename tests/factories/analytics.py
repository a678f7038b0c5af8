import factory
from django.utils import timezone

from analytics.models import DailyRollup, EngagementEvent
from tests.factories.channels_app import ChannelFactory, DeliveryFactory, SendFactory


class EngagementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    delivery = factory.SubFactory(DeliveryFactory)
    kind = EngagementEvent.Kind.OPEN
    occurred_at = factory.LazyFunction(timezone.now)


def ses_event(kind: str, *, message_id: str, recipient: str, **details) -> dict:
    """An SES event as event publishing posts it to SNS (eventType form), one recipient."""
    stamp = "2026-11-20T10:00:00.000Z"
    mail = {
        "timestamp": "2026-11-20T09:59:58.000Z",
        "source": "News <news@example.com>",
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": [recipient],
        "headersTruncated": False,
        "headers": [{"name": "List-Unsubscribe-Post", "value": "List-Unsubscribe=One-Click"}],
        "tags": {"ses:configuration-set": ["bulletin"]},
    }
    bodies = {
        "Bounce": lambda: {
            "bounce": {
                "bounceType": details.get("bounce_type", "Permanent"),
                "bounceSubType": details.get("bounce_subtype", "General"),
                "bouncedRecipients": [
                    {
                        "emailAddress": recipient,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": details.get("diagnostic", "smtp; 550 5.1.1 user unknown"),
                    }
                ],
                "timestamp": stamp,
                "feedbackId": "0100-feedback",
                "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
            }
        },
        "Complaint": lambda: {
            "complaint": {
                "complainedRecipients": [{"emailAddress": recipient}],
                "timestamp": stamp,
                "feedbackId": "0100-feedback",
                "userAgent": "ExampleCorp Feedback Loop (V0.01)",
                "complaintFeedbackType": "abuse",
                "arrivalDate": stamp,
            }
        },
        "Delivery": lambda: {
            "delivery": {
                "timestamp": stamp,
                "processingTimeMillis": 546,
                "recipients": [recipient],
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
            }
        },
        "Reject": lambda: {"reject": {"reason": "Bad content"}},
        "Open": lambda: {"open": {"ipAddress": "192.0.2.1", "timestamp": stamp, "userAgent": "Mozilla/5.0"}},
    }
    return {"eventType": kind, "mail": mail, **bodies[kind]()}


class DailyRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DailyRollup

    day = factory.LazyFunction(lambda: timezone.now().date())
    send = factory.SubFactory(SendFactory)
    channel = factory.SubFactory(ChannelFactory)
    channel_kind = factory.LazyAttribute(lambda o: o.channel.kind)
