"""What the workflow apps add to a model version, listed in one place: API fields and history.

A version belongs to the registry (``governance/``, the lower layer, which never imports
``workflows/`` when it loads); what happens to it belongs to the workflow apps. Their parts are
named here by dotted path and imported on first use:

- ``VERSION_API_FIELDS``: the extra fields of the version API (``GET .../versions/{n}/`` and the
  version lists), in this order after the registry's own, each ``f(version, request)``;
- ``VERSION_API_RELATED``: what those fields read of each version, prefetched with the versions;
- ``VERSION_HISTORY_SOURCES``: the sources of a version's one history (the history API and
  the version page's timeline), each ``f(version) -> [HistoryEntry]``, merged oldest first.

The version and model pages name their panels in their templates
(``templates/registry/version_detail.html``, ``model_detail.html``); what follows a transition is
declared with its rule (``workflows/lifecycle/rules.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.utils.module_loading import import_string

VERSION_API_FIELDS: dict[str, str] = {
    "available_transitions": "workflows.lifecycle.panels.api_available_transitions",
    "signoffs": "workflows.lifecycle.panels.api_signoffs",
    "required_signoffs": "workflows.lifecycle.panels.api_required_signoffs",
    "shadow": "workflows.lifecycle.promotion.api_shadow",
    "test_runs": "workflows.testsuites.selectors.test_runs_api",
    "warmup": "workflows.testsuites.selectors.warmup_api",
}

# What the API fields read of each version, loaded with the versions (a version or a page of
# them) in a fixed number of queries: each f(queryset) -> queryset adding its prefetches.
VERSION_API_RELATED: tuple[str, ...] = (
    "workflows.lifecycle.panels.api_related",
    "workflows.testsuites.selectors.api_related",
)

VERSION_HISTORY_SOURCES: tuple[str, ...] = (
    "workflows.lifecycle.history.transition_entries",
    "workflows.lifecycle.history.annotation_entries",
    "workflows.lifecycle.history.signoff_entries",
    "workflows.testsuites.selectors.history_entries",
)


def version_api_fields() -> dict[str, Callable]:
    """The version API's extra fields: name -> f(version, request)."""
    return dict(zip(VERSION_API_FIELDS, _imported(tuple(VERSION_API_FIELDS.values()))))


def version_api_related(versions):
    """``versions`` (a queryset) with what the version API's fields read of each prefetched."""
    for related in _imported(VERSION_API_RELATED):
        versions = related(versions)
    return versions


def version_history_sources() -> list[Callable]:
    """The sources of a version's history, each f(version) -> [HistoryEntry]."""
    return list(_imported(VERSION_HISTORY_SOURCES))


@cache
def _imported(paths: tuple[str, ...]) -> tuple[Callable, ...]:
    return tuple(import_string(path) for path in paths)
