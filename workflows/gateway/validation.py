"""The gateway's check of a request's inputs against a version's input schema.

Nothing is scored unless every row passes: the first bad row and feature are named in a 400
(``InputRejected``), a batch over ``GOVERNANCE_GATEWAY_MAX_BATCH_ROWS`` is a 413
(``BatchTooLarge``). Rows are numbered from 0, as in the request's ``inputs`` list.
"""

from __future__ import annotations

import math

from governance.errors import ActionError

FLOAT_TYPES = frozenset({"float", "double", "float16", "bfloat16"})
INTEGER_TYPES = frozenset({"integer", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8"})
STRING_TYPES = frozenset({"string"})
BOOLEAN_TYPES = frozenset({"boolean", "bool"})


class InputRejected(ActionError):
    """The inputs do not match the input schema (400); ``row`` and ``feature`` say where."""

    code = "invalid_input"

    def __init__(self, message: str, *, row: int | None = None, feature: str | None = None, code: str | None = None):
        super().__init__(message, code=code, field="inputs")
        self.row = row
        self.feature = feature


class BatchTooLarge(ActionError):
    status = 413
    code = "batch_too_large"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _where(row: int, feature: str) -> str:
    return f"inputs[{row}].{feature}"


def inputs_shape_check(inputs, *, max_rows: int) -> list[dict]:
    """The body's ``inputs`` as a non-empty list of objects no longer than ``max_rows``."""
    if not isinstance(inputs, list):
        raise InputRejected("'inputs' must be a list of objects, one per row: [{feature: value, ...}, ...].", code="not_a_list")
    if not inputs:
        raise InputRejected("'inputs' is empty: send at least one row.", code="empty_batch")
    if len(inputs) > max_rows:
        raise BatchTooLarge(f"{len(inputs)} rows in one request; at most {max_rows} are scored at once.", field="inputs")
    for index, row in enumerate(inputs):
        if not isinstance(row, dict):
            raise InputRejected(
                f"inputs[{index}] is not an object of feature values (it is {_kind(row)}).", row=index, code="not_an_object"
            )
    return inputs


def inputs_validate(rows: list[dict], schema: list[dict]) -> list[list]:
    """Each row's values in the schema's feature order, checked and converted to the feature's
    type; ``InputRejected`` naming the first bad row and feature otherwise."""
    features = [(feature["name"], (feature.get("type") or "unknown").lower()) for feature in schema]
    names = {name for name, _ in features}
    checked: list[list] = []
    for index, row in enumerate(rows):
        values = []
        for name, kind in features:
            if name not in row:
                raise InputRejected(f"{_where(index, name)}: the feature '{name}' is missing.", row=index, feature=name, code="missing_feature")
            values.append(_value(row[name], kind, index, name))
        if len(row) != len(features):
            unknown = sorted(key for key in row if key not in names)
            raise InputRejected(
                f"{_where(index, unknown[0])}: '{unknown[0]}' is not a feature of this model"
                f" (its features: {', '.join(name for name, _ in features[:30])}).",
                row=index, feature=unknown[0], code="unknown_feature",
            )
        checked.append(values)
    return checked


def _value(value, kind: str, row: int, name: str):
    def wrong(expected: str):
        return InputRejected(
            f"{_where(row, name)}: expected {expected}, got {_kind(value)}.", row=row, feature=name, code="wrong_type"
        )

    if kind in FLOAT_TYPES or kind in INTEGER_TYPES or kind == "unknown":
        if _is_number(value):
            if isinstance(value, float) and not math.isfinite(value):
                raise InputRejected(
                    f"{_where(row, name)}: {value} is not a finite number.", row=row, feature=name, code="not_finite"
                )
            if kind in INTEGER_TYPES:
                if isinstance(value, float) and not value.is_integer():
                    raise wrong("an integer")
                return int(value)
            return float(value) if kind in FLOAT_TYPES else value
        if kind == "unknown" and isinstance(value, (str, bool)):
            return value
        raise wrong("an integer" if kind in INTEGER_TYPES else "a number")
    if kind in STRING_TYPES:
        if isinstance(value, str):
            return value
        raise wrong("a string")
    if kind in BOOLEAN_TYPES:
        if isinstance(value, bool):
            return value
        raise wrong("true or false")
    raise wrong(f"a value of type {kind}")  # a type the gateway cannot feed


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
