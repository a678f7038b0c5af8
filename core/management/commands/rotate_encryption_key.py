from django.core.management.base import BaseCommand

from core.crypto import encrypted_fields_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored credential with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        changed = encrypted_fields_rotate()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {changed} value(s) with the current key."))
