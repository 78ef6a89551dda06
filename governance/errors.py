"""Domain errors that every door (page, API, task) turns into the same answer.

Every refusal a service raises is an ``ActionError``: it carries the human message, the API's
machine ``code``, its HTTP ``status`` and the form ``field`` it concerns. The API answers it in
``governance.api.exception_handler``; pages show it on their form with ``show_refusal``.

    ActionError                    400 invalid
      ActionForbidden              403 permission_denied
      ActionConflict               409 conflict
        PurgeRefused               409 purge_refused     (governance.audit.services)
      AnnotationRequired           400 annotation_required
      GrantError                   400 invalid           (governance.access.services)
      RegistryError                400 invalid           (governance.registry.services)
      IntakeError                  400, 413 or 415       (governance.registry.intake)
      SigningLocked                429 too_many_attempts (workflows.lifecycle.services)
"""


class ActionError(Exception):
    """An action that was refused. ``status`` is the API's HTTP status for it."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ActionForbidden(ActionError):
    status = 403
    code = "permission_denied"


class ActionConflict(ActionError):
    """The action is not allowed in the object's current state (409)."""

    status = 409
    code = "conflict"


class AnnotationRequired(ActionError):
    status = 400
    code = "annotation_required"

    def __init__(self, message: str = "An annotation is required for this action.", **kwargs):
        kwargs.setdefault("field", "annotation")
        super().__init__(message, **kwargs)


def show_refusal(form, error: ActionError, *, field: str | None = None) -> int:
    """Show a refusal on a page's form and return the HTTP status the page answers with.

    The message goes next to ``field`` (by default the field the error names) when the form
    shows that field, and above the form otherwise.
    """
    name = field or error.field
    shown = name in form.fields and not form.fields[name].widget.is_hidden
    form.add_error(name if shown else None, error.message)
    return error.status
