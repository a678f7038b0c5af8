from django.core.management.base import BaseCommand

from core.demo import demo_data_load


class Command(BaseCommand):
    help = "Load demo topics, subscribers, publications and channels (idempotent)."

    def handle(self, *args, **options):
        summary = demo_data_load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {summary.topics} topics, {summary.subscribers} subscribers, "
                f"{summary.subscriptions} subscriptions, {summary.publications} publications, "
                f"{summary.channels} channels."
            )
        )
