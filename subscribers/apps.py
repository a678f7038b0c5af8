from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = "Subscribers"

    def ready(self) -> None:
        from django.db.models import CharField, EmailField
        from django.db.models.functions import Lower

        # `email__lower=...` compiles to LOWER(email) = ..., which uses the functional
        # unique index that makes emails case-insensitively unique.
        EmailField.register_lookup(Lower)
        CharField.register_lookup(Lower)
