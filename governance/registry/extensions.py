"""Extension points of the registry's pages and API, filled by the workflow apps.

The version page and the version API are the registry's, but what happens to a version
(transitions, sign-offs, test evidence, warm-up) belongs to ``workflows``. Each workflow app
registers what it adds in its ``AppConfig.ready``, so the registry never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from django.http import HttpRequest


@dataclass(frozen=True)
class Panel:
    """A section of a page: a template, and a function that gives its context."""

    key: str
    template: str
    context: Callable[[HttpRequest, Any], dict]
    order: int = 100


VERSION_PANELS: dict[str, Panel] = {}
MODEL_PANELS: dict[str, Panel] = {}
# Extra fields of the version API: name -> f(version, request) -> JSON-able value.
VERSION_API_FIELDS: dict[str, Callable[[Any, Any], Any]] = {}


def register_version_panel(key: str, template: str, context: Callable, order: int = 100) -> None:
    VERSION_PANELS[key] = Panel(key, template, context, order)


def register_model_panel(key: str, template: str, context: Callable, order: int = 100) -> None:
    MODEL_PANELS[key] = Panel(key, template, context, order)


def register_version_api_field(name: str, func: Callable[[Any, Any], Any]) -> None:
    VERSION_API_FIELDS[name] = func


def render_panels(panels: dict[str, Panel], request: HttpRequest, obj) -> list[dict]:
    """[{"template": ..., "context": {...}}] in order, for ``{% include %}`` in a page."""
    return [
        {"key": panel.key, "template": panel.template, "context": panel.context(request, obj)}
        for panel in sorted(panels.values(), key=lambda p: (p.order, p.key))
    ]
