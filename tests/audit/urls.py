"""The project's URLs for the audit tests, with the registry page names the base layout links to.

The registry's pages are built on another branch; until they are merged, the layout's links to
``registry:model_list`` and ``registry:dataset_list`` (and the audit page's object links) need
names to reverse. Where the registry already has a name, its own view is kept.
"""

from django.http import HttpResponse
from django.urls import URLResolver, include, path

from governance.registry import urls as registry_urls
from governance.urls import urlpatterns as project_urlpatterns


def _placeholder(request, **kwargs):
    return HttpResponse("registry page")


_have = {getattr(p, "name", None) for p in registry_urls.urlpatterns}
_registry = list(registry_urls.urlpatterns) + [
    path(route, _placeholder, name=name)
    for route, name in [
        ("models/", "model_list"),
        ("datasets/", "dataset_list"),
        ("models/<slug:slug>/", "model_detail"),
        ("models/<slug:slug>/versions/<int:number>/", "version_detail"),
        ("datasets/<int:pk>/", "dataset_detail"),
    ]
    if name not in _have
]

urlpatterns = [
    p for p in project_urlpatterns if not (isinstance(p, URLResolver) and p.namespace == "registry")
] + [path("", include((_registry, "registry")))]
