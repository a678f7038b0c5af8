from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """Cross-cutting pieces: roles, API conventions, health, mail outbox, encryption."""

    name = "core"
    verbose_name = "Bulletin"

    def ready(self) -> None:
        from core import checks, lookups  # noqa: F401  (registers system checks and the `any` lookup)
        from core.broker import ensure_embedded_broker_folders

        ensure_embedded_broker_folders()
        _brand_admin()
        _bound_admin_json_fields()
        _wall_clock_api_times()
        # Role groups get their model permissions, which exist only after every app migrated.
        post_migrate.connect(_sync_roles, dispatch_uid="core.roles_sync")


def _brand_admin() -> None:
    """Admin says Bulletin, not "Django administration"; "View site" leads to the home page."""
    from django.contrib import admin

    admin.site.site_header = "Bulletin"
    admin.site.site_title = "Bulletin admin"
    admin.site.index_title = "Publishing, subscribers and channels"
    admin.site.site_url = "/"


def _bound_admin_json_fields() -> None:
    """Every JSON field of every admin form parses within the API's bounds (core.forms).
    `django.contrib.admin` is ready first (it registers the ModelAdmins), so each registered
    ModelAdmin gets the form field class here, unless it chose its own."""
    from django.apps import apps
    from django.contrib import admin
    from django.db import models

    from core.forms import BoundedJSONFormField

    for model in apps.get_models():
        if admin.site.is_registered(model):
            overrides = admin.site.get_model_admin(model).formfield_overrides
            overrides.setdefault(models.JSONField, {}).setdefault("form_class", BoundedJSONFormField)


def _wall_clock_api_times() -> None:
    """Every model TimeField a DRF ModelSerializer builds is a WallClockTimeField (no offsets,
    a schema that says HH:MM), through DRF's own extension point, the field mapping."""
    from django.db import models
    from rest_framework import serializers

    from core.api.serializers import WallClockTimeField

    serializers.ModelSerializer.serializer_field_mapping[models.TimeField] = WallClockTimeField


def _sync_roles(sender, using="default", **kwargs) -> None:
    from django.apps import apps

    # post_migrate fires once per app; run once, after the last of ours.
    if sender is not apps.get_app_config("analytics"):
        return
    from core.roles import roles_sync

    roles_sync(using=using)
