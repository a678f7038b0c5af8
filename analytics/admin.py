from django.contrib import admin

from analytics.models import EngagementEvent


@admin.register(EngagementEvent)
class EngagementEventAdmin(admin.ModelAdmin):
    list_display = ["id", "delivery", "kind", "is_machine", "occurred_at"]
    list_filter = ["kind", "is_machine", "occurred_at"]
    search_fields = ["dedupe_key"]
    raw_id_fields = ["delivery"]
    show_full_result_count = False
    list_per_page = 100
