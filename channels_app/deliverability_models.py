"""What Bulletin learns from DNS about where mail goes and where it comes from (imported by
channels_app.models): the mailbox provider behind each recipient domain, and the health of
each From domain (SPF, DKIM, DMARC, List-Unsubscribe readiness)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class MailboxProvider(models.TextChoices):
    GMAIL = "gmail", "Gmail / Google Workspace"
    OUTLOOK = "outlook", "Outlook / Microsoft 365"
    YAHOO = "yahoo", "Yahoo / AOL"
    APPLE = "apple", "Apple iCloud"
    OTHER = "other", "Other"


class MailboxDomain(models.Model):
    """A recipient domain's mailbox provider: from the well-known table, or from its MX
    (a company domain whose MX is aspmx.l.google.com is Gmail). Also the cache of MX lookups:
    re-resolved once MAILBOX_PROVIDER_CACHE_SECONDS have passed since `resolved_at`."""

    Provider = MailboxProvider

    domain = models.CharField(max_length=253, unique=True)
    provider = models.CharField(max_length=16, choices=MailboxProvider.choices)
    mx = models.CharField(max_length=253, blank=True, help_text="The most preferred MX host when it was looked up.")
    resolved_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(provider__in=MailboxProvider.values), name="mailboxdomain_provider_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.domain} → {self.provider}"


class DomainHealthStatus(models.TextChoices):
    OK = "ok", "Ready"
    WARNING = "warning", "Works, should be fixed"
    FAILING = "failing", "Failing: fix before sending"
    UNKNOWN = "unknown", "Not checked (DNS unavailable)"


class DomainHealth(models.Model):
    """The last check of one From domain. `checks` is a list of
    {"name", "status", "found", "problem", "fix", "record"}: `record` is the exact DNS record
    to add (name, type, value) when one would fix it."""

    Status = DomainHealthStatus

    domain = models.CharField(max_length=253, unique=True)
    status = models.CharField(max_length=16, choices=DomainHealthStatus.choices, default=DomainHealthStatus.UNKNOWN)
    checks = models.JSONField(default=list, blank=True)
    dkim_selectors = models.JSONField(default=list, blank=True)
    channels = models.ManyToManyField("channels_app.Channel", related_name="+", blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain"]
        verbose_name_plural = "domain health"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=DomainHealthStatus.values), name="domainhealth_status_valid")
        ]

    def __str__(self) -> str:
        return f"{self.domain}: {self.get_status_display()}"

    @property
    def problems(self) -> list[dict]:
        return [c for c in self.checks if c.get("status") != DomainHealthStatus.OK]


class ProviderHold(models.Model):
    """One send's deliveries to one mailbox provider are held (the guard saw that provider's
    bounce or complaint rate cross a threshold) while its other deliveries flow. Held
    deliveries stay queued and are looked at again every MAILBOX_PROVIDER_HOLD_SECONDS until
    an editor releases the hold."""

    send = models.ForeignKey("channels_app.Send", on_delete=models.CASCADE, related_name="provider_holds")
    provider = models.CharField(max_length=16, choices=MailboxProvider.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["send", "provider"], condition=Q(released_at__isnull=True), name="providerhold_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"send #{self.send_id}: {self.provider} held"
