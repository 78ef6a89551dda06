"""Every endpoint of the API v1 answers in a pinned number of queries.

Each route under /api/v1/ (``test_every_api_route_has_a_pinned_count`` checks the URLconf
against the table) is called once, through the whole stack with a Bearer token, on a model
that has several versions (each with sign-offs or findings, a test run of several checks and a
warm-up), several grants, datasets, proposals, notifications and traces. The pins are a little
above today's counts and well below what one query per listed row would add, so a per-row
regression fails here. The token's last-use write is made before counting.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from governance.access.models import ModelGrant
from governance.access.services import service_account_get
from governance.registry.models import Dataset, ModelVersion
from tests import factories
from tests.gateway.conftest import rows_of
from tests.testsuites.helpers import make_champion
from workflows.lifecycle.models import ApprovalPolicy, Finding
from workflows.lifecycle.services import agent_transition, version_transition
from workflows.notifications.models import Notification
from workflows.testsuites import services as suite_services
from workflows.testsuites.models import CheckResult, TestRun, WarmupRun

pytestmark = pytest.mark.django_db

ROWS = 4  # rows of each list: a query per row would add at least this many


@pytest.fixture(autouse=True)
def _fresh_state():
    from django.core.cache import cache

    from workflows.gateway import serving

    serving.cache_clear()
    cache.clear()
    yield
    serving.cache_clear()
    cache.clear()


def _evidence(version, runs: int = 2) -> None:
    """Test runs of several checks and a warm-up, as the workers leave them."""
    for sequence in range(1, runs + 1):
        run = TestRun.objects.create(version=version, sequence=sequence, status="passed", config_snapshot=[])
        CheckResult.objects.bulk_create(
            CheckResult(
                run=run, position=i, name=f"check_{i}", kind="performance", measured=0.9, threshold=0.8,
                comparison=">=", outcome="pass", duration_ms=1.0, details={},
            )
            for i in range(ROWS)
        )
    WarmupRun.objects.create(version=version, status="passed")


def _to_review(version, submitter) -> ModelVersion:
    agent = service_account_get("test-runner")
    version_transition(version=version, name="submit", actor=submitter)
    for name in ("pass_tests", "pass_warmup"):
        agent_transition(version=version, name=name, agent=agent, agent_name="test-runner", annotation="ok")
    return ModelVersion.objects.get(pk=version.pk)


@pytest.fixture
def world(credit_model, alice, bob, carol, dave, oscar, audrey, admin_user, datasets, api_for):
    ApprovalPolicy.objects.update(min_shadow_hours=0, min_shadow_requests=0)
    viewers = [factories.make_user(f"viewer{i}") for i in range(ROWS)]
    for viewer in viewers:
        factories.grant(model=credit_model, user=viewer, role="viewer")
    for i in range(ROWS):
        factories.make_model(alice, name=f"Other model {i}")
    Dataset.objects.bulk_create(
        Dataset(name=f"listed {i}", sha256=f"{i:064x}", path=f"datasets/{i}.csv", size=1, rows=1, columns=[],
                uploaded_by=alice)
        for i in range(ROWS)
    )

    champion = make_champion(factories.make_version(credit_model, alice, datasets=datasets), submitter=alice, operator=oscar)
    # Reviewed twice: carol asks for changes (two findings), then the version stays there.
    changes = _to_review(factories.make_version(credit_model, alice, datasets=datasets), alice)
    from workflows.lifecycle.services import signoff_record

    signoff_record(
        version=changes, signer=carol, decision="request_changes", annotation="Not yet.", password=factories.PASSWORD,
        findings=[{"description": f"Finding {i}", "severity": "medium"} for i in range(ROWS)],
    )
    in_review = _to_review(factories.make_version(credit_model, alice, datasets=datasets), alice)
    draft = factories.make_version(credit_model, alice, datasets=datasets)
    for version in (champion, changes, in_review, draft):
        _evidence(version)

    for i in range(ROWS):
        suite_services.suite_change_propose(
            actor=alice, model=credit_model, raw_checks=[{"kind": "schema"}], reason=f"Proposal {i}."
        )
    for i in range(ROWS):
        Notification.objects.create(
            recipient=alice, event="approved", model=credit_model, version=champion, occasion=f"occasion-{i}", context={}
        )

    clients = {user.username: api_for(user) for user in (alice, carol, oscar, audrey, admin_user, viewers[0])}
    for client in clients.values():
        client.get("/api/v1/notifications/")  # the token's last-use write, once
    scoring = clients[viewers[0].username]
    traces = [
        scoring.post(
            f"/api/v1/models/{credit_model.slug}/predict",
            data=json.dumps({"inputs": rows_of(champion)}),
            content_type="application/json",
        ).json()["trace_id"]
        for _ in range(ROWS)
    ]
    return SimpleNamespace(
        model=credit_model,
        slug=credit_model.slug,
        champion=champion,
        changes=changes,
        in_review=in_review,
        draft=draft,
        datasets=datasets,
        clients=clients,
        viewer=viewers[0],
        traces=traces,
        alice=alice,
    )


def _version_url(w, version, tail: str = "") -> str:
    return f"/api/v1/models/{w.slug}/versions/{version.number}/{tail}"


def _onnx():
    return factories.upload("model.onnx", factories.classifier_files()["onnx"])


# (route name, method, who, url, body, format, pin). ``url`` and ``body`` are functions of the world.
CASES = [
    ("api_model_list", "get", "alice", lambda w: "/api/v1/models/?page_size=50", None, None, 6),
    ("api_model_list", "post", "alice",
     lambda w: "/api/v1/models/", lambda w: {"name": "New model", "risk_tier": "low", "task": "classification"}, "json", 24),
    ("api_model_detail", "get", "alice", lambda w: f"/api/v1/models/{w.slug}/", None, None, 12),
    ("api_model_risk_tier", "post", "admin",
     lambda w: f"/api/v1/models/{w.slug}/risk-tier/", lambda w: {"risk_tier": "high", "reason": "Checked."}, "json", 23),
    ("api_version_list", "get", "alice", lambda w: f"/api/v1/models/{w.slug}/versions/", None, None, 12),
    ("api_version_list", "post", "alice", lambda w: f"/api/v1/models/{w.slug}/versions/",
     lambda w: {"artifact": _onnx(), "training_dataset": w.datasets[0].pk, "validation_dataset": w.datasets[1].pk},
     "multipart", 21),
    ("api_version_detail", "get", "alice", lambda w: _version_url(w, w.in_review), None, None, 13),
    ("api_dataset_list", "get", "alice", lambda w: "/api/v1/datasets/", None, None, 5),
    ("api_dataset_list", "post", "alice", lambda w: "/api/v1/datasets/",
     lambda w: {"file": factories.upload("d.csv", b"a,b\n1,2\n3,4\n", "text/csv"), "target": "b"}, "multipart", 9),
    ("api_dataset_detail", "get", "alice", lambda w: f"/api/v1/datasets/{w.datasets[0].pk}/", None, None, 8),
    ("api_user_create", "post", "admin", lambda w: "/api/v1/users/",
     lambda w: {"username": "newcomer", "email": "n@example.com", "roles": ["data_scientist"]}, "json", 22),
    ("api_user_detail", "get", "admin", lambda w: "/api/v1/users/alice/", None, None, 6),
    ("api_user_detail", "patch", "admin", lambda w: "/api/v1/users/alice/", lambda w: {"roles": ["auditor"]}, "json", 29),
    ("api_user_deactivate", "post", "admin", lambda w: f"/api/v1/users/{w.viewer.username}/deactivate/", None, "json", 23),
    ("api_grant_list", "get", "alice", lambda w: f"/api/v1/models/{w.slug}/grants/", None, None, 6),
    ("api_grant_list", "post", "alice", lambda w: f"/api/v1/models/{w.slug}/grants/",
     lambda w: {"username": "audrey", "role": "viewer"}, "json", 18),
    ("api_grant_detail", "get", "alice",
     lambda w: f"/api/v1/models/{w.slug}/grants/{ModelGrant.objects.filter(model=w.model).last().pk}/", None, None, 5),
    ("api_grant_detail", "delete", "alice",
     lambda w: f"/api/v1/models/{w.slug}/grants/{ModelGrant.objects.filter(model=w.model, user=w.viewer).get().pk}/",
     None, "json", 18),
    ("api_version_transition", "post", "alice", lambda w: _version_url(w, w.draft, "transitions/"),
     lambda w: {"name": "submit"}, "json", 25),
    ("api_version_signoffs", "post", "dave", lambda w: _version_url(w, w.in_review, "signoffs/"),
     lambda w: {"decision": "approve", "annotation": "Fine.", "password": factories.PASSWORD}, "json", 43),
    ("api_version_annotations", "post", "alice", lambda w: _version_url(w, w.in_review, "annotations/"),
     lambda w: {"text": "A note."}, "json", 11),
    ("api_version_history", "get", "alice", lambda w: _version_url(w, w.changes, "history/"), None, None, 11),
    ("api_version_findings", "get", "alice", lambda w: _version_url(w, w.changes, "findings/"), None, None, 6),
    ("api_finding_close", "post", "carol",
     lambda w: _version_url(w, w.changes, f"findings/{Finding.objects.filter(version=w.changes).first().pk}/close/"),
     lambda w: {"annotation": "Answered."}, "json", 21),
    ("api_test_suite", "get", "alice", lambda w: f"/api/v1/models/{w.slug}/test-suite/", None, None, 5),
    ("api_test_suite", "put", "carol", lambda w: f"/api/v1/models/{w.slug}/test-suite/",
     lambda w: {"checks": [{"kind": "schema"}], "reason": "Schema only."}, "json", 60),
    ("api_suite_proposals", "get", "alice", lambda w: f"/api/v1/models/{w.slug}/test-suite/proposals/", None, None, 5),
    ("api_suite_proposals", "post", "alice", lambda w: f"/api/v1/models/{w.slug}/test-suite/proposals/",
     lambda w: {"checks": [{"kind": "schema"}], "reason": "Schema only."}, "json", 29),
    ("api_suite_proposal", "get", "alice", lambda w: _proposal_url(w), None, None, 5),
    ("api_suite_proposal_approve", "post", "carol", lambda w: _proposal_url(w, "approve/"),
     lambda w: {"reason": "Fine."}, "json", 56),
    ("api_suite_proposal_reject", "post", "carol", lambda w: _proposal_url(w, "reject/"),
     lambda w: {"reason": "No."}, "json", 19),
    ("api_suite_proposal_withdraw", "post", "alice", lambda w: _proposal_url(w, "withdraw/"), None, "json", 15),
    ("api_test_progress", "get", "alice", lambda w: _version_url(w, w.in_review, "test-progress/"), None, None, 6),
    ("api_predict", "post", "viewer", lambda w: f"/api/v1/models/{w.slug}/predict",
     lambda w: {"inputs": rows_of(w.champion)}, "json", 6),
    ("api_model_traces", "get", "alice", lambda w: f"/api/v1/models/{w.slug}/traces/", None, None, 9),
    ("api_trace_detail", "get", "alice", lambda w: f"/api/v1/traces/{w.traces[0]}/", None, None, 12),
    ("api-audit-events", "get", "audrey", lambda w: "/api/v1/audit/events/?page_size=50", None, None, 8),
    ("api-audit-verify", "get", "audrey", lambda w: "/api/v1/audit/verify/", None, None, 10),
    ("api_version_report_pdf", "get", "alice", lambda w: _version_url(w, w.champion, "report.pdf"), None, None, 40),
    ("api_version_report_html", "get", "alice", lambda w: _version_url(w, w.champion, "report.html"), None, None, 40),
    ("api_version_evidence_pack", "get", "alice", lambda w: _version_url(w, w.champion, "evidence-pack.zip"),
     None, None, 56),
    ("api_notifications", "get", "alice", lambda w: "/api/v1/notifications/", None, None, 5),
    ("api_notification_read", "post", "alice",
     lambda w: f"/api/v1/notifications/{Notification.objects.filter(recipient=w.alice).first().pk}/read/",
     None, "json", 6),
    ("api_notifications_read_all", "post", "alice", lambda w: "/api/v1/notifications/read-all/", None, "json", 5),
]


def _proposal_url(w, tail: str = "") -> str:
    from workflows.testsuites.models import SuiteChangeProposal

    proposal = SuiteChangeProposal.objects.filter(model=w.model, status="pending").order_by("-pk").first()
    return f"/api/v1/models/{w.slug}/test-suite/proposals/{proposal.pk}/{tail}"


def _client(w, who: str):
    names = {"admin": "admin", "viewer": w.viewer.username}
    if who == "dave":
        from tests.conftest import _api_client_for
        from governance.access.models import User

        client = _api_client_for(User.objects.get(username="dave"))
        client.get("/api/v1/notifications/")
        return client
    return w.clients[names.get(who, who)]


@pytest.mark.parametrize(
    "name, method, who, url, body, fmt, pin", CASES, ids=[f"{case[1]} {case[0]}" for case in CASES]
)
def test_endpoint_query_count(world, name, method, who, url, body, fmt, pin, django_assert_max_num_queries):
    client = _client(world, who)
    target = url(world)
    data = body(world) if body else None
    kwargs = {"format": fmt} if fmt else {}
    with django_assert_max_num_queries(pin):
        response = getattr(client, method)(target, data, **kwargs) if data is not None or fmt else getattr(client, method)(target)
    assert response.status_code < 300, (response.status_code, getattr(response, "data", None) or response.content[:300])


def _api_route_names(resolver=None, prefix: str = "") -> set[str]:
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            names |= _api_route_names(pattern, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            names.add(pattern.name)
    return names


def test_every_api_route_has_a_pinned_count():
    assert _api_route_names() == {case[0] for case in CASES}


def test_the_version_list_costs_the_same_whatever_its_length(world, django_assert_num_queries):
    """Two more versions, with their sign-offs, runs and warm-ups, add no query to the list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = world.clients["alice"]
    url = f"/api/v1/models/{world.slug}/versions/"
    with CaptureQueriesContext(connection) as before:
        assert len(client.get(url).json()["results"]) == 4
    for _ in range(2):
        version = _to_review(factories.make_version(world.model, world.alice, datasets=world.datasets), world.alice)
        _evidence(version, runs=3)
    with django_assert_num_queries(len(before)):
        assert len(client.get(url).json()["results"]) == 6


def test_the_version_answer_costs_the_same_whatever_it_holds(world, django_assert_num_queries):
    """A version with more sign-offs, runs and checks costs no more queries to read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = world.clients["alice"]
    with CaptureQueriesContext(connection) as before:
        client.get(_version_url(world, world.draft))
    for sequence in range(3, 6):
        run = TestRun.objects.create(version=world.changes, sequence=sequence, status="passed", config_snapshot=[])
        CheckResult.objects.bulk_create(
            CheckResult(run=run, position=i, name=f"c{i}", kind="performance", measured=1, threshold=0,
                        comparison=">=", outcome="pass", duration_ms=1.0, details={})
            for i in range(8)
        )
    with django_assert_num_queries(len(before)):
        body = client.get(_version_url(world, world.changes)).json()
    assert len(body["test_runs"]) == 5 and len(body["signoffs"]) == 1
