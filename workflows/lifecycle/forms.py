"""Forms of the lifecycle pages. They validate input; the services decide."""

from django import forms

from .models import DEFAULT_MEANING, Decision


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


class SignOffForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    meaning = forms.CharField(
        max_length=300,
        required=False,
        help_text=(
            f"What your signature means. Left empty: “{DEFAULT_MEANING[Decision.APPROVE]}” for an approval, "
            f"“{DEFAULT_MEANING[Decision.REJECT]}” for a rejection."
        ),
    )
    annotation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="What you reviewed, and why you decided so."
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
