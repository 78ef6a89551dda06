"""Browser forms of the registry. They validate input; the services decide and store."""

from __future__ import annotations

from django import forms
from django.utils.text import slugify

from . import selectors
from .models import Dataset, RiskTier, Task, VersionState
from .services import RESERVED_SLUGS, RegistryError, parse_code_ref


class ModelCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100,
        required=False,
        help_text="The model's address in the portal and the API. Left empty, it is made from the name.",
    )
    task = forms.ChoiceField(choices=Task.choices)
    risk_tier = forms.ChoiceField(
        choices=RiskTier.choices,
        help_text="Decides how many independent approvals a version needs before it can serve. Your tier is a "
        "proposal until a validator confirms it; until then versions need the approvals of the high tier "
        "(critical, if you propose critical).",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)

    def clean(self):
        cleaned = super().clean()
        slug = cleaned.get("slug") or slugify(cleaned.get("name", ""))
        if slug in RESERVED_SLUGS:
            self.add_error("slug", f"The address '{slug}' is reserved; choose another slug.")
        return cleaned


class RiskTierForm(forms.Form):
    """Confirm the owner's proposed tier, or change it, with a reason (validators and admins)."""

    risk_tier = forms.ChoiceField(choices=RiskTier.choices, label="Risk tier")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why this tier is right for the model: it is kept in the audit trail.",
    )


class DatasetUploadForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Left empty, the file's name is used.")
    # Empty files are let through so that the intake gives its own, uniform message.
    file = forms.FileField(allow_empty_file=True, help_text="A UTF-8 CSV with a header row.")
    target = forms.CharField(
        max_length=200,
        required=False,
        help_text="The column the model predicts. Training and validation data sets need one.",
    )


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, dataset: Dataset) -> str:
        target = f", target {dataset.target}" if dataset.target else ", no target"
        return f"{dataset.name} · {dataset.rows:,} rows{target} · {dataset.sha256[:12]}"


class VersionUploadForm(forms.Form):
    artifact = forms.FileField(
        allow_empty_file=True,
        help_text="ONNX (.onnx) or skops (.skops). Pickle and joblib files are refused.",
    )
    training_dataset = DatasetChoiceField(queryset=Dataset.objects.none())
    validation_dataset = DatasetChoiceField(queryset=Dataset.objects.none())
    code_ref = forms.CharField(
        max_length=600,
        required=False,
        label="Code reference",
        help_text="repository@commit, for example https://git.example.com/risk/churn@3f2a1b9",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Why this version was made."
    )
    resubmission_of = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        label="Answers the changes requested on",
        help_text="The version whose reviewers requested changes that this one answers, if any.",
    )

    def __init__(self, *args, user, model, **kwargs):
        super().__init__(*args, **kwargs)
        # Only data sets the user may see are offered, and only those are accepted.
        visible = selectors.datasets_visible_to(user).order_by("-created_at", "-id")
        self.fields["training_dataset"].queryset = visible
        self.fields["validation_dataset"].queryset = visible
        waiting = model.versions.filter(state=VersionState.CHANGES_REQUESTED).order_by("-number")
        self.fields["resubmission_of"].choices = [("", "No: a new version")] + [
            (version.number, f"Version {version.number} (changes requested)") for version in waiting
        ]

    def clean_code_ref(self) -> tuple[str, str]:
        try:
            return parse_code_ref(self.cleaned_data["code_ref"])
        except RegistryError as error:
            raise forms.ValidationError(error.message, code=error.code)
