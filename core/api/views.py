"""Strict input for every API view: serializers that refuse unknown parameters, JSON objects only.

The views themselves derive from `merchants.api_views.ApiView`, which adds what needs merchants'
tables: the API key's scope and idempotency keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.request import Request

from core.errors import InvalidRequest


class StrictSerializer(serializers.Serializer):
    """Rejects parameters it does not know (400 `parameter_unknown` with `param`), at every
    level of nesting: a typo never silently drops a field."""

    # (This docstring is the description of every subclass without one in the OpenAPI schema.)
    #
    # Its fields are built once per class rather than for every request: DRF deep-copies the
    # declared fields (constructing each field, nested serializers included, again) for each
    # serializer it instantiates, about half the CPU of validating a payment's body. A top-level
    # serializer made without `context` or `partial`, as a view makes one to validate a request,
    # shares the class's set, bound to an instance made the same way (`_class_fields`); any
    # other keeps DRF's own copy. Sharing is safe because validating reads fields and changes
    # none of them (a field keeping per-request state of its own would need DRF's copy: none of
    # ours does); the shared set is read-only, so no caller can change it for the next request.
    @cached_property
    def fields(self) -> Mapping[str, serializers.Field]:
        if self.parent is None and not self.partial and not self._context:
            return _class_fields(type(self))
        return serializers.Serializer.fields.func(self)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            known = self.fields
            for key in data:
                if key not in known:
                    raise serializers.ValidationError(
                        {
                            key: serializers.ErrorDetail(
                                f"Received unknown parameter: {key}", code="parameter_unknown"
                            )
                        }
                    )
        return super().to_internal_value(data)


@cache
def _class_fields(cls: type[StrictSerializer]) -> Mapping[str, serializers.Field]:
    """The fields of `cls` (DRF's deep copy of its declared fields), bound to one instance of
    it made without data, context or `partial`: their `root`, `context` and `partial` are then
    what they would be under any serializer made that way."""
    template = cls()
    fields = MappingProxyType(dict(serializers.Serializer.fields.func(template).items()))
    template.__dict__["fields"] = fields  # what its own `fields` reads, as DRF would cache it
    return fields


def require_json_object(request: Request) -> dict[str, Any]:
    """The parsed body, which must be a JSON object."""
    data = request.data
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="parameter_invalid")
    return data
