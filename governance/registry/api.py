"""API v1 endpoints of the registry: models, datasets and versions."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import Pagination
from governance.audit.services import access_record
from governance.registry import selectors, services
from governance.registry.serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    ModelCreateSerializer,
    ModelSerializer,
    VersionCreateSerializer,
    VersionSerializer,
)

from .models import Dataset
from .services import RegistryError


class ModelListCreate(APIView):
    def get(self, request):
        models = selectors.model_list(
            user=request.user,
            search=request.query_params.get("search", ""),
            risk_tier=request.query_params.get("risk_tier", ""),
            state=request.query_params.get("state", ""),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(models, request, view=self)
        return paginator.get_paginated_response(ModelSerializer(page, many=True).data)

    def post(self, request):
        data = ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_create(user=request.user, **data.validated_data)
        return Response(ModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetail(APIView):
    def get(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        access_record(request, "model.viewed", model)
        return Response(ModelSerializer(model).data)


class DatasetListCreate(APIView):
    def get(self, request):
        datasets = selectors.datasets_visible_to(request.user).select_related("uploaded_by").order_by("-created_at", "-id")
        paginator = Pagination()
        page = paginator.paginate_queryset(datasets, request, view=self)
        return paginator.get_paginated_response(DatasetSerializer(page, many=True).data)

    def post(self, request):
        data = DatasetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_create(
            user=request.user,
            name=data.validated_data["name"],
            upload=data.validated_data["file"],
            target=data.validated_data["target"],
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetail(APIView):
    def get(self, request, pk):
        dataset = selectors.dataset_get(user=request.user, pk=pk)
        access_record(request, "dataset.viewed", dataset)
        return Response(DatasetSerializer(dataset).data)


class VersionListCreate(APIView):
    def get(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.versions_of(model=model), request, view=self)
        return paginator.get_paginated_response(VersionSerializer(page, many=True, context={"request": request}).data)

    def post(self, request, slug):
        model = selectors.model_get(user=request.user, slug=slug)
        services.version_create_check(user=request.user, model=model)
        data = VersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        datasets = {}
        for field in ("training_dataset", "validation_dataset"):
            # Visibility is the service's rule; here only "does such a dataset exist at all".
            datasets[field] = Dataset.objects.filter(pk=data.validated_data[field]).first()
            if datasets[field] is None:
                raise RegistryError(f"No dataset with id {data.validated_data[field]} that you can see.", field=field)
        repository, commit = services.parse_code_ref(data.validated_data["code_ref"])
        version = services.version_create(
            user=request.user,
            model=model,
            artifact=data.validated_data["artifact"],
            code_repository=repository,
            code_commit=commit,
            note=data.validated_data["annotation"],
            **datasets,
        )
        return Response(VersionSerializer(version, context={"request": request}).data, status=status.HTTP_201_CREATED)


class VersionDetail(APIView):
    def get(self, request, slug, number):
        version = selectors.version_get(user=request.user, slug=slug, number=number)
        access_record(request, "version.viewed", version)
        return Response(VersionSerializer(version, context={"request": request}).data)
