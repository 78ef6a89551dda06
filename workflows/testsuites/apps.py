from django.apps import AppConfig


class TestSuitesConfig(AppConfig):
    name = "workflows.testsuites"
    label = "testsuites"
    verbose_name = "Test suites and warm-up"

    def ready(self):
        from auditlog.registry import auditlog
        from celery.signals import worker_init, worker_process_init

        from .models import TestSuiteConfig

        worker_init.connect(_mark_worker, weak=False)
        worker_process_init.connect(_mark_worker, weak=False)
        auditlog.register(TestSuiteConfig)


def _mark_worker(**kwargs):
    from . import scoring

    scoring.RUNNING_IN_WORKER = True
