from django.contrib import admin
from django.db.models import Count, Q

from channels_app.models import Channel, Delivery, Send


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "audience", "is_default", "is_active", "circuit_state", "rate_limit_per_second"]
    list_filter = ["kind", "audience", "is_active", "circuit_state"]
    search_fields = ["name"]
    filter_horizontal = ["topics"]
    readonly_fields = ["disabled_at", "circuit_opened_at", "circuit_reason", "created_at", "updated_at"]


@admin.register(Send)
class SendAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "status", "audience_size", "queued", "sent", "failed", "dead", "created_at"]
    list_filter = ["kind", "status", "high_priority"]
    search_fields = ["key", "subject"]
    raw_id_fields = ["publication", "created_by"]
    readonly_fields = ["created_at", "started_at", "finished_at"]

    def get_queryset(self, request):
        counts = {
            state: Count("deliveries", filter=Q(deliveries__state=state))
            for state in ("queued", "sent", "failed", "dead")
        }
        return super().get_queryset(request).annotate(**{f"n_{k}": v for k, v in counts.items()})

    @admin.display(ordering="n_queued")
    def queued(self, obj) -> int:
        return obj.n_queued

    @admin.display(ordering="n_sent")
    def sent(self, obj) -> int:
        return obj.n_sent

    @admin.display(ordering="n_failed")
    def failed(self, obj) -> int:
        return obj.n_failed

    @admin.display(ordering="n_dead")
    def dead(self, obj) -> int:
        return obj.n_dead


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "send", "channel", "recipient", "state", "attempts", "last_error", "updated_at"]
    list_filter = ["state", "channel"]
    search_fields = ["recipient", "provider_message_id"]
    raw_id_fields = ["send", "subscriber"]
    list_select_related = ["send", "channel"]
    readonly_fields = ["created_at", "updated_at", "sent_at", "lease_expires_at"]
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).defer("context")
