from django.core.management.base import BaseCommand

from core.admin_login import admin_login_ensure


class Command(BaseCommand):
    help = "Create the local admin login if needed and print it (kept in var/admin-login.txt)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        login = admin_login_ensure(username=username)
        self.stdout.write(self.style.SUCCESS("Admin login for http://127.0.0.1:8000/admin/"))
        self.stdout.write(f"    username: {login.username}\n    password: {login.password}")
