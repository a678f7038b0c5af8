from django.contrib import admin

from subscribers.models import ConsentRecord, Subscriber, Subscription, Suppression, Topic


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_public", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    autocomplete_fields = ["topic"]


class ConsentRecordInline(admin.TabularInline):
    model = ConsentRecord
    extra = 0
    can_delete = False
    readonly_fields = ["action", "method", "source", "ip_address", "user_agent", "wording", "actor", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "status", "timezone", "engagement_score", "created_at", "confirmed_at"]
    list_filter = ["status", "source", "locale", "created_at"]
    search_fields = ["email", "name"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "updated_at",
        "confirmed_at",
        "unsubscribed_at",
        "engagement_score",
        "token_version",
    ]
    inlines = [SubscriptionInline, ConsentRecordInline]
    show_full_result_count = False
    list_per_page = 100


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "topic", "channel_kind", "frequency", "updated_at"]
    list_filter = ["channel_kind", "frequency", "topic"]
    search_fields = ["subscriber__email"]
    raw_id_fields = ["subscriber"]
    list_select_related = ["subscriber", "topic"]
    show_full_result_count = False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "action", "method", "source", "ip_address", "created_at"]
    list_filter = ["action", "method", "created_at"]
    search_fields = ["subscriber__email", "source"]
    raw_id_fields = ["subscriber", "actor"]
    list_select_related = ["subscriber"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # proof of consent is never edited


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "reason", "note", "created_by", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["email", "email_hash", "note"]
    readonly_fields = ["email_hash", "created_by", "created_at"]
