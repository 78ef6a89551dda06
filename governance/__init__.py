"""The governance portal: project wiring plus the registry, access and audit domains."""
from .celery import app as celery_app

__all__ = ("celery_app",)
