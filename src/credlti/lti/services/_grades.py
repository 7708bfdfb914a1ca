"""AGS 2.0 clients: :class:`GradeService` and its async twin :class:`AsyncGradeService`.

Bind one to the launch's AGS claim and call it::

    grades = GradeService(client, registration, launch.claims.ags,
                          deployment_id=launch.claims.deployment_id)
    item = grades.create_line_item(LineItem(label="Quiz 1", score_maximum=10, tag="quiz"))
    grades.post_score(Score(user_id=launch.claims.sub, score_given=7, score_maximum=10,
                            activity_progress="Completed", grading_progress="FullyGraded"),
                      line_item=item)

The operations are the flows of :mod:`credlti.lti.services._ags_flows`, driven by
the token client's ``run``/``stream``; the two classes differ only in ``await``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime

from credlti.lti._claims import AgsEndpoint
from credlti.lti.ports import Registerable
from credlti.lti.services._ags_flows import GradeFlows
from credlti.lti.services._ags_records import DEFAULT_MAX_ITEMS, LineItem, Result, Score
from credlti.lti.services._client import AsyncServiceTokenClient, ServiceTokenClient
from credlti.lti.services._paging import DEFAULT_MAX_PAGES

__all__ = ["AsyncGradeService", "GradeService"]


class GradeService:
    """AGS 2.0 for one launch's claim: line items, scores and results.

    Args:
        client: The service-token client (tokens, 401 retry).
        registration: The platform registration the claim came from.
        endpoint: The launch's AGS claim (``launch.claims.ags``).
        deployment_id: The launch's deployment (named in the token assertion).
        clock: Returns the current aware datetime (score timestamps, ``Retry-After``);
            the client's clock by default.
        max_pages: Most pages one listing follows.
        max_items: Most line items or results one listing reads before
            :class:`~credlti.errors.ListingTooLargeError`.
        least_privilege: Request a token for just the scope each call needs,
            instead of one token for every AGS scope in the claim.

    Score timestamps are shared by every grade service of one *client* (see
    :meth:`post_score`).

    Raises:
        ServiceNotAvailableError: *endpoint* is not an :class:`AgsEndpoint`.
        InvalidServiceRecordError: *max_items* is not a positive integer.
    """

    def __init__(
        self,
        client: ServiceTokenClient,
        registration: Registerable,
        endpoint: AgsEndpoint,
        *,
        deployment_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_items: int = DEFAULT_MAX_ITEMS,
        least_privilege: bool = False,
    ) -> None:
        self._client = client
        self._flows = GradeFlows(
            endpoint,
            client._caller(registration, deployment_id),
            clock=clock,
            max_pages=max_pages,
            max_items=max_items,
            least_privilege=least_privilege,
        )

    @property
    def endpoint(self) -> AgsEndpoint:
        """The AGS claim this service is bound to."""
        return self._flows.endpoint

    def iter_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> Iterator[LineItem]:
        """Like :meth:`list_line_items`, fetching each page only when it is reached."""
        flow = self._flows.list_line_items(
            resource_link_id=resource_link_id,
            resource_id=resource_id,
            tag=tag,
            limit=limit,
            strict=strict,
        )
        for page in self._client._stream(flow):
            yield from page

    def list_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> list[LineItem]:
        """Every line item of the container matching the filters, across all pages.

        Filters are sent on the first request only; ``rel="next"`` links are
        followed as given (AGS §3.2.4) if they stay on the endpoint's https origin.

        Args:
            resource_link_id: Only items bound to this resource link.
            resource_id: Only items with this tool resource id.
            tag: Only items with this tag.
            limit: Page size hint.
            strict: Raise :class:`~credlti.errors.MalformedServiceResponseError`
                for an item that breaks an AGS rule, instead of returning it with
                its :attr:`~LineItem.problems` listed (a Canvas 0-point
                assignment has ``scoreMaximum: 0``).

        Raises:
            ScopeNotGrantedError: No ``lineitem``/``lineitem.readonly`` scope (no HTTP).
            ListingTooLargeError: More than ``max_items`` line items.
            UnsafeServiceUrlError: The claim's URL is not one a token may go to.
            ServiceNotAvailableError: The claim has no ``lineitems`` URL.
            PagingError: A paging link is unsafe, loops, or there are too many pages.
            ServiceAccessDeniedError, ServiceResourceNotFoundError,
            ServiceTemporarilyUnavailableError, MalformedServiceResponseError,
            ServiceCallFailedError: The service failed (see :func:`check_status`).
        """
        return list(
            self.iter_line_items(
                resource_link_id=resource_link_id,
                resource_id=resource_id,
                tag=tag,
                limit=limit,
                strict=strict,
            )
        )

    def get_line_item(
        self, line_item: str | LineItem | None = None, *, strict: bool = False
    ) -> LineItem:
        """GET one line item (by default the claim's ``lineitem``).

        A URL you name must be on the origin of the claim's line-item URLs.

        Raises:
            UnsafeServiceUrlError: It is not (nothing was sent).
        """
        return self._client._run(self._flows.get_line_item(line_item, strict=strict))

    def create_line_item(self, item: LineItem) -> LineItem:
        """POST *item* to the container; return the platform's copy, with its ``id``.

        Store the returned item: the platform may change fields (AGS §3.2.5).
        """
        return self._client._run(self._flows.create_line_item(item))

    def update_line_item(self, item: LineItem, *, check_unchanged: bool = True) -> LineItem:
        """PUT the full *item* to its ``id``; return what the platform applied (AGS §3.2.6).

        With *check_unchanged* (the default) the item is fetched first and the update
        refused if it would change ``id`` or ``resourceLinkId``.

        Raises:
            InvalidServiceRecordError: The item has no id, or would change
                ``resourceLinkId``.
        """
        flow = self._flows.update_line_item(item, check_unchanged=check_unchanged)
        return self._client._run(flow)

    def delete_line_item(self, line_item: str | LineItem, *, force: bool = False) -> None:
        """DELETE a line item.

        Raises:
            CoupledLineItemError: It is the claim's ``lineitem`` (the one the platform
                created for the resource link) and *force* is false. Nothing was sent.
        """
        self._client._run(self._flows.delete_line_item(line_item, force=force))

    def post_score(self, score: Score, line_item: str | LineItem | None = None) -> datetime:
        """POST *score* to ``{line_item}/scores`` (query kept); return the timestamp sent.

        Without an explicit ``score.timestamp`` the service stamps ``clock()`` to the
        millisecond, moved 1 ms past the previous score for the same (line item,
        user) if needed, so timestamps never repeat (AGS §3.4.5). The previous
        scores are remembered per client: every grade service on one
        service-token client (every launch of a tool) shares them.

        Some platforms compare timestamps to the second and answer 409 to a second
        score within one second. Such a score, when the service stamped it, is sent
        once more with a timestamp on the next whole second.

        Raises:
            InvalidServiceRecordError: An explicit timestamp is not after the previous
                score's for this line item and user.
            StaleScoreError: The platform refused the score with 409 (again, after
                the retry, or at once for an explicit timestamp).
            UnsafeServiceUrlError: *line_item* is not on the origin of the claim's
                line-item URLs; nothing was sent.
        """
        return self._client._run(self._flows.post_score(score, line_item))

    def iter_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> Iterator[Result]:
        """Like :meth:`list_results`, fetching each page only when it is reached."""
        flow = self._flows.list_results(line_item, user_id=user_id, limit=limit, strict=strict)
        for page in self._client._stream(flow):
            yield from page

    def list_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> list[Result]:
        """Every result of ``{line_item}/results`` (query kept), across all pages (AGS §3.3).

        Results breaking an AGS rule are returned with their ``problems`` unless
        *strict*; more than ``max_items`` is
        :class:`~credlti.errors.ListingTooLargeError`.
        """
        return list(self.iter_results(line_item, user_id=user_id, limit=limit, strict=strict))


class AsyncGradeService:
    """Async twin of :class:`GradeService` (same arguments, awaitable methods)."""

    def __init__(
        self,
        client: AsyncServiceTokenClient,
        registration: Registerable,
        endpoint: AgsEndpoint,
        *,
        deployment_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_items: int = DEFAULT_MAX_ITEMS,
        least_privilege: bool = False,
    ) -> None:
        self._client = client
        self._flows = GradeFlows(
            endpoint,
            client._caller(registration, deployment_id),
            clock=clock,
            max_pages=max_pages,
            max_items=max_items,
            least_privilege=least_privilege,
        )

    @property
    def endpoint(self) -> AgsEndpoint:
        """The AGS claim this service is bound to."""
        return self._flows.endpoint

    async def iter_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> AsyncIterator[LineItem]:
        """Async :meth:`GradeService.iter_line_items`."""
        flow = self._flows.list_line_items(
            resource_link_id=resource_link_id,
            resource_id=resource_id,
            tag=tag,
            limit=limit,
            strict=strict,
        )
        async for page in self._client._stream(flow):
            for item in page:
                yield item

    async def list_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> list[LineItem]:
        """Async :meth:`GradeService.list_line_items`."""
        return [
            item
            async for item in self.iter_line_items(
                resource_link_id=resource_link_id,
                resource_id=resource_id,
                tag=tag,
                limit=limit,
                strict=strict,
            )
        ]

    async def get_line_item(
        self, line_item: str | LineItem | None = None, *, strict: bool = False
    ) -> LineItem:
        """Async :meth:`GradeService.get_line_item`."""
        return await self._client._run(self._flows.get_line_item(line_item, strict=strict))

    async def create_line_item(self, item: LineItem) -> LineItem:
        """Async :meth:`GradeService.create_line_item`."""
        return await self._client._run(self._flows.create_line_item(item))

    async def update_line_item(self, item: LineItem, *, check_unchanged: bool = True) -> LineItem:
        """Async :meth:`GradeService.update_line_item`."""
        flow = self._flows.update_line_item(item, check_unchanged=check_unchanged)
        return await self._client._run(flow)

    async def delete_line_item(self, line_item: str | LineItem, *, force: bool = False) -> None:
        """Async :meth:`GradeService.delete_line_item`."""
        flow = self._flows.delete_line_item(line_item, force=force)
        await self._client._run(flow)

    async def post_score(self, score: Score, line_item: str | LineItem | None = None) -> datetime:
        """Async :meth:`GradeService.post_score`."""
        flow = self._flows.post_score(score, line_item)
        return await self._client._run(flow)

    async def iter_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> AsyncIterator[Result]:
        """Async :meth:`GradeService.iter_results`."""
        flow = self._flows.list_results(line_item, user_id=user_id, limit=limit, strict=strict)
        async for page in self._client._stream(flow):
            for result in page:
                yield result

    async def list_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
        strict: bool = False,
    ) -> list[Result]:
        """Async :meth:`GradeService.list_results`."""
        results = self.iter_results(line_item, user_id=user_id, limit=limit, strict=strict)
        return [result async for result in results]
