"""Simulated AGS and NRPS endpoints, served by :class:`credlti.testing.SimulatedPlatform`.

Part of the test kit (never imported by the library). Each
endpoint checks the bearer token's scopes, the media types and the request body as
a strict platform would, pages with ``Link: <...>; rel="next"``, and records every
request in :attr:`SimulatedServices.requests`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import httpx

from credlti.lti._claims import AgsEndpoint, NrpsEndpoint
from credlti.lti.services import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)

__all__ = ["SimulatedServices"]

_AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
_NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
_LEARNER = _MEMBERSHIP + "Learner"
_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
_RESULTS = "application/vnd.ims.lis.v2.resultcontainer+json"
_SCORE = "application/vnd.ims.lis.v1.score+json"
_NRPS = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
_ALL_AGS = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE)
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,9}(Z|[+-]\d\d:\d\d)")
_ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
_GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
_ROUTE = re.compile(
    r"/api/lti/contexts/(?P<ctx>[^/]+)/(?:(?P<members>memberships)|lineitems"
    r"(?:/(?P<item>\d+)(?:/(?P<sub>scores|results))?)?)"
)


def _error(status: int, error: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error}, headers=headers)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _full_role(role: str) -> str:
    return role if ":" in role else _MEMBERSHIP + role


@attrs.define
class _Context:
    id: str
    label: str = "CS101"
    title: str = "Introduction to Computing"
    resource_links: set[str] = attrs.field(factory=set)
    items: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    queries: dict[int, str] = attrs.field(factory=dict)
    scores: dict[int, list[dict[str, Any]]] = attrs.field(factory=dict)
    members: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    member_links: dict[str, frozenset[str] | None] = attrs.field(factory=dict)
    changed: dict[str, int] = attrs.field(factory=dict)
    seq: int = 0


@attrs.define
class SimulatedServices:
    """AGS line items, scores, results and an NRPS roster, in memory.

    Reach it as ``platform.services``. Attributes:

    Attributes:
        page_size: Page size when the request sends no ``limit``.
        status: Force every service endpoint to answer this status (``None`` to behave).
        retry_after: The ``Retry-After`` sent with a forced 429/503.
        requests: Every service request received, in order.
        score_rejections: Why each refused score was refused.
    """

    base_url: str
    scopes_of: Callable[[str | None], frozenset[str]] = attrs.field(repr=False)
    clock: Callable[[], datetime] = attrs.field(repr=False)
    page_size: int = 50
    status: int | None = None
    retry_after: str | None = "30"
    requests: list[httpx.Request] = attrs.field(factory=list, repr=False)
    score_rejections: list[str] = attrs.field(factory=list)
    _contexts: dict[str, _Context] = attrs.field(factory=dict, repr=False)
    _next_item: int = 0

    # ------------------------------------------------------------------ set-up

    def context(self, context_id: str = "context-1") -> _Context:
        """The (auto-created) context *context_id*; ``resource-link-1`` is known in it."""
        found = self._contexts.get(context_id)
        if found is None:
            found = self._contexts[context_id] = _Context(context_id)
            found.resource_links.add("resource-link-1")
        return found

    def lineitems_url(self, context_id: str = "context-1") -> str:
        """The line-item container URL of a context."""
        self.context(context_id)
        return f"{self.base_url}/api/lti/contexts/{context_id}/lineitems"

    def memberships_url(self, context_id: str = "context-1") -> str:
        """The membership container URL of a context."""
        self.context(context_id)
        return f"{self.base_url}/api/lti/contexts/{context_id}/memberships"

    def ags_claim(
        self,
        context_id: str = "context-1",
        *,
        lineitem: str | None = None,
        scopes: Iterable[str] = _ALL_AGS,
    ) -> dict[str, Any]:
        """``{AGS claim name: {...}}``, to pass as ``claims=`` to ``platform.launch``."""
        value: dict[str, Any] = {"scope": list(scopes), "lineitems": self.lineitems_url(context_id)}
        if lineitem is not None:
            value["lineitem"] = lineitem
        return {_AGS_CLAIM: value}

    def ags_endpoint(
        self,
        context_id: str = "context-1",
        *,
        lineitem: str | None = None,
        scopes: Iterable[str] = _ALL_AGS,
    ) -> AgsEndpoint:
        """The parsed AGS claim for *context_id*, for building a ``GradeService`` directly."""
        return AgsEndpoint(
            scope=tuple(scopes), lineitems=self.lineitems_url(context_id), lineitem=lineitem
        )

    def nrps_claim(self, context_id: str = "context-1") -> dict[str, Any]:
        """``{NRPS claim name: {...}}``, to pass as ``claims=`` to ``platform.launch``."""
        url = self.memberships_url(context_id)
        return {_NRPS_CLAIM: {"context_memberships_url": url, "service_versions": ["2.0"]}}

    def nrps_endpoint(self, context_id: str = "context-1") -> NrpsEndpoint:
        """The parsed NRPS claim for *context_id*."""
        return NrpsEndpoint(
            context_memberships_url=self.memberships_url(context_id), service_versions=("2.0",)
        )

    def add_resource_link(self, resource_link_id: str, context_id: str = "context-1") -> None:
        """Make *resource_link_id* a resource link of the context (``resourceLinkId``, ``rlid``)."""
        self.context(context_id).resource_links.add(resource_link_id)

    def add_line_item(
        self,
        label: str,
        score_maximum: float,
        *,
        context_id: str = "context-1",
        query: str = "",
        **fields: Any,
    ) -> str:
        """Create a line item as the platform would (e.g. the coupled one); return its id.

        *query* is appended to its URL (``...?query``), as some platforms do; *fields*
        are further JSON members (``resourceLinkId=``, ``tag=``...).
        """
        ctx = self.context(context_id)
        self._next_item += 1
        number = self._next_item
        ctx.queries[number] = query
        ctx.items[number] = {
            **fields,
            "id": self._item_url(ctx, number),
            "label": label,
            "scoreMaximum": score_maximum,
        }
        return str(ctx.items[number]["id"])

    def add_member(
        self,
        user_id: str,
        roles: Iterable[str] = (_LEARNER,),
        *,
        context_id: str = "context-1",
        status: str | None = None,
        resource_links: Iterable[str] | None = None,
        **fields: Any,
    ) -> None:
        """Add or change a member. *resource_links* limits which links they can access."""
        ctx = self.context(context_id)
        member: dict[str, Any] = {"user_id": user_id, "roles": list(roles), **fields}
        if status is not None:
            member["status"] = status
        ctx.members[user_id] = member
        ctx.member_links[user_id] = None if resource_links is None else frozenset(resource_links)
        ctx.seq += 1
        ctx.changed[user_id] = ctx.seq

    def remove_member(self, user_id: str, *, context_id: str = "context-1") -> None:
        """Remove a member (differences then report them as ``Deleted``)."""
        ctx = self.context(context_id)
        ctx.members[user_id] = {**ctx.members[user_id], "status": "Deleted"}
        ctx.seq += 1
        ctx.changed[user_id] = ctx.seq

    def line_items(self, context_id: str = "context-1") -> list[dict[str, Any]]:
        """The context's line items as the platform holds them."""
        return [dict(i) for i in self.context(context_id).items.values()]

    def scores(self, line_item: str) -> list[dict[str, Any]]:
        """The scores accepted for *line_item* (by id), in order."""
        ctx, number = self._find(line_item)
        return [dict(s) for s in ctx.scores.get(number, [])]

    # ------------------------------------------------------------------ HTTP

    def handles(self, request: httpx.Request) -> bool:
        """True if *request* is for one of these endpoints."""
        url = str(request.url)
        return url.startswith(self.base_url + "/api/lti/")

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer a service request."""
        self.requests.append(request)
        if self.status is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return _error(self.status, "forced", **headers)
        path = urlsplit(str(request.url)).path
        base_path = urlsplit(self.base_url).path
        match = _ROUTE.fullmatch(path[len(base_path) :])
        if match is None or match["ctx"] not in self._contexts:
            return _error(404, "not_found")
        ctx = self._contexts[match["ctx"]]
        scopes = self.scopes_of(request.headers.get("Authorization"))
        if not scopes:
            return _error(401, "invalid_token")
        query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if match["members"]:
            return self._memberships(request, ctx, scopes, query)
        if match["item"] is None:
            return self._container(request, ctx, scopes, query)
        number = int(match["item"])
        if number not in ctx.items:
            return _error(404, "no_such_line_item")
        if match["sub"] == "scores":
            return self._score(request, ctx, number, scopes)
        if match["sub"] == "results":
            return self._results(request, ctx, number, scopes, query)
        return self._item(request, ctx, number, scopes)

    # ------------------------------------------------------------------ helpers

    def _item_url(self, ctx: _Context, number: int) -> str:
        query = ctx.queries.get(number, "")
        return f"{self.lineitems_url(ctx.id)}/{number}" + (f"?{query}" if query else "")

    def _find(self, line_item: str) -> tuple[_Context, int]:
        for ctx in self._contexts.values():
            for number, item in ctx.items.items():
                if item["id"] == line_item:
                    return ctx, number
        raise KeyError(line_item)

    @staticmethod
    def _accepts(request: httpx.Request, media: str) -> bool:
        return media in request.headers.get("Accept", "")

    @staticmethod
    def _sends(request: httpx.Request, media: str) -> bool:
        content_type: str = request.headers.get("Content-Type", "")
        return content_type.split(";")[0].strip() == media

    @staticmethod
    def _body(request: httpx.Request) -> dict[str, Any] | None:
        try:
            body = json.loads(request.content)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _page(
        self, request: httpx.Request, rows: list[Any], query: Mapping[str, str]
    ) -> tuple[list[Any], dict[str, str]]:
        limit = int(query.get("limit") or self.page_size)
        page = int(query.get("page") or 1)
        chunk = rows[(page - 1) * limit : page * limit]
        headers: dict[str, str] = {}
        if page * limit < len(rows):
            parts = urlsplit(str(request.url))
            params = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"]
            params.append(("page", str(page + 1)))
            next_url = urlunsplit((*parts[:3], urlencode(params), ""))
            headers["Link"] = f'<{next_url}>; rel="next"'
        return chunk, headers

    def _check_item(self, ctx: _Context, body: Mapping[str, Any]) -> str | None:
        label = body.get("label")
        if not isinstance(label, str) or not label.strip():
            return "label must be a non-blank string"
        maximum = body.get("scoreMaximum")
        if not isinstance(maximum, (int, float)) or isinstance(maximum, bool) or maximum <= 0:
            return "scoreMaximum must be a number > 0"
        rlid = body.get("resourceLinkId")
        if rlid is not None and rlid not in ctx.resource_links:
            return "unknown resourceLinkId"
        return None

    # ------------------------------------------------------------------ AGS

    def _container(
        self,
        request: httpx.Request,
        ctx: _Context,
        scopes: frozenset[str],
        query: Mapping[str, str],
    ) -> httpx.Response:
        if request.method == "GET":
            if not scopes & {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY}:
                return _error(403, "insufficient_scope")
            if not self._accepts(request, _CONTAINER):
                return _error(406, "not_acceptable")
            rows = [
                i
                for i in ctx.items.values()
                if all(
                    query.get(param) is None or i.get(key) == query[param]
                    for param, key in (
                        ("resource_link_id", "resourceLinkId"),
                        ("resource_id", "resourceId"),
                        ("tag", "tag"),
                    )
                )
            ]
            chunk, headers = self._page(request, rows, query)
            headers["Content-Type"] = _CONTAINER
            return httpx.Response(200, content=json.dumps(chunk).encode(), headers=headers)
        if request.method != "POST":
            return _error(405, "method_not_allowed")
        if SCOPE_LINEITEM not in scopes:
            return _error(403, "insufficient_scope")
        if not self._sends(request, _LINEITEM):
            return _error(415, "unsupported_media_type")
        body = self._body(request)
        if body is None or "id" in body:
            return _error(400, "the body must be a line item without id")
        problem = self._check_item(ctx, body)
        if problem == "unknown resourceLinkId":
            return _error(404, problem)
        if problem is not None:
            return _error(400, problem)
        self._next_item += 1
        number = self._next_item
        ctx.items[number] = {**body, "id": self._item_url(ctx, number)}
        return httpx.Response(
            201,
            content=json.dumps(ctx.items[number]).encode(),
            headers={"Content-Type": _LINEITEM},
        )

    def _item(
        self, request: httpx.Request, ctx: _Context, number: int, scopes: frozenset[str]
    ) -> httpx.Response:
        item = ctx.items[number]
        if request.method == "GET":
            if not scopes & {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY}:
                return _error(403, "insufficient_scope")
            if not self._accepts(request, _LINEITEM):
                return _error(406, "not_acceptable")
            return httpx.Response(
                200, content=json.dumps(item).encode(), headers={"Content-Type": _LINEITEM}
            )
        if SCOPE_LINEITEM not in scopes:
            return _error(403, "insufficient_scope")
        if request.method == "DELETE":
            del ctx.items[number]
            ctx.scores.pop(number, None)
            return httpx.Response(204)
        if request.method != "PUT":
            return _error(405, "method_not_allowed")
        if not self._sends(request, _LINEITEM):
            return _error(415, "unsupported_media_type")
        body = self._body(request)
        if body is None:
            return _error(400, "the body must be a line item")
        if body.get("id", item["id"]) != item["id"]:
            return _error(400, "id must not change")
        if body.get("resourceLinkId") != item.get("resourceLinkId"):
            return _error(400, "resourceLinkId must not change")
        problem = self._check_item(ctx, body)
        if problem is not None:
            return _error(400, problem)
        ctx.items[number] = {**body, "id": item["id"]}
        return httpx.Response(
            200, content=json.dumps(ctx.items[number]).encode(), headers={"Content-Type": _LINEITEM}
        )

    def _score(
        self, request: httpx.Request, ctx: _Context, number: int, scopes: frozenset[str]
    ) -> httpx.Response:
        if request.method != "POST":
            return _error(405, "method_not_allowed")
        if SCOPE_SCORE not in scopes:
            return _error(403, "insufficient_scope")
        if not self._sends(request, _SCORE):
            return _error(415, "unsupported_media_type")
        body = self._body(request)
        problem = None
        if body is None:
            problem = "the body must be a JSON object"
        elif not isinstance(body.get("userId"), str) or not body["userId"]:
            problem = "userId is required"
        elif not isinstance(body.get("timestamp"), str) or not _STAMP.fullmatch(body["timestamp"]):
            problem = "timestamp must be ISO 8601 with sub-second precision and a zone"
        elif body.get("activityProgress") not in _ACTIVITY:
            problem = "activityProgress is invalid"
        elif body.get("gradingProgress") not in _GRADING:
            problem = "gradingProgress is invalid"
        elif body.get("scoreGiven") is not None and not _number(body.get("scoreMaximum")):
            problem = "scoreMaximum is required with scoreGiven"
        else:
            previous = [s for s in ctx.scores.get(number, []) if s["userId"] == body["userId"]]
            stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
            if previous and stamp <= datetime.fromisoformat(
                previous[-1]["timestamp"].replace("Z", "+00:00")
            ):
                problem = "timestamp is not after the previous score's"
        if problem is not None:
            self.score_rejections.append(problem)
            return _error(400, problem)
        assert body is not None  # noqa: S101 - narrowed above
        ctx.scores.setdefault(number, []).append(body)
        return httpx.Response(204)

    def _results(
        self,
        request: httpx.Request,
        ctx: _Context,
        number: int,
        scopes: frozenset[str],
        query: Mapping[str, str],
    ) -> httpx.Response:
        if request.method != "GET":
            return _error(405, "method_not_allowed")
        if SCOPE_RESULT_READONLY not in scopes:
            return _error(403, "insufficient_scope")
        if not self._accepts(request, _RESULTS):
            return _error(406, "not_acceptable")
        item = ctx.items[number]
        item_path = urlsplit(item["id"])._replace(query="").geturl()
        latest: dict[str, dict[str, Any]] = {}
        for score in ctx.scores.get(number, []):
            latest[score["userId"]] = score
        rows = []
        for user_id, score in latest.items():
            if query.get("user_id") not in (None, user_id):
                continue
            row: dict[str, Any] = {
                "id": f"{item_path}/results/{user_id}",
                "scoreOf": item["id"],
                "userId": user_id,
                "resultMaximum": item["scoreMaximum"],
            }
            if score.get("scoreGiven") is not None:
                ratio = score["scoreGiven"] / score["scoreMaximum"]
                row["resultScore"] = ratio * item["scoreMaximum"]
            if score.get("comment") is not None:
                row["comment"] = score["comment"]
            rows.append(row)
        chunk, headers = self._page(request, rows, query)
        headers["Content-Type"] = _RESULTS
        return httpx.Response(200, content=json.dumps(chunk).encode(), headers=headers)

    # ------------------------------------------------------------------ NRPS

    def _memberships(
        self,
        request: httpx.Request,
        ctx: _Context,
        scopes: frozenset[str],
        query: Mapping[str, str],
    ) -> httpx.Response:
        if request.method != "GET":
            return _error(405, "method_not_allowed")
        if SCOPE_NRPS_READONLY not in scopes:
            return _error(403, "insufficient_scope")
        if not self._accepts(request, _NRPS):
            return _error(406, "not_acceptable")
        rlid = query.get("rlid")
        if rlid is not None and rlid not in ctx.resource_links:
            return _error(400, "rlid is not a resource link of this context")
        since = query.get("since")
        rows = []
        for user_id, member in ctx.members.items():
            if since is None and member.get("status") == "Deleted":
                continue
            if since is not None and ctx.changed[user_id] <= int(since):
                continue
            role = query.get("role")
            if role is not None and _full_role(role) not in {
                _full_role(r) for r in member["roles"]
            }:
                continue
            if rlid is not None:
                links = ctx.member_links.get(user_id)
                if links is not None and rlid not in links:
                    continue
                member = {
                    **member,
                    "message": [
                        {
                            "https://purl.imsglobal.org/spec/lti/claim/message_type": (
                                "LtiResourceLinkRequest"
                            ),
                            "https://purl.imsglobal.org/spec/lti/claim/custom": {
                                "user_id": user_id
                            },
                        }
                    ],
                }
            rows.append(member)
        chunk, headers = self._page(request, rows, query)
        differences = f"{self.memberships_url(ctx.id)}?since={ctx.seq}"
        link = f'<{differences}>; rel="differences"'
        headers["Link"] = f"{headers['Link']}, {link}" if "Link" in headers else link
        headers["Content-Type"] = _NRPS
        body = {
            "id": str(request.url),
            "context": {"id": ctx.id, "label": ctx.label, "title": ctx.title},
            "members": chunk,
        }
        return httpx.Response(200, content=json.dumps(body).encode(), headers=headers)
