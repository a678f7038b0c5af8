"""Digest logs, A/B tests, and the ranking explanation page ("why did this rank here for them?")."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from publishing.models import ABTest, DigestFrequency, DigestLog
from publishing.services.abtests import abtest_results
from publishing.services.explain import digest_explain
from subscribers.models import Subscriber, Topic


class ExplainForm(forms.Form):
    subscriber = forms.CharField(label="Subscriber (id or email)", max_length=254)
    frequency = forms.ChoiceField(choices=DigestFrequency.choices, initial=DigestFrequency.DAILY)

    def clean_subscriber(self):
        value = self.cleaned_data["subscriber"].strip()
        query = Q(pk=int(value)) if value.isdigit() else Q(email__iexact=value)
        subscriber = Subscriber.objects.filter(query).first()
        if subscriber is None:
            raise forms.ValidationError("No subscriber with this id or email.")
        return subscriber


@admin.register(DigestLog)
class DigestLogAdmin(admin.ModelAdmin):
    list_display = [
        "subscriber",
        "channel_kind",
        "frequency",
        "period",
        "scheduled_for",
        "items",
        "send",
        "why",
        "created_at",
    ]
    list_filter = ["channel_kind", "frequency", "period"]
    search_fields = ["subscriber__email"]
    raw_id_fields = ["subscriber", "send"]
    list_select_related = ["subscriber", "send"]
    date_hierarchy = "period"
    show_full_result_count = False
    readonly_fields = [f.name for f in DigestLog._meta.fields]
    change_list_template = "admin/publishing/digestlog/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Items")
    def items(self, obj: DigestLog) -> int:
        return obj.item_count

    @admin.display(description="Ranking")
    def why(self, obj: DigestLog):
        url = reverse("admin:publishing_digestlog_ranking")
        return format_html(
            '<a href="{}?subscriber={}&frequency={}">why these?</a>', url, obj.subscriber_id, obj.frequency
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.ranking_view)
        return [path("ranking/", view, name="publishing_digestlog_ranking"), *super().get_urls()]

    def ranking_view(self, request):
        """Each candidate's score components for one subscriber, and the digest they would get now."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ExplainForm(request.GET or None)
        explanation = digest_explain(**form.cleaned_data) if form.is_valid() else None
        topics = {t.pk: t.name for t in Topic.objects.all()} if explanation else {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Why a digest ranks what it ranks",
            "form": form,
            "explanation": explanation,
            "topic_names": topics,
            "followed": sorted(topics.get(pk, pk) for pk in explanation.followed_topic_ids) if explanation else [],
            "clicks": sorted(((topics.get(k, k), v) for k, v in explanation.clicks.items()), key=lambda kv: -kv[1])
            if explanation
            else [],
        }
        return TemplateResponse(request, "admin/publishing/ranking.html", context)


@admin.register(ABTest)
class ABTestAdmin(admin.ModelAdmin):
    list_display = ["publication", "status", "metric", "test_fraction", "wait_minutes", "decide_at", "winner"]
    list_filter = ["status", "metric"]
    raw_id_fields = ["publication", "winner_send"]
    list_select_related = ["publication", "winner"]
    readonly_fields = ["results", "status", "decide_at", "decided_at", "winner", "winner_send", "started_at"]
    fields = ["publication", "metric", "test_fraction", "wait_minutes", *readonly_fields]

    def has_add_permission(self, request):
        return False  # configured on the publication (admin form or API), through the A/B service

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Results (unique human opens and clicks)")
    def results(self, obj: ABTest):
        rows = abtest_results(test=obj)
        return format_html(
            "<table><thead><tr><th></th><th>Subject</th><th>Handed to provider</th><th>Opens</th><th>Open rate</th>"
            "<th>Clicks</th><th>Click rate</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        r["variant"],
                        " (winner)" if r["winner"] else "",
                        r["subject"],
                        r["handed_to_provider"],
                        r["unique_opens"],
                        f"{r['open_rate']:.1%}",
                        r["unique_clicks"],
                        f"{r['click_rate']:.1%}",
                    )
                    for r in rows
                ),
            ),
        )
