"""Creates the clients and the user the interop tests use (idempotent)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import Application

CLIENTS = [
    # client_id, secret, grant type
    ("billing-svc", "interop billing:secret/+%", Application.GRANT_CLIENT_CREDENTIALS),
    ("legacy-crm", "interop-crm-secret", Application.GRANT_PASSWORD),
    ("tokengate-rs", "interop-rs-secret", Application.GRANT_CLIENT_CREDENTIALS),
    ("demo-caller", "interop-caller-secret", Application.GRANT_CLIENT_CREDENTIALS),
]


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username="crm-sync")
        user.set_password("interop-crm-password")
        user.save()
        for client_id, secret, grant in CLIENTS:
            Application.objects.filter(client_id=client_id).delete()
            Application.objects.create(
                name=client_id,
                client_id=client_id,
                client_secret=secret,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=grant,
                user=user if grant == Application.GRANT_PASSWORD else None,
            )
        self.stdout.write("interop fixtures ready")
