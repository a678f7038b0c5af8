"""Public subscriber pages. The token paths are a contract with subscribers/links.py, which
formats them without reversing (tests check both agree)."""

from django.urls import path

from subscribers import embed, inbound, views

app_name = "subscribers"

urlpatterns = [
    path("subscribe", views.subscribe_view, name="subscribe"),
    path("subscribe/embed", embed.subscribe_embed_view, name="subscribe-embed"),
    path("subscribe/thanks", views.subscribe_done_view, name="subscribe-done"),
    path("confirm/<str:token>", views.confirm_view, name="confirm"),
    path("preferences/<str:token>", views.preferences_view, name="preferences"),
    path("preferences/<str:token>/unsubscribe", views.preferences_unsubscribe_view, name="preferences-unsubscribe"),
    path("preferences/<str:token>/revoke", views.preferences_revoke_view, name="preferences-revoke"),
    path("preferences/<str:token>/data.json", views.preferences_data_view, name="preferences-data"),
    path("u/<str:token>", views.unsubscribe_view, name="unsubscribe"),
    path("links/new", views.link_request_view, name="link-request"),
    path("test-message/<str:link>", views.testmessage_view, name="test-message"),
    # The mailto form of List-Unsubscribe, received by an ESP (anymail's usual inbound URLs).
    path("anymail/amazon_ses/inbound/", inbound.inbound_view(inbound.SesInboundWebhookView), name="inbound-ses"),
    path("anymail/postmark/inbound/", inbound.inbound_view(inbound.PostmarkInboundView), name="inbound-postmark"),
    path("anymail/mailgun/inbound/", inbound.inbound_view(inbound.MailgunInboundView), name="inbound-mailgun"),
    path("anymail/mailgun/inbound_mime/", inbound.inbound_view(inbound.MailgunInboundView)),
    path("anymail/brevo/inbound/", inbound.inbound_view(inbound.BrevoInboundView), name="inbound-brevo"),
]
