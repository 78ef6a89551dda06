"""Domain errors that every door (page, API, task) turns into the same answer."""


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
