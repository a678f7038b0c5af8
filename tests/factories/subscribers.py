import datetime

import factory

from subscribers.models import (
    EMAIL_KIND,
    ConsentRecord,
    ImportJob,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"topic-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    description = factory.Faker("sentence")


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    name = factory.Faker("name")
    status = Subscriber.Status.ACTIVE
    timezone = "UTC"
    confirmed_at = factory.Faker("date_time_this_year", tzinfo=datetime.UTC)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    subscriber = factory.SubFactory(SubscriberFactory)
    topic = factory.SubFactory(TopicFactory)
    channel_kind = EMAIL_KIND
    frequency = Subscription.Frequency.INSTANT


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentRecord

    subscriber = factory.SubFactory(SubscriberFactory)
    action = ConsentRecord.Action.CONFIRMED
    method = ConsentRecord.Method.LINK
    ip_address = factory.Faker("ipv4")
    wording = "Send me Bulletin updates."


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    email_hash = factory.LazyAttribute(lambda o: email_hash(o.email))
    reason = Suppression.Reason.MANUAL


class PendingSubscriberFactory(SubscriberFactory):
    status = Subscriber.Status.PENDING
    confirmed_at = None


class ImportJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportJob

    filename = "subscribers.csv"
    source = b"email,name\nada@example.com,Ada\n"
