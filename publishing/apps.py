from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing"

    def ready(self) -> None:
        from channels_app.models import Send
        from channels_app.rendering import register_renderer
        from publishing.services.digest_content import DigestRenderer

        # Digest deliveries carry their own ranked items: channels_app renders them through us.
        register_renderer(Send.Kind.DIGEST, DigestRenderer)
