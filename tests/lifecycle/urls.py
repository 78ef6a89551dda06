"""The project's URLs, with stand-ins for the registry pages another branch builds.

Used only when the registry's page URLs are missing (the lifecycle branch on its own); once the
branches are merged, the real pages answer and this module is not used.
"""

from django.http import HttpResponse
from django.urls import include, path

from governance.urls import urlpatterns as project_urlpatterns


def _stand_in(request, **kwargs):
    return HttpResponse("stand-in for a registry page")


registry_stand_ins = (
    [
        path("models/", _stand_in, name="model_list"),
        path("datasets/", _stand_in, name="dataset_list"),
        path("models/<slug:slug>/versions/<int:number>/", _stand_in, name="version_detail"),
    ],
    "registry",
)

urlpatterns = [
    path("", include(registry_stand_ins)),
    *[pattern for pattern in project_urlpatterns if getattr(pattern, "namespace", None) != "registry"],
]
