"""The test suite people configure: which checks a model's versions must pass.

The agents' work is elsewhere: jobs.py (queue, claim, heartbeat, recovery), runs.py (test
runs) and warmup.py (warm-up).
"""

from __future__ import annotations

from django.db import transaction

from governance.errors import ActionError, ActionForbidden

from . import checks
from .models import TestSuiteConfig
from .selectors import can_edit_suite


@transaction.atomic
def suite_config_update(*, model, raw_checks, user) -> TestSuiteConfig:
    """Replace a model's checks: its owners, its reviewers and admins may; auditlog records it.

    Runs already queued keep the checks they were queued with (their config snapshot).
    """
    if not can_edit_suite(user, model):
        raise ActionForbidden("Only the model's owners, validators with the reviewer grant and admins edit its test suite.")
    try:
        clean = checks.validate_checks(raw_checks, task=model.task)
    except checks.CheckConfigError as exc:
        raise ActionError(str(exc), code="invalid_checks", field="checks") from exc
    config = TestSuiteConfig.objects.select_for_update().filter(model=model).first()
    if config is None:
        config = TestSuiteConfig(model=model)
    config.checks = clean
    config.updated_by = user
    config.save()
    return config
