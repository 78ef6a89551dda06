"""One error hierarchy: every service refusal is an ActionError with its API code and HTTP status."""

import pytest
from django import forms

from governance.access.services import GrantError
from governance.audit.services import PurgeRefused
from governance.errors import ActionConflict, ActionError, show_refusal
from governance.registry.intake import IntakeError
from governance.registry.services import RegistryError
from workflows.lifecycle.services import SigningLocked


@pytest.mark.parametrize(
    "error, status, code",
    [
        (GrantError("No user called 'x'.", field="username"), 400, "invalid"),
        (RegistryError("Taken.", field="slug", code="duplicate"), 400, "duplicate"),
        (IntakeError("Not accepted.", code="unsupported_format", status=415), 415, "unsupported_format"),
        (PurgeRefused("Too young."), 409, "purge_refused"),
        (SigningLocked("Wait."), 429, "too_many_attempts"),
    ],
)
def test_service_errors_carry_their_code_and_status(error, status, code):
    assert isinstance(error, ActionError)
    assert (error.status, error.code) == (status, code)
    assert str(error) == error.message


class _Form(forms.Form):
    name = forms.CharField(widget=forms.HiddenInput)
    annotation = forms.CharField()


def test_refusal_is_shown_next_to_its_field_and_answers_its_status():
    form = _Form({"name": "submit", "annotation": "x"})
    assert form.is_valid()
    assert show_refusal(form, ActionConflict("Not now.", field="annotation")) == 409
    assert form.errors["annotation"] == ["Not now."]


def test_refusal_about_a_hidden_or_unknown_field_is_shown_above_the_form():
    form = _Form({"name": "submit", "annotation": "x"})
    assert form.is_valid()
    assert show_refusal(form, ActionError("No such transition.", field="name")) == 400
    show_refusal(form, ActionError("Elsewhere.", field="password"))
    assert form.non_field_errors() == ["No such transition.", "Elsewhere."]
