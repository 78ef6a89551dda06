"""The project's URLs, plus stand-ins for registry page names this branch does not have yet.

The registry's pages are built on another branch; the portal layout links to them. Tests of
the access pages use this URLconf only while those names are missing (see conftest.py).
"""

from django.http import HttpResponse
from django.urls import include, path

from governance.urls import urlpatterns as project_urlpatterns


def _stand_in(request, **kwargs):
    return HttpResponse("registry page stand-in")


registry_stand_ins = (
    [
        path("models/", _stand_in, name="model_list"),
        path("models/<slug:slug>/", _stand_in, name="model_detail"),
        path("datasets/", _stand_in, name="dataset_list"),
        path("datasets/<int:pk>/", _stand_in, name="dataset_detail"),
    ],
    "registry",
)

urlpatterns = [pattern for pattern in project_urlpatterns if getattr(pattern, "namespace", None) != "registry"]
urlpatterns.append(path("", include(registry_stand_ins)))
