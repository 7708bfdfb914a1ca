"""AGS 2.0 operations as flows: line items, scores, results (AGS §3).

Rules of this module:

1. Every operation checks the claim's ``scope`` list first and raises
   :class:`~credlti.errors.ScopeNotGrantedError` without any HTTP when the scope it
   needs is missing.
2. ``/scores`` and ``/results`` are appended to the line item's *path*, keeping its
   query (AGS §3.3.1, §3.4.1). Score timestamps carry milliseconds and a zone and
   strictly increase per (line item, user) for the whole client (AGS §3.4.5; see
   :mod:`credlti.lti.services._score_clock`). A score refused with 409 (the
   platform holds one as new, compared to the second) is retried once on the next
   whole second when the service stamped it, else
   :class:`~credlti.errors.StaleScoreError`.
3. Each operation is written once, as a flow over
   :func:`~credlti.lti.services._call_flow.call_flow`; listings emit one tuple of
   records per page. :class:`~credlti.lti.services.GradeService` and its async twin
   only drive them.
4. A line item URL the caller names must be on the origin of the claim's
   endpoints (:mod:`credlti.lti.services._destinations`), checked before any HTTP.
5. Listings read leniently by default: an item breaking a rule is returned with
   its ``problems``; ``strict=True`` raises instead. More than ``max_items`` items
   in one listing is :class:`~credlti.errors.ListingTooLargeError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import attrs

from credlti._effects import Flow
from credlti.errors import (
    CoupledLineItemError,
    InvalidServiceRecordError,
    ListingTooLargeError,
    MalformedServiceResponseError,
    ScopeNotGrantedError,
    ServiceNotAvailableError,
    StaleScoreError,
)
from credlti.lti._claims import AgsEndpoint
from credlti.lti.services._ags_records import (
    AGS_SCOPES,
    MEDIA_LINEITEM,
    MEDIA_LINEITEM_CONTAINER,
    MEDIA_RESULT_CONTAINER,
    MEDIA_SCORE,
    LineItem,
    Result,
    Score,
    format_timestamp,
    invalid_field,
)
from credlti.lti.services._call_flow import Caller, ServiceCall, call_flow, paged_flow
from credlti.lti.services._oauth import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)
from credlti.lti.services._paging import RawPage
from credlti.lti.services._response import ServiceResponse, check_status, json_body, malformed
from credlti.lti.services._urls import add_query, append_path

__all__ = ["GradeFlows", "results_url", "scores_url"]

_T = TypeVar("_T")


def scores_url(line_item: str) -> str:
    """``{lineitem}/scores`` with the line item's query kept (AGS §3.4.1)."""
    return append_path(line_item, "scores")


def results_url(line_item: str) -> str:
    """``{lineitem}/results`` with the line item's query kept (AGS §3.3.1)."""
    return append_path(line_item, "results")


def _object(document: object, url: str, spec_ref: str) -> Mapping[str, Any]:
    if not isinstance(document, dict):
        raise malformed("expected a JSON object", url=url, spec_ref=spec_ref)
    return document


def _array(document: object, url: str, spec_ref: str) -> list[Mapping[str, Any]]:
    if not isinstance(document, list) or not all(isinstance(i, dict) for i in document):
        raise malformed("expected a JSON array of objects", url=url, spec_ref=spec_ref)
    return document


def _parsed(build: Callable[[Mapping[str, Any]], _T], doc: Mapping[str, Any], url: str) -> _T:
    try:
        return build(doc)
    except InvalidServiceRecordError as exc:
        raise MalformedServiceResponseError(
            f"the service's answer is malformed: {exc.message}",
            spec_ref=exc.spec_ref,
            details={"url": url, "field": exc.details.get("field")},
        ) from exc


@attrs.define
class _ItemPages(Generic[_T]):
    """Parses each listing page (strictly or leniently) and counts items against the cap."""

    build: Callable[..., _T]
    spec_ref: str
    strict: bool
    max_items: int
    total: int = 0

    def __call__(self, page: RawPage) -> tuple[_T, ...]:
        documents = _array(page.document, page.url, self.spec_ref)
        self.total += len(documents)
        if self.total > self.max_items:
            msg = (
                f"the listing has more than {self.max_items} items; raise max_items or "
                "narrow the query"
            )
            raise ListingTooLargeError(msg, details={"count": self.total, "max": self.max_items})
        return tuple(
            _parsed(lambda d: self.build(d, strict=self.strict), item, page.url)
            for item in documents
        )


def _sendable(item: object, spec_ref: str) -> None:
    if not isinstance(item, LineItem):
        raise invalid_field("item", "must be a LineItem", spec_ref)
    if item.problems:
        msg = f"has problems and cannot be sent: {'; '.join(item.problems)}"
        raise invalid_field("item", msg, spec_ref)


def _limit(limit: int | None) -> int | None:
    value: object = limit
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise invalid_field("limit", "must be a positive integer", "AGS §3.2.4")
    return limit


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class GradeFlows:
    """The AGS operations for one launch's claim, each a flow (shared by both services).

    Args:
        endpoint: The launch's AGS claim.
        caller: Who calls, and the client's token state.
        clock: Score timestamps and ``Retry-After`` dates (the client's by default).
        max_pages: Most pages one listing follows.
        max_items: Most items one listing reads.
        least_privilege: Request a token for just the scope each call needs.

    Raises:
        ServiceNotAvailableError: *endpoint* is not an :class:`AgsEndpoint`.
    """

    def __init__(
        self,
        endpoint: AgsEndpoint,
        caller: Caller,
        *,
        clock: Callable[[], datetime] | None,
        max_pages: int,
        max_items: int,
        least_privilege: bool,
    ) -> None:
        claim: object = endpoint
        if not isinstance(claim, AgsEndpoint):
            msg = "endpoint must be the launch's AgsEndpoint (LaunchClaims.ags)"
            raise ServiceNotAvailableError(msg, spec_ref="AGS §3.1")
        self.endpoint = endpoint
        self.claim_scopes = frozenset(endpoint.scope) & AGS_SCOPES
        self.caller = caller
        self.clock = clock or caller.clock
        cap: object = max_items
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            msg = "max_items must be a positive integer"
            raise InvalidServiceRecordError(msg, details={"field": "max_items"})
        self.max_pages = max_pages
        self.max_items = max_items
        self.least_privilege = least_privilege

    # -- helpers

    def send(self, call: ServiceCall) -> Flow[ServiceResponse]:
        """Flow: send *call*, then map a non-2xx answer to its error."""
        response = yield from call_flow(call, self.caller)
        check_status(response, url=call.url, now=self.clock(), spec_ref=call.spec_ref)
        return response

    def need(self, *alternatives: str) -> str:
        for scope in alternatives:
            if scope in self.claim_scopes:
                return scope
        msg = (
            f"the launch's AGS claim does not list {' or '.join(alternatives)}; the platform "
            "does not allow this call (nothing was sent)"
        )
        raise ScopeNotGrantedError(
            msg, spec_ref="AGS §3.1", details={"missing_scopes": list(alternatives)}
        )

    def call(
        self,
        method: str,
        url: str,
        scope: str,
        headers: Mapping[str, str],
        spec_ref: str,
        content: bytes | None = None,
    ) -> ServiceCall:
        return ServiceCall(
            method=method,
            url=url,
            scopes=frozenset({scope}) if self.least_privilege else self.claim_scopes,
            require=frozenset({scope}),
            headers=MappingProxyType(dict(headers)),
            content=content,
            spec_ref=spec_ref,
        )

    def container(self) -> str:
        if not self.endpoint.lineitems:
            msg = "the launch's AGS claim has no lineitems URL: line items cannot be managed"
            raise ServiceNotAvailableError(msg, spec_ref="AGS §3.1")
        return self.endpoint.lineitems

    def item_url(self, line_item: str | LineItem | None) -> str:
        """The line item's URL: the claim's ``lineitem``, or one the caller names.

        A caller-named URL must be on the origin of the claim's ``lineitems`` or
        ``lineitem`` URL (or an allowed origin).

        Raises:
            UnsafeServiceUrlError: It is not; nothing was sent.
        """
        if isinstance(line_item, LineItem):
            if line_item.id is None:
                raise invalid_field("id", "is required (create the line item first)", "AGS §3.2.7")
            url = line_item.id
        elif line_item is None:
            if not self.endpoint.lineitem:
                msg = "no line item given and the launch's AGS claim has no lineitem"
                raise ServiceNotAvailableError(msg, spec_ref="AGS §3.1")
            return self.endpoint.lineitem
        else:
            value: object = line_item
            if not isinstance(value, str) or not value:
                raise invalid_field("line_item", "must be a URL, a LineItem or None", "AGS §3.2.7")
            url = value
        endpoints = (self.endpoint.lineitems, self.endpoint.lineitem)
        return self.caller.destinations.check_own(url, endpoints)

    def pages(self, build: Callable[..., _T], spec_ref: str, strict: bool) -> _ItemPages[_T]:
        return _ItemPages(build, spec_ref, strict, self.max_items)

    # -- operations

    def list_line_items(
        self,
        *,
        resource_link_id: str | None,
        resource_id: str | None,
        tag: str | None,
        limit: int | None,
        strict: bool = False,
    ) -> Flow[None]:
        scope = self.need(SCOPE_LINEITEM_READONLY, SCOPE_LINEITEM)
        query = {
            "resource_link_id": resource_link_id,
            "resource_id": resource_id,
            "tag": tag,
            "limit": _limit(limit),
        }
        url = add_query(self.container(), query)
        call = self.call("GET", url, scope, {"Accept": MEDIA_LINEITEM_CONTAINER}, "AGS §3.2.4")
        parse = self.pages(LineItem.from_dict, "AGS §3.2.4", strict)
        yield from paged_flow(call, self.caller, parse, clock=self.clock, max_pages=self.max_pages)

    def get_line_item(
        self, line_item: str | LineItem | None, *, strict: bool = False
    ) -> Flow[LineItem]:
        scope = self.need(SCOPE_LINEITEM_READONLY, SCOPE_LINEITEM)
        url = self.item_url(line_item)
        call = self.call("GET", url, scope, {"Accept": MEDIA_LINEITEM}, "AGS §3.2")
        response = yield from self.send(call)
        document = _object(json_body(response, url=url), url, "AGS §3.2")
        return _parsed(lambda d: LineItem.from_dict(d, strict=strict), document, url)

    def create_line_item(self, item: LineItem) -> Flow[LineItem]:
        _sendable(item, "AGS §3.2.5")
        scope = self.need(SCOPE_LINEITEM)
        url = self.container()
        body = item.to_dict()
        body.pop("id", None)
        headers = {"Content-Type": MEDIA_LINEITEM, "Accept": MEDIA_LINEITEM}
        call = self.call("POST", url, scope, headers, "AGS §3.2.5", _json(body))
        response = yield from self.send(call)
        document = _object(json_body(response, url=url), url, "AGS §3.2.5")
        created = _parsed(lambda d: LineItem.from_dict(d, strict=False), document, url)
        if not created.id:
            raise malformed("the created line item has no id", url=url, spec_ref="AGS §3.2.5")
        return created

    def update_line_item(self, item: LineItem, *, check_unchanged: bool) -> Flow[LineItem]:
        _sendable(item, "AGS §3.2.6")
        scope = self.need(SCOPE_LINEITEM)
        url = self.item_url(item)
        if check_unchanged:
            current = yield from self.get_line_item(url)
            if current.resource_link_id != item.resource_link_id:
                msg = (
                    f"must not change (the platform has {current.resource_link_id!r}); "
                    "GET the line item and update that"
                )
                raise invalid_field("resourceLinkId", msg, "AGS §3.2.6")
            if current.id is not None and current.id != url:
                raise invalid_field("id", "must not change", "AGS §3.2.6")
        headers = {"Content-Type": MEDIA_LINEITEM, "Accept": MEDIA_LINEITEM}
        call = self.call("PUT", url, scope, headers, "AGS §3.2.6", _json(item.to_dict()))
        response = yield from self.send(call)
        if not response.body.strip():
            return item
        document = _object(json_body(response, url=url), url, "AGS §3.2.6")
        return _parsed(lambda d: LineItem.from_dict(d, strict=False), document, url)

    def delete_line_item(self, line_item: str | LineItem, *, force: bool) -> Flow[None]:
        scope = self.need(SCOPE_LINEITEM)
        url = self.item_url(line_item)
        if not force and self.endpoint.lineitem is not None and url == self.endpoint.lineitem:
            msg = (
                "refused to delete the line item the platform created for this resource "
                "link (the claim's lineitem); pass force=True to delete it anyway"
            )
            raise CoupledLineItemError(msg, details={"line_item": url})
        call = self.call("DELETE", url, scope, {}, "AGS §3.2")
        yield from self.send(call)

    def post_score(self, score: Score, line_item: str | LineItem | None) -> Flow[datetime]:
        if not isinstance(score, Score):
            raise invalid_field("score", "must be a Score", "AGS §3.4")
        scope = self.need(SCOPE_SCORE)
        item = self.item_url(line_item)
        url = scores_url(item)
        key = (item, score.user_id)
        scores = self.caller.scores
        when = scores.stamp(key, score.timestamp, self.clock())
        body = _json(score.to_dict(timestamp=when))
        call = self.call("POST", url, scope, {"Content-Type": MEDIA_SCORE}, "AGS §3.4", body)
        response = yield from call_flow(call, self.caller)
        if response.status_code == 409 and score.timestamp is None:
            when = scores.next_second(key, when)
            call = attrs.evolve(call, content=_json(score.to_dict(timestamp=when)))
            response = yield from call_flow(call, self.caller)
        if response.status_code == 409:
            msg = (
                f"the platform refused the score as not newer than the one it holds "
                f"(HTTP 409, timestamp {format_timestamp(when)}); post it again later "
                "with a later timestamp"
            )
            raise StaleScoreError(msg, details={"url": url, "timestamp": format_timestamp(when)})
        check_status(response, url=url, now=self.clock(), spec_ref="AGS §3.4")
        return when

    def list_results(
        self,
        line_item: str | LineItem | None,
        *,
        user_id: str | None,
        limit: int | None,
        strict: bool = False,
    ) -> Flow[None]:
        scope = self.need(SCOPE_RESULT_READONLY)
        query = {"user_id": user_id, "limit": _limit(limit)}
        url = add_query(results_url(self.item_url(line_item)), query)
        call = self.call("GET", url, scope, {"Accept": MEDIA_RESULT_CONTAINER}, "AGS §3.3")
        parse = self.pages(Result.from_dict, "AGS §3.3", strict)
        yield from paged_flow(call, self.caller, parse, clock=self.clock, max_pages=self.max_pages)
