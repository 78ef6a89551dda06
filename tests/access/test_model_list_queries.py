"""The model list costs the same number of queries whatever the page size (no query per row)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_models(alice, bob, eve):
    team = Group.objects.create(name="risk-team")
    eve.groups.add(team)
    models = []
    for i in range(12):
        model = factories.make_model(alice, name=f"Model {i:02d}")
        factories.grant(model=model, user=bob, role="owner", granted_by=alice)
        factories.grant(model=model, group=team, role="owner" if i % 2 else "viewer", granted_by=alice)
        if i % 3 == 0:
            factories.grant(model=model, user=eve, role="contributor", granted_by=alice)
        models.append(model)
    return models


def _queries(client, url):
    client.get(url)  # the token's last-used write happens once
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.json(), len(queries)


@pytest.mark.parametrize("who", ["eve", "audrey"])
def test_api_model_list_queries_do_not_grow_with_the_page(who, request, many_models, api_for):
    client = api_for(request.getfixturevalue(who))
    small, few = _queries(client, "/api/v1/models/?page_size=2")
    large, many = _queries(client, "/api/v1/models/?page_size=12")
    assert len(small["results"]) == 2 and len(large["results"]) == 12
    assert few == many <= 6
    row = next(r for r in large["results"] if r["slug"] == "model-01")
    assert row["owners"] == ["alice", "bob", "group:risk-team"]
    assert row["created_by"] == "alice"


def test_model_list_page_queries_do_not_grow_with_the_page(many_models, eve, browser_for, monkeypatch):
    from governance.registry import views

    browser = browser_for(eve)
    browser.get("/models/")
    counts = []
    for size in (2, 12):
        monkeypatch.setattr(views, "MODELS_PER_PAGE", size)
        with CaptureQueriesContext(connection) as queries:
            response = browser.get("/models/")
        assert response.status_code == 200 and len(response.context["page_obj"]) == size
        counts.append(len(queries))
    assert counts[0] == counts[1]
