"""Forms of the lifecycle pages. They validate input; the services decide."""

from django import forms

from .models import DEFAULT_MEANING, Decision, Severity


class TransitionForm(forms.Form):
    name = forms.CharField(max_length=40, widget=forms.HiddenInput)
    annotation = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Why you are doing this."
    )
    # A change of champion runs only once confirmed on the page that names the champion it
    # replaces (``replaces``: that champion's number, empty when there is none).
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    replaces = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    override = forms.BooleanField(
        required=False,
        label="Override the shadow minimums",
        help_text="As an admin: promote before the minimums are met. The annotation above is the reason, "
        "and it is recorded with the override.",
    )


class AnnotationForm(forms.Form):
    text = forms.CharField(
        label="Add a note",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Notes are never edited or deleted: to correct one, add another.",
    )


# The signing page's decisions: an approval with conditions is an approval that carries them.
APPROVE_WITH_CONDITIONS = "approve_with_conditions"
PAGE_DECISIONS = [
    (Decision.APPROVE, "Approve"),
    (APPROVE_WITH_CONDITIONS, "Approve with conditions"),
    (Decision.REQUEST_CHANGES, "Request changes"),
    (Decision.REJECT, "Reject"),
]
# Blank rows offered for conditions and for findings; rows left blank are ignored.
BLANK_ROWS = 3


class SignOffForm(forms.Form):
    decision = forms.ChoiceField(choices=PAGE_DECISIONS, widget=forms.RadioSelect)
    meaning = forms.CharField(
        max_length=240,
        required=False,
        help_text=(
            f"What your signature means. Left empty: “{DEFAULT_MEANING[Decision.APPROVE]}” for an approval, "
            f"“{DEFAULT_MEANING[Decision.REQUEST_CHANGES]}” for a request for changes, "
            f"“{DEFAULT_MEANING[Decision.REJECT]}” for a rejection."
        ),
    )
    annotation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="What you reviewed, and why you decided so."
    )
    evidence_reviewed = forms.BooleanField(
        label="I have reviewed the evidence summary above",
        help_text="Recorded as part of what your signature means.",
        error_messages={"required": "Confirm that you have reviewed the evidence summary before you sign."},
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Your password, asked again for every signature.",
    )
    otp = forms.CharField(
        label="One-time code",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="The code from your authenticator app.",
    )

    # The SHA-256 shown on the page, so the signature binds what the signer saw.
    artifact_sha256 = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, needs_otp: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_otp = needs_otp
        if needs_otp:
            self.fields["otp"].required = True
        else:
            del self.fields["otp"]

    @property
    def service_decision(self) -> str:
        """The sign-off service's decision for the page's choice."""
        decision = self.cleaned_data["decision"]
        return Decision.APPROVE if decision == APPROVE_WITH_CONDITIONS else decision


class ConditionRowForm(forms.Form):
    """One condition of an approval: what must be done, how serious, by when."""

    description = forms.CharField(max_length=2000, widget=forms.TextInput(attrs={"placeholder": "What must be done"}))
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.MEDIUM)
    due = forms.DateField(
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Give the due date as YYYY-MM-DD."},
    )


class FindingRowForm(forms.Form):
    """One finding of a request for changes or a rejection."""

    description = forms.CharField(max_length=2000, widget=forms.TextInput(attrs={"placeholder": "What you found"}))
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.MEDIUM)
    due = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Give the due date as YYYY-MM-DD."},
    )


ConditionRows = forms.formset_factory(ConditionRowForm, extra=BLANK_ROWS, max_num=20, validate_max=True)
FindingRows = forms.formset_factory(FindingRowForm, extra=BLANK_ROWS, max_num=20, validate_max=True)


def filled_rows(formset) -> list[dict]:
    """The rows someone filled in (a valid formset's), as the sign-off service takes them."""
    return [
        {key: value for key, value in form.cleaned_data.items() if key != "DELETE"}
        for form in formset.forms
        if form.has_changed() and form.cleaned_data
    ]


class FindingCloseForm(forms.Form):
    annotation = forms.CharField(
        label="How it was resolved",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with the closing; it cannot be reopened.",
    )
