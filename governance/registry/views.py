"""Browser pages of the registry: models, versions and datasets.

Every lookup goes through a selector, so an object the user may not see is a 404; an action
the user may not take is a 403 page. Writes are one service call each; a refused upload is
shown next to its field with the form filled in again, and nothing is stored.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods

from governance.access import permissions
from governance.audit.services import access_record
from governance.errors import ActionError, show_refusal

from . import selectors, services
from .forms import DatasetUploadForm, ModelCreateForm, RiskTierForm, VersionUploadForm
from .models import RiskTier, VersionState
from .storage import blob_path

MODELS_PER_PAGE = 20
DATASETS_PER_PAGE = 25


def _upload_form(request: HttpRequest, form_class, **kwargs):
    """The upload form, bound on every POST (even one with no fields, so that it says what is missing)."""
    bound = request.method == "POST"
    return form_class(request.POST if bound else None, request.FILES if bound else None, **kwargs)


def _viewed_page(request: HttpRequest, action: str, obj, template: str, context: dict) -> HttpResponse:
    """An object's page, with the look at it written to the access trail."""
    access_record(request, action, obj)
    return render(request, template, context)


def _blob_download(
    request: HttpRequest, action: str, obj, path: str, sha256: str, filename: str, content_type="application/octet-stream"
) -> FileResponse:
    """A stored blob as an attachment, with the download (and the blob's hash) written to the access trail."""
    access_record(request, action, obj, data={"sha256": sha256})
    # Blobs are written once, read-only, under their hash: no need to re-hash on each download.
    return FileResponse(open(blob_path(path), "rb"), as_attachment=True, filename=filename, content_type=content_type)


def _safe_next(request: HttpRequest) -> str:
    """The page to go back to after an upload, if it is one of ours."""
    target = request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    # Unknown filter values are ignored rather than giving a puzzling empty list.
    risk_tier = request.GET.get("risk_tier", "")
    risk_tier = risk_tier if risk_tier in RiskTier.values else ""
    state = request.GET.get("state", "")
    state = state if state in VersionState.values else ""
    models = selectors.model_list(user=request.user, search=search, risk_tier=risk_tier, state=state)
    # model_list() loads each row's creator and owner grants with the page (no query per row).
    page = Paginator(models, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/model_list.html",
        {
            "page_obj": page,
            "search": search,
            "risk_tier": risk_tier,
            "state": state,
            "risk_tiers": RiskTier.choices,
            "states": VersionState.choices,
            "filtered": bool(search or risk_tier or state),
            "can_create": services.can_create_models(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def model_create(request: HttpRequest) -> HttpResponse:
    if not services.can_create_models(request.user):
        raise PermissionDenied("Only data scientists and admins register models.")
    form = ModelCreateForm(request.POST if request.method == "POST" else None)
    status = 400 if form.errors else 200
    if request.method == "POST" and form.is_valid():
        try:
            model = services.model_create(user=request.user, **form.cleaned_data)
        except ActionError as error:
            status = show_refusal(form, error)
        else:
            messages.success(request, f"Model “{model.name}” registered. You are its owner.")
            return redirect(model)
    return render(request, "registry/model_form.html", {"form": form}, status=status)


def _model_context(request: HttpRequest, model, tier_form: RiskTierForm | None = None) -> dict:
    can_confirm = permissions.can_confirm_risk_tier(request.user, model)
    if can_confirm and tier_form is None:
        tier_form = RiskTierForm(initial={"risk_tier": model.risk_tier})
    return {
        "model": model,
        "owners": selectors.owners_of(model),
        "versions": selectors.versions_of(model=model),
        "can_contribute": permissions.can_contribute(request.user, model),
        "tier_form": tier_form if can_confirm else None,
    }


@login_required
def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    model = selectors.model_get(user=request.user, slug=slug)
    return _viewed_page(request, "model.viewed", model, "registry/model_detail.html", _model_context(request, model))


@login_required
@require_http_methods(["POST"])
def model_risk_tier(request: HttpRequest, slug: str) -> HttpResponse:
    """Confirm or change the model's risk tier (validators and admins); errors show on the model page."""
    model = selectors.model_get(user=request.user, slug=slug)
    if not permissions.can_confirm_risk_tier(request.user, model):
        raise PermissionDenied("Only validators independent of the model and admins confirm or change its risk tier.")
    form = RiskTierForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            model = services.model_risk_tier_confirm(model=model, actor=request.user, **form.cleaned_data)
        except ActionError as error:
            status = show_refusal(form, error)
        else:
            messages.success(request, f"Risk tier confirmed: {model.get_risk_tier_display().lower()}.")
            return redirect(model)
    context = _model_context(request, model, tier_form=form)
    return render(request, "registry/model_detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def version_create(request: HttpRequest, slug: str) -> HttpResponse:
    model = selectors.model_get(user=request.user, slug=slug)
    if not permissions.can_contribute(request.user, model):
        raise PermissionDenied("You need the owner or contributor grant on this model to upload versions.")
    form = _upload_form(
        request, VersionUploadForm, user=request.user, model=model,
        # The version page's "Upload a resubmission" link names the version it answers.
        initial={"resubmission_of": request.GET.get("resubmission_of", "")},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            repository, commit = form.cleaned_data["code_ref"]
            try:
                version = services.version_create(
                    user=request.user,
                    model=model,
                    artifact=form.cleaned_data["artifact"],
                    training_dataset=form.cleaned_data["training_dataset"],
                    validation_dataset=form.cleaned_data["validation_dataset"],
                    code_repository=repository,
                    code_commit=commit,
                    note=form.cleaned_data["note"],
                    resubmission_of=form.cleaned_data["resubmission_of"],
                )
            except ActionError as error:
                status = show_refusal(form, error)
            else:
                answers = f", answering the changes requested on version {version.resubmission_of.number}" if version.resubmission_of else ""
                messages.success(request, f"Version {version.number} uploaded as a draft{answers}.")
                return redirect(version)
    return render(request, "registry/version_form.html", {"form": form, "model": model}, status=status)


@login_required
def version_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    version = selectors.version_get(user=request.user, slug=slug, number=number)
    lineage = [("Training", version.training_dataset), ("Validation", version.validation_dataset)]
    context = {
        "model": version.model,
        "version": version,
        "lineage": lineage,
        "can_contribute": permissions.can_contribute(request.user, version.model),
    }
    return _viewed_page(request, "version.viewed", version, "registry/version_detail.html", context)


@login_required
def artifact_download(request: HttpRequest, slug: str, number: int) -> FileResponse:
    version = selectors.version_get(user=request.user, slug=slug, number=number)
    filename = f"{version.model.slug}-v{version.number}.{version.format}"
    return _blob_download(request, "artifact.downloaded", version, version.artifact_path, version.artifact_sha256, filename)


@login_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.dataset_list(user=request.user), DATASETS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/dataset_list.html",
        {"page_obj": page, "can_upload": services.can_upload_datasets(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create(request: HttpRequest) -> HttpResponse:
    if not services.can_upload_datasets(request.user):
        raise PermissionDenied("Only data scientists, validators and admins upload datasets.")
    form = _upload_form(request, DatasetUploadForm)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                dataset = services.dataset_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    upload=form.cleaned_data["file"],
                    target=form.cleaned_data["target"],
                )
            except ActionError as error:
                status = show_refusal(form, error)
            else:
                messages.success(request, f"Dataset “{dataset.name}” stored: {dataset.rows:,} rows.")
                return redirect(_safe_next(request) or dataset.get_absolute_url())
    return render(request, "registry/dataset_form.html", {"form": form}, status=status)


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    context = {"dataset": dataset, "used_by": selectors.versions_using_dataset(user=request.user, dataset=dataset)}
    return _viewed_page(request, "dataset.viewed", dataset, "registry/dataset_detail.html", context)


@login_required
def dataset_download(request: HttpRequest, pk: int) -> FileResponse:
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    filename = f"{slugify(dataset.name) or 'dataset'}-{dataset.sha256[:12]}.csv"
    return _blob_download(
        request, "dataset.downloaded", dataset, dataset.path, dataset.sha256, filename, content_type="text/csv"
    )
