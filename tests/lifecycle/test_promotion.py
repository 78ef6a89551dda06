"""Promotion guardrails: a challenger shadows the champion for its tier's minimums before it
replaces it; an admin's override with a reason; the confirmation that names the champion replaced.

Time passes by moving the versions' ``state_changed_at`` back (``factories.shadow_for``: a plain
update, which never touches the state), never by sleeping.
"""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.registry.models import ModelVersion, VersionState
from tests import factories
from workflows.lifecycle import policy, services
from workflows.lifecycle.models import ApprovalPolicy, TransitionRecord

pytestmark = pytest.mark.django_db

SHORT = "shadowed 3 h and 40 requests of the required 72 h and 500"


def api_url(version, action=""):
    base = f"/api/v1/models/{version.model.slug}/versions/{version.number}/"
    return base + (f"{action}/" if action else "")


def promote(client, version, annotation="Shadow results look right.", **extra):
    body = {"name": "promote_to_champion", "annotation": annotation, **extra}
    return client.post(api_url(version, "transitions"), body, format="json")


def page(version):
    return reverse("lifecycle:transition", kwargs={"slug": version.model.slug, "number": version.number})


def fresh(version):
    return ModelVersion.objects.get(pk=version.pk)


@pytest.fixture
def minimums(credit_model):
    """72 h and 500 requests for the credit model's tier (as an admin sets them in the admin)."""
    tier = policy.effective_risk_tier(credit_model)
    ApprovalPolicy.objects.filter(risk_tier=tier).update(min_shadow_hours=72, min_shadow_requests=500)
    return tier


@pytest.fixture
def olga(credit_model, admin_user):
    """An admin who is also the credit model's operator: the override lifts the minimums, never
    who may promote."""
    user = factories.make_user("olga", "admin", "operator", first_name="Olga")
    factories.grant(model=credit_model, role="operator", user=user, granted_by=admin_user)
    return user


@pytest.fixture
def pair(version_in, minimums):
    """(champion v1, challenger v2) of the credit model; v2 has shadowed 3 h and 40 requests."""
    champion = version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=3, requests=40)
    return champion, challenger


# --- The rule, by API -----------------------------------------------------------------------------


def test_an_early_promotion_is_refused_with_what_was_measured_and_what_is_needed(pair, oscar, api_for):
    champion, challenger = pair
    before = TransitionRecord.objects.count()

    response = promote(api_for(oscar), challenger)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "shadow_too_short"
    assert SHORT in body["detail"] and "champion version 1" in body["detail"]
    assert (fresh(champion).state, fresh(challenger).state) == (VersionState.CHAMPION, VersionState.CHALLENGER)
    assert TransitionRecord.objects.count() == before


def test_shadow_scorings_that_failed_do_not_count(version_in, minimums, oscar, api_for):
    from workflows.testsuites.models import ScoringRecord

    version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=100, requests=500)
    ScoringRecord.objects.filter(pk__in=ScoringRecord.objects.filter(version=challenger).values("pk")[:10]).update(
        error="ValueError: input rank mismatch"
    )

    response = promote(api_for(oscar), challenger)

    assert response.status_code == 409 and response.json()["code"] == "shadow_too_short"
    assert "490 requests" in response.json()["detail"]


@pytest.mark.parametrize(
    "hours, requests, allowed",
    [(72, 500, True), (200, 499, False), (71.9, 5000, False)],
)
def test_a_promotion_needs_both_the_time_and_the_requests(version_in, minimums, oscar, api_for, hours, requests, allowed):
    champion = version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=hours, requests=requests)

    response = promote(api_for(oscar), challenger)

    if not allowed:
        assert response.status_code == 409 and response.json()["code"] == "shadow_too_short"
        assert fresh(challenger).state == VersionState.CHALLENGER
        return
    assert response.status_code == 200 and response.json()["state"] == "champion"
    assert fresh(champion).state == VersionState.RETIRED
    record = TransitionRecord.objects.get(version=challenger, name="promote_to_champion")
    assert record.details["replaced"] == champion.number
    shadow = record.details["shadow"]
    assert (shadow["requests"], shadow["required_hours"], shadow["required_requests"]) == (500, 72, 500)
    assert shadow["hours"] >= 72 and shadow["champion"] == champion.number and "override" not in record.details


def test_shadow_counts_from_when_both_were_in_place(version_in, minimums, oscar, api_for):
    """The champion came back (a rollback) 10 h ago: the challenger's earlier shadow scoring was
    beside another champion, so neither that time nor those requests count."""
    champion = version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=100, requests=600)
    ModelVersion.objects.filter(pk=champion.pk).update(state_changed_at=timezone.now() - timedelta(hours=10))

    response = promote(api_for(oscar), challenger)

    assert response.status_code == 409
    assert "shadowed 10 h and 0 requests of the required 72 h and 500" in response.json()["detail"]


def test_a_first_champion_is_not_held_back(version_in, minimums, oscar, api_for):
    first = version_in("challenger")
    response = promote(api_for(oscar), first)
    assert response.status_code == 200 and response.json()["state"] == "champion"
    record = TransitionRecord.objects.get(version=first, name="promote_to_champion")
    assert "shadow" not in record.details and "replaced" not in record.details


def test_a_rollback_is_not_held_back(version_in, minimums, oscar, api_for):
    first = version_in("champion")
    second = version_in("challenger")
    factories.shadow_for(second, hours=72, requests=500)
    assert promote(api_for(oscar), second).status_code == 200

    body = {"name": "rollback", "annotation": "v2 drifts on new data."}
    response = api_for(oscar).post(api_url(first, "transitions"), body, format="json")

    assert response.status_code == 200 and response.json()["state"] == "champion"
    assert fresh(second).state == VersionState.RETIRED


def test_the_version_api_shows_a_challengers_shadow_figures(pair, oscar, alice, api_for):
    champion, challenger = pair
    shadow = api_for(alice).get(api_url(challenger)).json()["shadow"]
    assert (shadow["requests"], shadow["required_hours"], shadow["required_requests"]) == (40, 72, 500)
    assert 3 <= shadow["hours"] < 3.1 and shadow["champion"] == 1 and shadow["met"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", shadow["since"])
    assert api_for(alice).get(api_url(champion)).json()["shadow"] is None


# --- The override -------------------------------------------------------------------------------


def test_an_admin_overrides_with_a_reason_and_the_override_is_recorded(pair, olga, api_for):
    champion, challenger = pair

    response = promote(api_for(olga), challenger, annotation="v1 mis-scores a new product; v2 fixes it.", override=True)

    assert response.status_code == 200 and response.json()["state"] == "champion"
    assert fresh(champion).state == VersionState.RETIRED
    record = TransitionRecord.objects.get(version=challenger, name="promote_to_champion")
    assert record.actor == olga and record.annotation == "v1 mis-scores a new product; v2 fixes it."
    assert record.details["override"]["by"] == "olga"
    assert SHORT in record.details["override"]["shortfall"]
    assert record.details["shadow"]["requests"] == 40
    event = AuditEvent.objects.filter(action="version.transition", object_id=str(record.pk)).get()
    assert event.actor_username == "olga" and event.summary == record.annotation
    assert event.details["details"]["override"] == record.details["override"]


def test_an_operator_cannot_override(pair, oscar, api_for):
    champion, challenger = pair
    response = promote(api_for(oscar), challenger, override=True)
    assert response.status_code == 403 and response.json()["code"] == "override_not_allowed"
    assert fresh(challenger).state == VersionState.CHALLENGER
    assert not TransitionRecord.objects.filter(version=challenger, name="promote_to_champion").exists()


def test_an_admin_who_is_not_the_models_operator_cannot_promote_even_with_an_override(pair, admin_user, api_for):
    champion, challenger = pair
    response = promote(api_for(admin_user), challenger, override=True)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert fresh(challenger).state == VersionState.CHALLENGER


def test_an_override_without_a_reason_is_400(pair, olga, api_for):
    champion, challenger = pair
    response = promote(api_for(olga), challenger, annotation="  ", override=True)
    assert response.status_code == 400 and response.json()["code"] == "annotation_required"
    assert fresh(challenger).state == VersionState.CHALLENGER


def test_an_override_means_nothing_on_another_transition(pair, olga, api_for):
    champion, challenger = pair
    body = {"name": "retire", "annotation": "not needed", "override": True}
    response = api_for(olga).post(api_url(challenger, "transitions"), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "override_not_applicable"
    assert fresh(challenger).state == VersionState.CHALLENGER


def test_the_command_passes_the_override_through(pair, olga, oscar):
    champion, challenger = pair
    args = ("version_transition", challenger.model.slug, str(challenger.number), "promote_to_champion")
    with pytest.raises(CommandError, match="403 override_not_allowed"):
        call_command(*args, "--as", "oscar", "--annotation", "urgent", "--override", stdout=StringIO())
    with pytest.raises(CommandError, match="409 shadow_too_short"):
        call_command(*args, "--as", "olga", "--annotation", "urgent", stdout=StringIO())
    out = StringIO()
    call_command(*args, "--as", "olga", "--annotation", "urgent fix", "--override", stdout=out)
    assert "is now champion" in out.getvalue()
    assert TransitionRecord.objects.get(version=challenger, name="promote_to_champion").details["override"]["by"] == "olga"


# --- The confirmation page -------------------------------------------------------------------------


def test_the_confirmation_names_the_champion_replaced_and_the_shadow_figures(pair, oscar, client):
    champion, challenger = pair
    client.force_login(oscar)

    html = client.get(page(challenger), {"name": "promote_to_champion"}).content.decode()

    assert "Version 2 replaces version 1 as champion; version 1 will be retired and can be rolled back to." in html
    assert "<td>3 h</td><td>72 h</td>" in html and "<td>40</td><td>500</td>" in html
    assert f"Version 2 has {SHORT}: it cannot become champion yet." in html
    assert "ask an admin to override" in html
    assert 'name="override"' not in html  # offered to admins only
    assert re.search(r'<button type="submit" disabled>', html)


def test_the_page_refuses_an_early_promotion_with_the_figures(pair, oscar, client):
    champion, challenger = pair
    client.force_login(oscar)
    form = {"name": "promote_to_champion", "annotation": "looks fine", "confirmed": "on", "replaces": "1"}

    response = client.post(page(challenger), form)

    assert response.status_code == 409
    html = response.content.decode()
    assert SHORT in html and "looks fine" in html  # what was typed is kept
    assert fresh(challenger).state == VersionState.CHALLENGER


def test_the_panel_leads_to_the_confirmation_first(version_in, minimums, oscar, client):
    champion = version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=80, requests=500)
    client.force_login(oscar)

    # The panel's form sends no confirmation: the page shows what will happen, nothing changes.
    response = client.post(page(challenger), {"name": "promote_to_champion", "annotation": "Ready."})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Version 2 replaces version 1 as champion" in html and "Ready." in html
    assert "Confirm: promote to champion" in html and 'name="confirmed" value="on"' in html
    assert fresh(challenger).state == VersionState.CHALLENGER

    response = client.post(
        page(challenger), {"name": "promote_to_champion", "annotation": "Ready.", "confirmed": "on", "replaces": "1"},
        follow=True,
    )
    assert fresh(challenger).state == VersionState.CHAMPION
    html = response.content.decode()
    assert "Version 2 is now the champion; version 1 was retired and can be rolled back to." in html
    # The version's timeline says whom it replaced and how long it shadowed.
    assert "Replaced version 1 as champion." in html
    assert "Shadow scoring beside champion v1: shadowed 80 h and 500 requests of the required 72 h and 500." in html


def test_a_confirmation_of_another_champion_is_shown_again(version_in, minimums, oscar, client):
    champion = version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=80, requests=500)
    client.force_login(oscar)
    form = {"name": "promote_to_champion", "annotation": "Ready.", "confirmed": "on", "replaces": ""}

    response = client.post(page(challenger), form)  # confirmed while the model had no champion

    assert response.status_code == 200
    assert "The champion changed since this page was shown" in response.content.decode()
    assert fresh(challenger).state == VersionState.CHALLENGER and fresh(champion).state == VersionState.CHAMPION


def test_an_admin_is_offered_the_override_and_the_message_says_what_happened(pair, olga, client):
    champion, challenger = pair
    client.force_login(olga)
    html = client.get(page(challenger), {"name": "promote_to_champion"}).content.decode()
    assert 'name="override"' in html and "As an admin you may override" in html

    response = client.post(
        page(challenger),
        {"name": "promote_to_champion", "annotation": "Urgent fix.", "confirmed": "on", "replaces": "1", "override": "on"},
        follow=True,
    )

    html = response.content.decode()
    assert "Version 2 is now the champion; version 1 was retired and can be rolled back to." in html
    assert "The shadow minimums were overridden: Version 2 has " + SHORT in html
    assert "The shadow minimums were overridden by olga: Version 2 has " + SHORT in html  # the timeline
    assert TransitionRecord.objects.get(version=challenger, name="promote_to_champion").details["override"]["by"] == "olga"


def test_an_operator_override_from_the_page_is_403(pair, oscar, client):
    champion, challenger = pair
    client.force_login(oscar)
    response = client.post(
        page(challenger),
        {"name": "promote_to_champion", "annotation": "Now.", "confirmed": "on", "replaces": "1", "override": "on"},
    )
    assert response.status_code == 403
    assert "Only an admin overrides the promotion guardrails." in response.content.decode()
    assert fresh(challenger).state == VersionState.CHALLENGER


def test_the_admin_is_not_offered_an_override_that_is_not_needed(version_in, minimums, olga, client):
    version_in("champion")
    challenger = version_in("challenger")
    factories.shadow_for(challenger, hours=72, requests=500)
    client.force_login(olga)
    html = client.get(page(challenger), {"name": "promote_to_champion"}).content.decode()
    assert 'name="override"' not in html and "cannot become champion yet" not in html


def test_a_rollback_is_confirmed_naming_the_champion_it_replaces(version_in, oscar, client):
    factories.shadow_minimums()
    first = version_in("champion")
    second = version_in("challenger")
    services.version_transition(version=second, name="promote_to_champion", actor=oscar, annotation="v2")
    client.force_login(oscar)

    html = client.get(page(first), {"name": "rollback"}).content.decode()
    assert "Version 1 replaces version 2 as champion; version 2 will be retired and can be rolled back to." in html

    response = client.post(
        page(first), {"name": "rollback", "annotation": "v2 drifts.", "confirmed": "on", "replaces": "2"}, follow=True
    )
    assert "Version 1 is the champion again; version 2 was retired and can be rolled back to." in response.content.decode()
    assert (fresh(first).state, fresh(second).state) == (VersionState.CHAMPION, VersionState.RETIRED)


def test_the_panel_shows_a_challengers_shadow_status(pair, alice, client):
    champion, challenger = pair
    client.force_login(alice)
    html = client.get(challenger.get_absolute_url()).content.decode()
    assert f"Shadow scoring beside champion v1: {SHORT}" in html and "it cannot become champion yet" in html


def test_a_version_that_cannot_change_champion_gets_the_refusal_not_a_confirmation(version_in, oscar, client):
    version_in("champion")
    approved = version_in("approved")
    client.force_login(oscar)
    assert "Confirm the change of champion" not in client.get(page(approved), {"name": "promote_to_champion"}).content.decode()

    response = client.post(page(approved), {"name": "promote_to_champion", "annotation": "Now."})

    assert response.status_code == 409
    assert "cannot &#x27;promote_to_champion&#x27;" in response.content.decode()
    assert fresh(approved).state == VersionState.APPROVED
