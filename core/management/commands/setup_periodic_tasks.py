from django.core.management.base import BaseCommand

from core.periodic import periodic_tasks_sync


class Command(BaseCommand):
    help = "Create the beat schedule's periodic tasks that are missing (keeps operators' edits)."

    def handle(self, *args, **options):
        created = periodic_tasks_sync()
        self.stdout.write(self.style.SUCCESS(f"Periodic tasks created: {', '.join(created) or 'none (all present)'}"))
