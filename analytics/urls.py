"""Public analytics URLs. The tracking paths are a contract with analytics/links.py, which
formats them without reversing (tests check both agree)."""

from django.urls import path, re_path

from analytics import views
from analytics.esp_webhooks import esp_tracking_webhook
from analytics.webhooks import SesTrackingWebhookView

app_name = "analytics"

urlpatterns = [
    re_path(r"^t/o/(?P<token>[^/]+)\.gif$", views.open_pixel_view, name="open"),
    re_path(r"^t/c/(?P<token>[^/]+)$", views.click_view, name="click"),
    re_path(r"^t/k/(?P<token>[^/]+)$", views.sunset_keep_view, name="sunset-keep"),
    # anymail's usual URL for the SES tracking webhook (SNS HTTPS subscription endpoint).
    path("anymail/amazon_ses/tracking/", SesTrackingWebhookView.as_view(), name="amazon_ses_tracking_webhook"),
    # Postmark, SendGrid, Mailgun, Brevo: one URL per email channel, verified with its own secrets.
    path("anymail/<str:esp>/tracking/<int:channel_id>/", esp_tracking_webhook, name="esp_tracking_webhook"),
]
