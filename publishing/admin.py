from django.contrib import admin

from publishing.models import Publication


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = ["title", "state", "priority", "author", "publish_at", "published_at", "updated_at"]
    list_filter = ["state", "priority", "topics"]
    search_fields = ["title", "summary", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["topics"]
    date_hierarchy = "created_at"
    readonly_fields = ["published_at", "created_at", "updated_at"]
    list_select_related = ["author"]
