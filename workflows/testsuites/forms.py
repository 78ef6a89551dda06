"""Forms of the test-suite pages. They read input; the services decide."""

import json

from django import forms


class SuiteChangeForm(forms.Form):
    checks = forms.CharField(
        label="Checks (JSON list)",
        widget=forms.Textarea(attrs={"rows": 24, "cols": 80, "spellcheck": "false"}),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the suite should change: it is shown to the validator and kept in the audit trail.",
    )

    def clean_checks(self):
        text = self.cleaned_data["checks"]
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"The checks are not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None


class DecisionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="Why you decide so; kept with the decision."
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
