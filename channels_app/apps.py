from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Channels and deliveries"

    def ready(self) -> None:
        from core.outbound import checks  # noqa: F401  (registers the outbound deploy check)
