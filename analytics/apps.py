from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics.services.esp_feedback import esp_tracking_connect

        # anymail's tracking signal → ESP feedback (SES's arrives through SNS: analytics.webhooks)
        esp_tracking_connect()
