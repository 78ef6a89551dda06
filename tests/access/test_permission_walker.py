"""Walk every URL that names a model, a version or a dataset with three callers.

- an outsider (eve: a data scientist with no grant) gets 404 everywhere, so nothing leaks;
- a viewer (victor: only the viewer grant) may read but gets 403 when trying to write;
- the right holder (owner, contributor, ...) succeeds.

The table ``ROUTES`` drives the walk: to cover a new page or endpoint, add one row (method,
URL with ``{slug}``, ``{number}``, ``{dataset}`` or ``{grant}`` placeholders, what it needs,
who holds it, the success status and, for writes, a payload). ``test_every_route_is_walked``
fails when the URLconf has a model, version or dataset URL that the table does not cover.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from tests import factories

pytestmark = pytest.mark.django_db

READ, WRITE = "read", "write"


@dataclass(frozen=True)
class Route:
    method: str
    url: str
    access: str  # READ: viewers may; WRITE: viewers get 403
    holder: str  # the fixture name of a user who may do it
    success: int
    payload: Callable[[World], dict] | None = None
    api: bool = True  # Bearer-token API call, or a signed-in browser page
    fmt: str = "json"
    # Run before the call (for every caller), for routes that need the version in some state.
    prepare: Callable[[World], None] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}"


@dataclass
class World:
    model: object
    version: object
    datasets: tuple
    grant: object  # a grant the owner may take away (bob's contributor grant)
    proposal: object = None  # a pending change to the model's test suite (made by ``_suite_proposal``)
    finding: object = None  # a condition on the version, for routes that need one (see _with_condition)

    def url(self, template: str) -> str:
        return template.format(
            slug=self.model.slug, number=self.version.number, dataset=self.datasets[0].pk, grant=self.grant.pk,
            proposal=getattr(self.proposal, "pk", 0),
            finding=self.finding.pk if self.finding is not None else 0,
        )


def _version_upload(world: World) -> dict:
    files = factories.classifier_files()
    return {
        "artifact": factories.upload("model.onnx", files["onnx"]),
        "training_dataset": world.datasets[0].pk,
        "validation_dataset": world.datasets[1].pk,
        "annotation": "walker",
    }


def _version_form(world: World) -> dict:
    data = _version_upload(world)
    data["note"] = data.pop("annotation")
    return data


def _new_grant(world: World) -> dict:
    return {"username": "audrey", "role": "viewer"}


def _tier(world: World) -> dict:
    return {"risk_tier": "high", "reason": "walker: a high tier fits"}


def _withdraw(world: World) -> dict:
    return {"name": "withdraw", "annotation": "walker: withdrawn"}


def _signature(world: World) -> dict:
    return {"decision": "approve", "annotation": "walker: reviewed", "password": factories.PASSWORD, "evidence_reviewed": "on"}


def _note(world: World) -> dict:
    return {"text": "walker: a note"}


def _suite_change(world: World) -> dict:
    return {"checks": [{"kind": "schema"}], "reason": "walker: schema only"}


def _suite_form(world: World) -> dict:
    return {"checks": '[{"kind": "schema"}]', "reason": "walker: schema only"}


def _reason(world: World) -> dict:
    return {"reason": "walker: decided"}


def _suite_proposal(world: World) -> None:
    """The owner proposes a change to the model's test suite."""
    from workflows.testsuites.services import suite_change_propose

    world.proposal = suite_change_propose(
        actor=world.model.created_by, model=world.model, raw_checks=[{"kind": "schema"}], reason="walker: proposed"
    )


def _in_review(world: World) -> None:
    """Submit the version and let the (agent) test and warm-up steps pass it to review."""
    from workflows.lifecycle.services import agent_transition, version_transition

    version = version_transition(version=world.version, name="submit", actor=world.model.created_by)
    for name in ("pass_tests", "pass_warmup"):
        version = agent_transition(
            version=version, name=name, agent=None, agent_name="walker", annotation=f"walker: {name}"
        )
    world.version = version


def _with_condition(world: World) -> None:
    """The version approved by carol with a condition that another validator may close."""
    from workflows.lifecycle.services import signoff_record

    _in_review(world)
    carol = world.model.grants.get(user__username="carol", role="reviewer").user
    signoff = signoff_record(
        version=world.version, signer=carol, decision="approve", annotation="walker: approved",
        password=factories.PASSWORD, conditions=[{"description": "walker: monitor drift", "severity": "low", "due": "2999-01-01"}],
    )
    world.finding = signoff.findings.get()


def _close(world: World) -> dict:
    return {"annotation": "walker: drift monitor in place"}
def _champion(world: World) -> None:
    """Walk the version to champion (the scoring gateway answers from it)."""
    from governance.access.models import User
    from governance.registry.models import VersionState
    from workflows.lifecycle.models import ApprovalPolicy
    from workflows.lifecycle.services import signoff_record, version_transition

    _in_review(world)
    for reviewer in ("carol", "dave"):
        world.version.refresh_from_db()
        if world.version.state != VersionState.IN_REVIEW:
            break
        signoff_record(
            version=world.version, signer=User.objects.get(username=reviewer), decision="approve",
            annotation="walker: reviewed", password=factories.PASSWORD,
        )
    ApprovalPolicy.objects.update(min_shadow_hours=0, min_shadow_requests=0)
    operator = User.objects.get(username="oscar")
    for name in ("promote_to_challenger", "promote_to_champion"):
        world.version = version_transition(version=world.version, name=name, actor=operator, annotation=f"walker: {name}")


def _scoring_rows(world: World) -> dict:
    from governance.demo import sample_models

    _train, valid, _target = sample_models.breast_cancer_frames()
    row = valid[world.version.feature_names].iloc[0]
    return {"inputs": [{name: float(value) for name, value in row.items()}]}


ROUTES: list[Route] = [
    # --- API: registry -------------------------------------------------------------------
    Route("GET", "/api/v1/models/{slug}/", READ, "alice", 200),
    Route("POST", "/api/v1/models/{slug}/risk-tier/", WRITE, "carol", 200, _tier),
    Route("GET", "/api/v1/models/{slug}/versions/", READ, "bob", 200),
    Route("POST", "/api/v1/models/{slug}/versions/", WRITE, "bob", 201, _version_upload, fmt="multipart"),
    Route("GET", "/api/v1/models/{slug}/versions/{number}/", READ, "carol", 200),
    Route("GET", "/api/v1/datasets/{dataset}/", READ, "alice", 200),
    # --- API: grants ---------------------------------------------------------------------
    Route("GET", "/api/v1/models/{slug}/grants/", READ, "alice", 200),
    Route("POST", "/api/v1/models/{slug}/grants/", WRITE, "alice", 201, _new_grant),
    Route("GET", "/api/v1/models/{slug}/grants/{grant}/", READ, "alice", 200),
    Route("DELETE", "/api/v1/models/{slug}/grants/{grant}/", WRITE, "alice", 204),
    # --- API: lifecycle ------------------------------------------------------------------
    Route("POST", "/api/v1/models/{slug}/versions/{number}/transitions/", WRITE, "alice", 200, _withdraw),
    Route(
        "POST", "/api/v1/models/{slug}/versions/{number}/signoffs/", WRITE, "carol", 201, _signature, prepare=_in_review
    ),
    # Anyone who can see a version may annotate it.
    Route("POST", "/api/v1/models/{slug}/versions/{number}/annotations/", READ, "bob", 201, _note),
    Route("GET", "/api/v1/models/{slug}/versions/{number}/history/", READ, "alice", 200),
    Route("GET", "/api/v1/models/{slug}/versions/{number}/findings/", READ, "bob", 200, prepare=_with_condition),
    Route(
        "POST", "/api/v1/models/{slug}/versions/{number}/findings/{finding}/close/", WRITE, "dave", 200, _close,
        prepare=_with_condition,
    ),
    # --- API: test suites ----------------------------------------------------------------
    Route("GET", "/api/v1/models/{slug}/test-suite/", READ, "carol", 200),
    Route("PUT", "/api/v1/models/{slug}/test-suite/", WRITE, "carol", 200, _suite_change),
    Route("GET", "/api/v1/models/{slug}/test-suite/proposals/", READ, "bob", 200),
    Route("POST", "/api/v1/models/{slug}/test-suite/proposals/", WRITE, "alice", 201, _suite_change),
    Route("GET", "/api/v1/models/{slug}/test-suite/proposals/{proposal}/", READ, "bob", 200, prepare=_suite_proposal),
    Route("POST", "/api/v1/models/{slug}/test-suite/proposals/{proposal}/approve/", WRITE, "carol", 200, _reason, prepare=_suite_proposal),
    Route("POST", "/api/v1/models/{slug}/test-suite/proposals/{proposal}/reject/", WRITE, "dave", 200, _reason, prepare=_suite_proposal),
    Route("POST", "/api/v1/models/{slug}/test-suite/proposals/{proposal}/withdraw/", WRITE, "alice", 200, _reason, prepare=_suite_proposal),
    Route("GET", "/api/v1/models/{slug}/versions/{number}/test-progress/", READ, "alice", 200),
    # --- API: scoring gateway (anyone who sees the model scores and reads its traces) -------
    Route("POST", "/api/v1/models/{slug}/predict", READ, "alice", 200, _scoring_rows, prepare=_champion),
    Route("GET", "/api/v1/models/{slug}/traces/", READ, "carol", 200),
    # --- Pages: registry -----------------------------------------------------------------
    Route("GET", "/models/{slug}/", READ, "alice", 200, api=False),
    Route("POST", "/models/{slug}/risk-tier/", WRITE, "carol", 302, _tier, api=False),
    Route("GET", "/models/{slug}/versions/new/", WRITE, "bob", 200, api=False),
    Route("POST", "/models/{slug}/versions/new/", WRITE, "bob", 302, _version_form, api=False),
    Route("GET", "/models/{slug}/versions/{number}/", READ, "carol", 200, api=False),
    Route("GET", "/models/{slug}/versions/{number}/artifact", READ, "oscar", 200, api=False),
    Route("GET", "/datasets/{dataset}/", READ, "alice", 200, api=False),
    Route("GET", "/datasets/{dataset}/download", READ, "bob", 200, api=False),
    # --- Pages: lifecycle and test suites ------------------------------------------------
    Route("POST", "/models/{slug}/versions/{number}/transition/", WRITE, "alice", 302, _withdraw, api=False),
    Route("POST", "/models/{slug}/versions/{number}/sign/", WRITE, "dave", 302, _signature, api=False, prepare=_in_review),
    Route("POST", "/models/{slug}/versions/{number}/annotate/", READ, "oscar", 302, _note, api=False),
    Route("GET", "/models/{slug}/test-suite/", READ, "bob", 200, api=False),  # the suite and its proposals
    Route("POST", "/models/{slug}/test-suite/", WRITE, "alice", 302, _suite_form, api=False),  # a proposal
    Route("GET", "/models/{slug}/test-suite/proposals/{proposal}/", READ, "bob", 200, api=False, prepare=_suite_proposal),
    Route("POST", "/models/{slug}/test-suite/proposals/{proposal}/approve/", WRITE, "carol", 302, _reason, api=False, prepare=_suite_proposal),
    Route("POST", "/models/{slug}/test-suite/proposals/{proposal}/reject/", WRITE, "dave", 302, _reason, api=False, prepare=_suite_proposal),
    Route("POST", "/models/{slug}/test-suite/proposals/{proposal}/withdraw/", WRITE, "alice", 302, _reason, api=False, prepare=_suite_proposal),
    Route(
        "POST", "/models/{slug}/versions/{number}/findings/{finding}/close/", WRITE, "dave", 302, _close, api=False,
        prepare=_with_condition,
    ),
    Route("GET", "/models/{slug}/versions/{number}/test-progress/", READ, "bob", 200, api=False),
    Route("GET", "/models/{slug}/traces/", READ, "oscar", 200, api=False),
    Route("GET", "/models/{slug}/comparison/", READ, "bob", 200, api=False),
    # --- Pages: sharing (only owners, validators and admins even look at it) -------------
    Route("GET", "/models/{slug}/sharing/", WRITE, "alice", 200, api=False),
    Route("POST", "/models/{slug}/sharing/", WRITE, "alice", 302, _new_grant, api=False),
    Route("POST", "/models/{slug}/sharing/{grant}/remove/", WRITE, "alice", 302, api=False),
    # --- Reports: whoever may see the model reads them; asking for a build is a read too ---
    Route("GET", "/api/v1/models/{slug}/versions/{number}/report.pdf", READ, "alice", 200),
    Route("GET", "/api/v1/models/{slug}/versions/{number}/report.html", READ, "carol", 200),
    Route("GET", "/api/v1/models/{slug}/versions/{number}/evidence-pack.zip", READ, "oscar", 200),
    Route("GET", "/models/{slug}/versions/{number}/report/", READ, "bob", 200, api=False),
    Route("POST", "/models/{slug}/versions/{number}/report/", READ, "alice", 302, api=False),
    Route("GET", "/models/{slug}/versions/{number}/report.html", READ, "carol", 200, api=False),
    Route("GET", "/models/{slug}/versions/{number}/report.pdf", READ, "dave", 200, api=False),
    Route("GET", "/models/{slug}/versions/{number}/evidence-pack.zip", READ, "bob", 200, api=False),
]


@pytest.fixture
def world(shared_model, version, datasets, bob, audrey) -> World:
    grant = shared_model.grants.get(user=bob, role="contributor")
    return World(model=shared_model, version=version, datasets=datasets, grant=grant)


def _call(route: Route, world: World, user, api_for, browser_for):
    if route.prepare:
        route.prepare(world)
    url = world.url(route.url)
    data = route.payload(world) if route.payload else None
    method = route.method.lower()
    if route.api:
        client = api_for(user)
        if data is None:
            return getattr(client, method)(url)
        return getattr(client, method)(url, data, format=route.fmt)
    client = browser_for(user)
    return getattr(client, method)(url, data or {})


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.id)
def test_outsider_gets_404(route, world, eve, api_for, browser_for):
    response = _call(route, world, eve, api_for, browser_for)
    assert response.status_code == 404, (route.id, response.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.id)
def test_viewer_reads_but_cannot_write(route, world, victor, api_for, browser_for):
    response = _call(route, world, victor, api_for, browser_for)
    expected = route.success if route.access == READ else 403
    assert response.status_code == expected, (route.id, response.status_code)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.id)
def test_holder_succeeds(route, world, request, api_for, browser_for):
    holder = request.getfixturevalue(route.holder)
    response = _call(route, world, holder, api_for, browser_for)
    assert response.status_code == route.success, (route.id, response.status_code, getattr(response, "content", b"")[:300])


@pytest.mark.parametrize("route", [r for r in ROUTES if r.method == "GET" and r.access == READ], ids=lambda route: route.id)
def test_auditor_reads_everything(route, world, audrey, api_for, browser_for):
    response = _call(route, world, audrey, api_for, browser_for)
    assert response.status_code == route.success, (route.id, response.status_code)


def test_lists_and_counts_leave_out_what_the_caller_cannot_see(world, eve, victor, audrey, api_for):
    for user, expected in ((eve, 0), (victor, 1), (audrey, 1)):
        models = api_for(user).get("/api/v1/models/").json()
        assert models["count"] == expected and len(models["results"]) == expected
        searched = api_for(user).get("/api/v1/models/?search=credit").json()
        assert searched["count"] == expected
    datasets = api_for(eve).get("/api/v1/datasets/").json()
    assert datasets["count"] == 0 and datasets["results"] == []


# --- Coverage of the table ---------------------------------------------------------------

_NAMES_AN_OBJECT = re.compile(r"(^|/)(models|datasets)/<")
_SKIP_PREFIXES = ("admin/", "accounts/")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _shape(path: str) -> str:
    path = path.lstrip("^/").rstrip("$")
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_every_route_is_walked():
    """Every URL naming a model, version or dataset has a row in ROUTES (add rows after a merge)."""
    walked = {_shape(route.url) for route in ROUTES}
    missing = sorted(
        {
            _shape(route)
            for route in _routes(get_resolver().url_patterns)
            if _NAMES_AN_OBJECT.search(route) and not route.startswith(_SKIP_PREFIXES)
        }
        - walked
    )
    assert not missing, f"Add these URLs to ROUTES in {__name__}: {missing}"
