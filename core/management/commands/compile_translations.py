from django.core.management.base import BaseCommand

from core.i18n import translations_compile


class Command(BaseCommand):
    help = (
        "Compile locale/*/LC_MESSAGES/django.po into .mo files with Babel (pure Python: no GNU gettext "
        "needed). Run by `make install`, the Dockerfile and the test session; only stale files are rebuilt."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Rebuild every .mo file, stale or not.")

    def handle(self, *args, force: bool = False, **options):
        written = translations_compile(force=force)
        for path in written:
            self.stdout.write(f"compiled {path}")
        self.stdout.write(self.style.SUCCESS(f"translations up to date ({len(written)} compiled)"))
