"""Run a lifecycle transition from the command line, through the same service as the pages.

    python manage.py version_transition credit-risk 4 rollback --as oscar --annotation "v5 drifts"
    python manage.py version_transition credit-risk 5 promote_to_champion --as adam --override \
        --annotation "v4 is failing in production; v5 has shadowed long enough to judge"

The user named with ``--as`` must be allowed the transition, exactly as in the browser; the
command adds no rights of its own.
"""

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from governance.access.models import User
from governance.errors import ActionError
from governance.registry import selectors
from workflows.lifecycle import services


class Command(BaseCommand):
    help = "Run a lifecycle transition on a model version as a given user."

    def add_arguments(self, parser):
        parser.add_argument("model", help="the model's slug")
        parser.add_argument("number", type=int, help="the version number")
        parser.add_argument("transition", help="e.g. withdraw, promote_to_champion, retire, rollback")
        parser.add_argument("--as", dest="username", required=True, help="the user who takes the step")
        parser.add_argument("--annotation", default="", help="why (required by most transitions)")
        parser.add_argument(
            "--override",
            action="store_true",
            help="admins only: promote to champion before the shadow minimums are met (the annotation is the reason)",
        )

    def handle(self, *args, model, number, transition, username, annotation, override=False, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called '{username}'.")
        try:
            version = selectors.version_get(user=user, slug=model, number=number)
            version = services.version_transition(
                version=version, name=transition, actor=user, annotation=annotation, override=override
            )
        except Http404:
            raise CommandError(f"{username} sees no version {number} of a model '{model}'.") from None
        except ActionError as exc:
            raise CommandError(f"Refused ({exc.status} {exc.code}): {exc.message}") from None
        self.stdout.write(f"{version.model.slug} v{version.number} is now {version.state}.")
