"""Panels: sections that other apps add to the registry's pages, named in the page templates.

Each app gives a template tag that builds its panel's context with a named function and
renders its partial with ``panel_render``, e.g. ``{% lifecycle_version_panel version %}`` on the
version page (templates/registry/version_detail.html).
"""

from __future__ import annotations

from django.template import Context


def panel_render(context: Context, template_name: str, values: dict) -> str:
    """Render a panel's partial with its own values on top of the page's context.

    The values are available both as ``panel.<name>`` and directly by name, beside the page's
    own (``version``, ``model``, ``request``...), so a panel template reads the same way whether
    the page includes it or a test renders it on its own with ``{"panel": values}``.
    """
    template = context.template.engine.get_template(template_name)
    with context.push(panel=values, **values):
        return template.render(context)
