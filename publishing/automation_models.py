"""Automations (issue 15 item 1): a named sequence of steps a subscriber walks through, started by
a trigger. Imported by publishing.models.

Editors edit the draft steps (AutomationStep rows, an inline in admin); activating or saving a
changed draft freezes it into an AutomationVersion (steps as JSON). Each subscriber's progress is
an AutomationEnrollment naming the version it runs, so an edit never changes (or resends) what a
subscriber already walked: in-flight subscribers finish the version they entered, new entrants
get the new one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AutomationTrigger(models.TextChoices):
    CONFIRMED = "confirmed", "Subscriber confirmed"
    TOPIC_JOINED = "topic_joined", "Joined a topic"
    FIELD_CHANGED = "field_changed", "A field changed"
    SEGMENT_ENTERED = "segment_entered", "Entered a segment (checked every few minutes)"
    CUSTOM_EVENT = "custom_event", "A custom event posted through the API"
    DATE = "date", "A date attribute (anniversary or on the date)"
    MANUAL = "manual", "Only when enrolled (admin or API)"


class AutomationStepKind(models.TextChoices):
    SEND = "send", "Send a message"
    WAIT = "wait", "Wait a duration"
    WAIT_UNTIL = "wait_until", "Wait until a local time of day"
    BRANCH_SEGMENT = "branch_segment", "Branch: in a segment?"
    BRANCH_ENGAGED = "branch_engaged", "Branch: opened/clicked the previous message?"
    TOPIC_ADD = "topic_add", "Add a topic"
    TOPIC_REMOVE = "topic_remove", "Remove a topic"
    FIELD_SET = "field_set", "Set a field"
    EXIT = "exit", "Exit"


class Automation(models.Model):
    Trigger = AutomationTrigger

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, choices=AutomationTrigger.choices)
    # topic_joined: {"topic": slug}; field_changed: {"field": key}; segment_entered: {"segment": id};
    # custom_event: {"event": name}; date: {"field": key, "mode": "anniversary"|"on_date", "offset_days": n}.
    trigger_config = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False, help_text="Only an active automation enrolls anyone.")
    # Message steps that fall inside this window wait for its end on the subscriber's own clock
    # (publishing.services.quiet_hours); not versioned: a change applies to every step from now on.
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="e.g. 21:00, subscriber's local time.")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="e.g. 08:00; held messages go then.")
    current_version = models.ForeignKey(
        "AutomationVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(trigger__in=AutomationTrigger.values), name="automation_trigger_valid")
        ]

    def __str__(self) -> str:
        return self.name


class AutomationStep(models.Model):
    """One step of the draft. Positions start at 0; a branch names the positions it goes to."""

    Kind = AutomationStepKind

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=AutomationStepKind.choices)
    template = models.ForeignKey(
        "publishing.MessageTemplate", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    wait = models.DurationField(null=True, blank=True, help_text="wait: e.g. 1 day, 2:00:00.")
    local_time = models.TimeField(null=True, blank=True, help_text="wait_until: in the subscriber's time zone.")
    segment = models.ForeignKey(
        "subscribers.Segment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    engagement = models.CharField(
        max_length=8, blank=True, choices=[("opened", "Opened"), ("clicked", "Clicked")], help_text="branch_engaged."
    )
    topic = models.ForeignKey("subscribers.Topic", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    field_key = models.CharField(max_length=50, blank=True, help_text="field_set: the attribute key.")
    field_value = models.JSONField(null=True, blank=True, help_text="field_set: the value (JSON).")
    if_true = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Branch: step to go to when true (blank: next)."
    )
    if_false = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Branch: step to go to when false (blank: exit)."
    )

    class Meta:
        ordering = ["automation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["automation", "position"], name="automationstep_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.get_kind_display()}"


class AutomationVersion(models.Model):
    """The frozen steps subscribers walk: never edited once created."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    steps = models.JSONField(help_text="The steps as frozen (see services.automations.definitions).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["automation", "-number"]
        constraints = [models.UniqueConstraint(fields=["automation", "number"], name="automationversion_unique")]

    def __str__(self) -> str:
        return f"{self.automation_id} v{self.number}"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "In progress"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class AutomationEnrollment(models.Model):
    """One subscriber's walk through one version: the step it is at and when that step is due."""

    State = EnrollmentState

    automation = models.ForeignKey(
        Automation, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )  # the "where" index leads with it
    version = models.ForeignKey(AutomationVersion, on_delete=models.PROTECT, related_name="enrollments", db_index=False)
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="+", db_index=False
    )  # the unique key leads with it
    # One walk per automation and occurrence: "" once ever; an anniversary's year.
    occurrence = models.CharField(max_length=16, blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=12, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE)
    due_at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True, help_text="The trigger's data ({{ data.key }} in messages).")
    # The last message step's send: what branch_engaged looks at.
    last_send_id = models.BigIntegerField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)
    entered_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "automation", "occurrence"], name="automationenrollment_once"
            ),
            models.CheckConstraint(
                condition=Q(state__in=EnrollmentState.values), name="automationenrollment_state_valid"
            ),
        ]
        # Every step rewrites a row (due_at changes, so never a HOT update) and each index with it:
        # few indexes. The unique key leads with the subscriber, which is how leaving finds rows.
        indexes = [
            models.Index(fields=["due_at"], name="automationenrollment_due", condition=Q(state="active")),
            models.Index(fields=["automation", "state", "position"], name="automationenrollment_where"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id} in {self.automation_id} at {self.position} ({self.state})"


class AutomationStepStat(models.Model):
    """Counters per version and step, bumped by the set-based advance (one UPDATE per step and
    batch). Opens and clicks are read from the step's send (analytics)."""

    version = models.ForeignKey(AutomationVersion, on_delete=models.CASCADE, related_name="stats")
    position = models.PositiveSmallIntegerField()
    entered = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "position"]
        constraints = [models.UniqueConstraint(fields=["version", "position"], name="automationstepstat_unique")]

    def __str__(self) -> str:
        return f"{self.version_id}#{self.position}"
