"""The audit page shows recorded changes as a reader reads them: no Python dicts, no row ids."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from governance.audit.models import AuditEvent
from workflows.testsuites import services as suite_services

RAW = re.compile(r"\{'|\{\"|': |\[\{")


@pytest.mark.django_db
def test_a_suite_change_reads_as_name_value_pairs_on_the_audit_page(credit_model, carol, audrey):
    suite_services.suite_config_set(
        actor=carol, model=credit_model, raw_checks=[{"kind": "metric", "metric": "accuracy", "threshold": 0.9}, {"kind": "schema"}],
        reason="A higher accuracy bar.",
    )
    event = AuditEvent.objects.filter(object_type="testsuites.testsuiteconfig").exclude(action="suite.changed").latest("seq")
    (field, old, new) = next(row for row in event.change_rows if row[0] == "checks")
    assert new == "comparison >=, kind metric, metric accuracy, threshold 0.9; kind schema"
    rows = dict((name, shown) for name, _, shown in event.change_rows)
    assert "id" not in rows and rows["model"] == "Credit risk" and rows["updated_by"] == str(carol)

    client = Client()
    client.force_login(audrey)
    html = client.get(reverse("audit:event_list")).content.decode()
    text = re.sub(r"<[^>]+>", " ", html)
    assert "comparison &gt;=, kind metric, metric accuracy, threshold 0.9" in text
    assert not RAW.search(text), RAW.search(text)
    assert f"#{event.object_id}" not in text


def test_plain_values_are_shown_as_they_are():
    from governance.audit.models import _shown

    assert _shown("None") == "" and _shown(None) == "" and _shown("0.8") == "0.8"
    assert _shown("[not, python") == "[not, python"
    assert _shown('{"a": [1, 2]}') == "a 1; 2"
