from django.apps import AppConfig


class TestSuitesConfig(AppConfig):
    name = "workflows.testsuites"
    label = "testsuites"
    verbose_name = "Test suites and warm-up"

    def ready(self):
        from auditlog.registry import auditlog

        from governance.registry.extensions import (
            register_version_api_field,
            register_version_panel,
        )
        from workflows.lifecycle.history import register_history_source
        from workflows.lifecycle.services import on_transition_committed

        from . import selectors, services
        from .models import TestSuiteConfig

        from celery.signals import worker_init, worker_process_init

        worker_init.connect(_mark_worker, weak=False)
        worker_process_init.connect(_mark_worker, weak=False)
        auditlog.register(TestSuiteConfig)
        # After a committed submit or rerun, the run is made and queued; after pass_tests, the warm-up.
        on_transition_committed("submit", "rerun_tests")(services.test_run_request)
        on_transition_committed("pass_tests")(services.warmup_request)
        register_version_panel("testsuites", "testsuites/_version_panel.html", selectors.version_panel_context, order=30)
        register_version_api_field("test_runs", selectors.test_runs_api)
        register_version_api_field("warmup", selectors.warmup_api)
        register_history_source("testsuites", _history_source)


def _history_source(version):
    """Test runs and warm-ups in the version's one history (API and timeline)."""
    from workflows.lifecycle.history import HistoryEntry

    from .selectors import history_entries

    return [
        HistoryEntry(
            kind=entry["kind"],
            at=entry["at"],
            actor=None,
            actor_kind=entry["actor_kind"],
            agent_name=entry["actor"],
            annotation=entry["annotation"],
            title="test run" if entry["kind"] == "test_run" else "warm-up",
        )
        for entry in history_entries(version)
    ]


def _mark_worker(**kwargs):
    from . import scoring

    scoring.RUNNING_IN_WORKER = True
