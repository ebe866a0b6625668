"""Cursor pagination for every list: `limit` (1–100), `starting_after`, `ending_before`.

Lists are newest first, ordered by (created, id). A cursor is an object id; the next page is
everything strictly after that object in the order, so pages stay stable while new objects
arrive. The envelope is `{"object": "list", "url", "data": [...], "has_more": bool}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from rest_framework.request import Request

from core.errors import InvalidRequest

LIST_PARAMS = ("limit", "starting_after", "ending_before")


def parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return settings.API_PAGE_LIMIT_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= settings.API_PAGE_LIMIT_MAX:
        raise InvalidRequest(
            f"limit must be an integer from 1 to {settings.API_PAGE_LIMIT_MAX}.",
            code="parameter_invalid",
            param="limit",
        )
    return limit


def reject_unknown_query_params(request: Request, allowed: Iterable[str]) -> None:
    known = set(allowed) | set(LIST_PARAMS)
    for name in request.query_params:
        if name not in known:
            raise InvalidRequest(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def paginate(
    request: Request,
    queryset: QuerySet,
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `queryset` (already scoped to the client) as the list envelope."""
    limit = parse_limit(request)
    starting_after = request.query_params.get("starting_after")
    ending_before = request.query_params.get("ending_before")
    if starting_after and ending_before:
        raise InvalidRequest(
            "Use starting_after or ending_before, not both.",
            code="parameter_invalid",
            param="ending_before",
        )
    cursor_id = starting_after or ending_before
    if cursor_id:
        cursor = queryset.filter(pk=cursor_id).values("created", "pk").first()
        if cursor is None:
            param = "starting_after" if starting_after else "ending_before"
            raise InvalidRequest(
                f"No such object: {cursor_id}", code="resource_missing", param=param
            )
        after = Q(created__lt=cursor["created"]) | Q(created=cursor["created"], pk__lt=cursor["pk"])
        before = Q(created__gt=cursor["created"]) | Q(
            created=cursor["created"], pk__gt=cursor["pk"]
        )
        if ending_before:
            page = list(queryset.filter(before).order_by("created", "pk")[: limit + 1])
            has_more = len(page) > limit
            rows = list(reversed(page[:limit]))
        else:
            page = list(queryset.filter(after).order_by("-created", "-pk")[: limit + 1])
            has_more = len(page) > limit
            rows = page[:limit]
    else:
        page = list(queryset.order_by("-created", "-pk")[: limit + 1])
        has_more = len(page) > limit
        rows = page[:limit]
    return {
        "object": "list",
        "url": request.path,
        "data": [render(row) for row in rows],
        "has_more": has_more,
    }
