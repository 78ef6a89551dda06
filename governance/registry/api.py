"""API v1 endpoints of the registry: models, datasets and versions."""

from django.core.exceptions import PermissionDenied
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.access import permissions
from governance.api import paginated, validated
from governance.audit.services import access_record
from governance.registry import selectors, services
from governance.registry.serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    ModelCreateSerializer,
    ModelSerializer,
    RiskTierConfirmSerializer,
    VersionCreateSerializer,
    VersionSerializer,
)
from governance.version_wiring import version_api_related

from .models import Dataset
from .services import RegistryError


def _viewed(request, action: str, obj, data) -> Response:
    """One object's representation, with the look at it written to the access trail."""
    access_record(request, action, obj)
    return Response(data)


class ModelListCreate(APIView):
    def get(self, request):
        models = selectors.model_list(
            user=request.user,
            search=request.query_params.get("search", ""),
            risk_tier=request.query_params.get("risk_tier", ""),
            state=request.query_params.get("state", ""),
        )
        return paginated(self, models, ModelSerializer)

    def post(self, request):
        model = services.model_create(user=request.user, **validated(ModelCreateSerializer, request))
        return Response(ModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetail(APIView):
    def get(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        return _viewed(request, "model.viewed", model, ModelSerializer(model).data)


class ModelRiskTier(APIView):
    """Confirm or change the model's risk tier with a reason (validators and admins)."""

    def post(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        # Authorisation is answered before validation; the service decides again.
        if not permissions.can_confirm_risk_tier(request.user, model):
            raise PermissionDenied("Only validators independent of the model and admins confirm or change its risk tier.")
        data = validated(RiskTierConfirmSerializer, request)
        model = services.model_risk_tier_confirm(model=model, actor=request.user, **data)
        return Response(ModelSerializer(selectors.model_get(user=request.user, slug=model.slug)).data)


class DatasetListCreate(APIView):
    def get(self, request):
        return paginated(self, selectors.dataset_list(user=request.user), DatasetSerializer)

    def post(self, request):
        data = validated(DatasetCreateSerializer, request)
        dataset = services.dataset_create(user=request.user, name=data["name"], upload=data["file"], target=data["target"])
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetail(APIView):
    def get(self, request, pk):
        dataset = selectors.dataset_get(user=request.user, pk=pk)
        return _viewed(request, "dataset.viewed", dataset, DatasetSerializer(dataset).data)


class VersionListCreate(APIView):
    def get(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        versions = selectors.versions_of(model=model, related=version_api_related)
        return paginated(self, versions, VersionSerializer, context={"request": request})

    def post(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        services.version_create_check(user=request.user, model=model)
        data = validated(VersionCreateSerializer, request)
        datasets = {}
        # Both in one query. Visibility is the service's rule; here only "does such a dataset exist at all".
        found = Dataset.objects.in_bulk([data["training_dataset"], data["validation_dataset"]])
        for field in ("training_dataset", "validation_dataset"):
            datasets[field] = found.get(data[field])
            if datasets[field] is None:
                raise RegistryError(f"No dataset with id {data[field]} that you can see.", field=field)
        repository, commit = services.parse_code_ref(data["code_ref"])
        version = services.version_create(
            user=request.user,
            model=model,
            artifact=data["artifact"],
            code_repository=repository,
            code_commit=commit,
            note=data["annotation"],
            resubmission_of=data["resubmission_of"],
            **datasets,
        )
        return Response(VersionSerializer(version, context={"request": request}).data, status=status.HTTP_201_CREATED)


class VersionDetail(APIView):
    def get(self, request, slug, number):
        version = selectors.version_get(user=request.user, slug=slug, number=number, related=version_api_related)
        return _viewed(request, "version.viewed", version, VersionSerializer(version, context={"request": request}).data)
