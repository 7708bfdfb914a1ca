"""Assignment and Grade Services 2.0: line items, scores, results (AGS §3).

Bind a :class:`GradeService` (or :class:`AsyncGradeService`) to the launch's AGS
claim and call it::

    grades = GradeService(client, registration, launch.claims.ags,
                          deployment_id=launch.claims.deployment_id)
    item = grades.create_line_item(LineItem(label="Quiz 1", score_maximum=10, tag="quiz"))
    grades.post_score(Score(user_id=launch.claims.sub, score_given=7, score_maximum=10,
                            activity_progress="Completed", grading_progress="FullyGraded"),
                      line_item=item)

Rules of this module:

1. Records check the AGS rules when built (label not blank, ``scoreMaximum > 0``,
   ``scoreGiven >= 0`` only with a maximum, aware datetimes, ``submittedAt >=
   startedAt``) and raise :class:`~credlti.errors.InvalidServiceRecordError`.
   Records parsed from the platform keep unknown keys in ``extensions``.
2. Every call checks the claim's ``scope`` list first and raises
   :class:`~credlti.errors.ScopeNotGrantedError` without any HTTP when the scope it
   needs is missing.
3. ``/scores`` and ``/results`` are appended to the line item's *path*, keeping its
   query (AGS §3.3.1, §3.4.1). Score timestamps carry milliseconds and a zone and
   strictly increase per (line item, user) (AGS §3.4.5).
4. The operations are generators over pure request builders and response parsers
   (:mod:`credlti.lti.services._flow`); the sync and async services only drive them.
"""

from __future__ import annotations

import enum
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from credlti.errors import (
    CoupledLineItemError,
    InvalidServiceRecordError,
    MalformedServiceResponseError,
    ScopeNotGrantedError,
    ServiceNotAvailableError,
)
from credlti.lti._claims import AgsEndpoint
from credlti.lti.ports import Registerable
from credlti.lti.services._client import AsyncServiceTokenClient, ServiceTokenClient
from credlti.lti.services._flow import (
    Binding,
    RawPage,
    ServiceCall,
    add_query,
    aiter_flow,
    append_path,
    arun_flow,
    check_status,
    iter_flow,
    json_body,
    malformed,
    paged_flow,
    run_flow,
)
from credlti.lti.services._oauth import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)
from credlti.lti.services._paging import DEFAULT_MAX_PAGES

__all__ = [
    "AGS_SCOPES",
    "MEDIA_LINEITEM",
    "MEDIA_LINEITEM_CONTAINER",
    "MEDIA_RESULT_CONTAINER",
    "MEDIA_SCORE",
    "ActivityProgress",
    "AsyncGradeService",
    "GradeService",
    "GradingProgress",
    "LineItem",
    "Result",
    "Score",
    "Submission",
    "format_timestamp",
    "parse_timestamp",
    "results_url",
    "scores_url",
]

#: A single line item (GET Accept, POST/PUT Content-Type), AGS §3.2.
MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
#: The line-item container (GET Accept), AGS §3.2.
MEDIA_LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
#: The result container (GET Accept), AGS §3.3.
MEDIA_RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
#: A score (POST Content-Type); note v1, AGS §3.4.
MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
#: The four AGS scopes.
AGS_SCOPES = frozenset(
    {SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE}
)

_T = TypeVar("_T")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_MS = timedelta(milliseconds=1)
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


def _bad(field: str, what: str, spec_ref: str) -> InvalidServiceRecordError:
    return InvalidServiceRecordError(f"{field} {what}", spec_ref=spec_ref, details={"field": field})


# --------------------------------------------------------------------------- timestamps


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2026-01-15T12:00:00.123Z`` (AGS §3.4.5).

    Raises:
        InvalidServiceRecordError: *value* is naive (has no zone).
    """
    if value.utcoffset() is None:
        raise _bad("timestamp", "must be timezone-aware", "AGS §3.4.5")
    text = value.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_timestamp(value: object) -> datetime:
    """Parse an ISO 8601 date-time with a zone designator (``Z`` or ``±hh:mm``).

    Raises:
        ValueError: Not such a string (callers wrap it in their error type).
    """
    if not isinstance(value, str):
        msg = "not a string"
        raise ValueError(msg)  # noqa: TRY004 - callers map every failure alike
    match = _ISO.fullmatch(value.strip())
    if match is None:
        msg = "not an ISO 8601 date-time with a zone"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, zulu, sign, zh, zm = match.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        if sign == "-":
            offset = -offset
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        micro,
        tzinfo=timezone(offset),
    )


def _truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# --------------------------------------------------------------------------- validators


def _text(field: str, spec_ref: str, *, blank_ok: bool = True) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise _bad(field, "must be a string", spec_ref)
        if not blank_ok and not value.strip():
            raise _bad(field, "must not be blank", spec_ref)

    return validate


def _number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _aware(field: str, spec_ref: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise _bad(field, "must be a timezone-aware datetime", spec_ref)

    return validate


def _extensions(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY


class ActivityProgress(str, enum.Enum):
    """The user's progress on the activity (AGS §3.4.7)."""

    INITIALIZED = "Initialized"
    STARTED = "Started"
    IN_PROGRESS = "InProgress"
    SUBMITTED = "Submitted"
    COMPLETED = "Completed"


class GradingProgress(str, enum.Enum):
    """Where grading stands (AGS §3.4.8); only ``FullyGraded`` is a final grade."""

    FULLY_GRADED = "FullyGraded"
    PENDING = "Pending"
    PENDING_MANUAL = "PendingManual"
    FAILED = "Failed"
    NOT_READY = "NotReady"


def _activity(value: ActivityProgress | str) -> ActivityProgress:
    try:
        return ActivityProgress(value)
    except ValueError:
        msg = f"must be one of {[m.value for m in ActivityProgress]}"
        raise _bad("activityProgress", msg, "AGS §3.4.7") from None


def _grading(value: GradingProgress | str) -> GradingProgress:
    try:
        return GradingProgress(value)
    except ValueError:
        msg = f"must be one of {[m.value for m in GradingProgress]}"
        raise _bad("gradingProgress", msg, "AGS §3.4.8") from None


def _iso_opt(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# --------------------------------------------------------------------------- records


@attrs.frozen(kw_only=True)
class LineItem:
    """A gradebook column (AGS §3.2.3-§3.2.14).

    Args:
        label: Shown in the gradebook; required, not blank.
        score_maximum: The maximum score, a number > 0.
        id: The line item's URL (set by the platform on creation).
        resource_link_id: A resource link received by launch in the same context;
            never invented, never changed by an update.
        resource_id: The tool's id for the resource (several items may share it).
        tag: The tool's label for the kind of grade (several items may share it).
        start_date_time: Aware datetime (serialised with its zone).
        end_date_time: Aware datetime.
        grades_released: Whether the platform shows the grades.
        extensions: Other members, kept as received (full-URL names, AGS §3.1.2).

    Raises:
        InvalidServiceRecordError: A field breaks the rules above.
    """

    label: str = attrs.field(validator=_text("label", "AGS §3.2.8", blank_ok=False))
    score_maximum: float = attrs.field()
    id: str | None = attrs.field(default=None, validator=_text("id", "AGS §3.2.7"))
    resource_link_id: str | None = attrs.field(
        default=None, validator=_text("resourceLinkId", "AGS §3.2.10")
    )
    resource_id: str | None = attrs.field(
        default=None, validator=_text("resourceId", "AGS §3.2.11")
    )
    tag: str | None = attrs.field(default=None, validator=_text("tag", "AGS §3.2.12"))
    start_date_time: datetime | None = attrs.field(
        default=None, validator=_aware("startDateTime", "AGS §3.2.13")
    )
    end_date_time: datetime | None = attrs.field(
        default=None, validator=_aware("endDateTime", "AGS §3.2.14")
    )
    grades_released: bool | None = attrs.field(default=None)
    extensions: Mapping[str, Any] = attrs.field(default=None, converter=_extensions)

    @score_maximum.validator
    def _check_maximum(self, _attr: attrs.Attribute[Any], value: object) -> None:
        if not _number(value) or float(value) <= 0:  # type: ignore[arg-type]
            raise _bad("scoreMaximum", "must be a number greater than 0", "AGS §3.2.9")

    @grades_released.validator
    def _check_released(self, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, bool):
            raise _bad("gradesReleased", "must be a boolean", "AGS §3.2")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (camelCase, unset fields left out, extensions merged)."""
        return {
            **self.extensions,
            **_compact(
                {
                    "id": self.id,
                    "label": self.label,
                    "scoreMaximum": self.score_maximum,
                    "resourceLinkId": self.resource_link_id,
                    "resourceId": self.resource_id,
                    "tag": self.tag,
                    "startDateTime": _iso_opt(self.start_date_time),
                    "endDateTime": _iso_opt(self.end_date_time),
                    "gradesReleased": self.grades_released,
                }
            ),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> LineItem:
        """Build a line item from its JSON object; unknown members go to ``extensions``.

        Raises:
            InvalidServiceRecordError: A field breaks the AGS rules.
        """
        known = {
            "id",
            "label",
            "scoreMaximum",
            "resourceLinkId",
            "resourceId",
            "tag",
            "startDateTime",
            "endDateTime",
            "gradesReleased",
        }
        dates: dict[str, datetime | None] = {}
        for name in ("startDateTime", "endDateTime"):
            raw = document.get(name)
            try:
                dates[name] = None if raw is None else parse_timestamp(raw)
            except ValueError:
                raise _bad(name, "must be ISO 8601 with a zone", "AGS §4.2") from None
        return cls(
            id=document.get("id"),
            label=document.get("label"),  # type: ignore[arg-type]
            score_maximum=document.get("scoreMaximum"),  # type: ignore[arg-type]
            resource_link_id=document.get("resourceLinkId"),
            resource_id=document.get("resourceId"),
            tag=document.get("tag"),
            start_date_time=dates["startDateTime"],
            end_date_time=dates["endDateTime"],
            grades_released=document.get("gradesReleased"),
            extensions={k: v for k, v in document.items() if k not in known},
        )


@attrs.frozen(kw_only=True)
class Submission:
    """When the user started and submitted (AGS §3.4.11); ``submitted_at >= started_at``."""

    started_at: datetime | None = attrs.field(
        default=None, validator=_aware("submission.startedAt", "AGS §3.4.11")
    )
    submitted_at: datetime | None = attrs.field(
        default=None, validator=_aware("submission.submittedAt", "AGS §3.4.11")
    )

    def __attrs_post_init__(self) -> None:
        if (
            self.started_at is not None
            and self.submitted_at is not None
            and self.submitted_at < self.started_at
        ):
            raise _bad("submission.submittedAt", "must not be before startedAt", "AGS §3.4.11")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, with millisecond timestamps."""
        return _compact(
            {
                "startedAt": None if self.started_at is None else format_timestamp(self.started_at),
                "submittedAt": (
                    None if self.submitted_at is None else format_timestamp(self.submitted_at)
                ),
            }
        )


@attrs.frozen(kw_only=True)
class Score:
    """A score the tool publishes for one user (AGS §3.4.4-§3.4.11).

    Args:
        user_id: The user's launch ``sub``.
        activity_progress: An :class:`ActivityProgress` or its string value.
        grading_progress: A :class:`GradingProgress` or its string value.
        score_given: A number >= 0 (may exceed the maximum); ``None`` clears the score.
        score_maximum: Required with ``score_given``; a number > 0.
        comment: Plain text; replaces the previous comment (omit to clear it).
        scoring_user_id: Who graded; non-empty if given.
        timestamp: Aware datetime. Leave ``None`` and the service stamps it,
            strictly increasing per (line item, user).
        submission: Start and submission times.
        extensions: Extra members merged at the top level (e.g. a platform's
            submission extension).

    Raises:
        InvalidServiceRecordError: A field breaks the rules above.
    """

    user_id: str = attrs.field(validator=_text("userId", "AGS §3.4.4", blank_ok=False))
    activity_progress: ActivityProgress = attrs.field(converter=_activity)
    grading_progress: GradingProgress = attrs.field(converter=_grading)
    score_given: float | None = attrs.field(default=None)
    score_maximum: float | None = attrs.field(default=None)
    comment: str | None = attrs.field(default=None, validator=_text("comment", "AGS §3.4.9"))
    scoring_user_id: str | None = attrs.field(
        default=None, validator=_text("scoringUserId", "AGS §3.4.10", blank_ok=False)
    )
    timestamp: datetime | None = attrs.field(
        default=None, validator=_aware("timestamp", "AGS §3.4.5")
    )
    submission: Submission | None = None
    extensions: Mapping[str, Any] = attrs.field(default=None, converter=_extensions)

    def __attrs_post_init__(self) -> None:
        if self.user_id is None:
            raise _bad("userId", "is required", "AGS §3.4.4")
        given, maximum = self.score_given, self.score_maximum
        if maximum is not None and (not _number(maximum) or maximum <= 0):
            raise _bad("scoreMaximum", "must be a number greater than 0", "AGS §3.4.6")
        if given is not None:
            if not _number(given) or given < 0:
                raise _bad("scoreGiven", "must be a number >= 0", "AGS §3.4.6")
            if maximum is None:
                raise _bad("scoreMaximum", "is required when scoreGiven is sent", "AGS §3.4.6")
        if self.submission is not None and not isinstance(self.submission, Submission):
            raise _bad("submission", "must be a Submission", "AGS §3.4.11")

    def to_dict(self, *, timestamp: datetime | None = None) -> dict[str, Any]:
        """The JSON object; *timestamp* overrides :attr:`timestamp` (one is required)."""
        when = timestamp or self.timestamp
        if when is None:
            raise _bad("timestamp", "is required", "AGS §3.4.5")
        return {
            **self.extensions,
            **_compact(
                {
                    "userId": self.user_id,
                    "scoreGiven": self.score_given,
                    "scoreMaximum": self.score_maximum,
                    "comment": self.comment,
                    "timestamp": format_timestamp(when),
                    "activityProgress": self.activity_progress.value,
                    "gradingProgress": self.grading_progress.value,
                    "scoringUserId": self.scoring_user_id,
                    "submission": None if self.submission is None else self.submission.to_dict(),
                }
            ),
        }


@attrs.frozen(kw_only=True)
class Result:
    """A user's current result on a line item, read-only (AGS §3.3).

    Attributes:
        user_id: The user's ``sub``.
        id: The result's URL.
        score_of: The line item's URL.
        result_score: The score, or ``None`` when there is none.
        result_maximum: The denominator; ``1`` when the platform omits it.
        scoring_user_id: Who graded.
        comment: The comment shown to the user.
        extensions: Other members, as received.
    """

    user_id: str
    id: str | None = None
    score_of: str | None = None
    result_score: float | None = None
    result_maximum: float = 1.0
    scoring_user_id: str | None = None
    comment: str | None = None
    extensions: Mapping[str, Any] = attrs.field(default=None, converter=_extensions)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Result:
        """Build a result from its JSON object.

        Raises:
            InvalidServiceRecordError: ``userId`` is missing or a number is not a number.
        """
        user_id = document.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise _bad("userId", "is required", "AGS §3.3")
        score = document.get("resultScore")
        if score is not None and not _number(score):
            raise _bad("resultScore", "must be a number", "AGS §3.3")
        maximum = document.get("resultMaximum")
        if maximum is None:
            maximum = 1.0
        elif not _number(maximum) or maximum <= 0:
            raise _bad("resultMaximum", "must be a number greater than 0", "AGS §3.3")
        strings = {}
        for name in ("id", "scoreOf", "scoringUserId", "comment"):
            value = document.get(name)
            if value is not None and not isinstance(value, str):
                raise _bad(name, "must be a string", "AGS §3.3")
            strings[name] = value
        known = {"userId", "resultScore", "resultMaximum", "id", "scoreOf"}
        known |= {"scoringUserId", "comment"}
        return cls(
            user_id=user_id,
            id=strings["id"],
            score_of=strings["scoreOf"],
            result_score=score,
            result_maximum=maximum,
            scoring_user_id=strings["scoringUserId"],
            comment=strings["comment"],
            extensions={k: v for k, v in document.items() if k not in known},
        )


# --------------------------------------------------------------------------- pure builders


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


def _line_item_page(page: RawPage) -> tuple[LineItem, ...]:
    items = _array(page.document, page.url, "AGS §3.2.4")
    return tuple(_parsed(LineItem.from_dict, item, page.url) for item in items)


def _result_page(page: RawPage) -> tuple[Result, ...]:
    items = _array(page.document, page.url, "AGS §3.3")
    return tuple(_parsed(Result.from_dict, item, page.url) for item in items)


def _limit(limit: int | None) -> int | None:
    value: object = limit
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise _bad("limit", "must be a positive integer", "AGS §3.2.4")
    return limit


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@attrs.define
class _ScoreClock:
    """Per (line item, user) monotonic millisecond timestamps, bounded in size."""

    max_pairs: int = 10_000
    _last: OrderedDict[tuple[str, str], datetime] = attrs.field(factory=OrderedDict)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def stamp(self, key: tuple[str, str], requested: datetime | None, now: datetime) -> datetime:
        explicit = requested is not None
        when = _truncate_ms((requested or now).astimezone(timezone.utc))
        with self._lock:
            last = self._last.get(key)
            if last is not None and when <= last:
                if explicit:
                    msg = (
                        f"must be later than the previous score's {format_timestamp(last)} "
                        "for this line item and user (the platform ignores older ones)"
                    )
                    raise _bad("timestamp", msg, "AGS §3.4.5")
                when = last + _MS
            self._last[key] = when
            self._last.move_to_end(key)
            while len(self._last) > self.max_pairs:
                self._last.popitem(last=False)
        return when


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _GradeCore:
    """What :class:`GradeService` and :class:`AsyncGradeService` share.

    Every operation is written once, as a generator of service calls.
    """

    def __init__(
        self,
        endpoint: AgsEndpoint,
        *,
        clock: Callable[[], datetime] | None,
        max_pages: int,
        least_privilege: bool,
    ) -> None:
        claim: object = endpoint
        if not isinstance(claim, AgsEndpoint):
            msg = "endpoint must be the launch's AgsEndpoint (LaunchClaims.ags)"
            raise ServiceNotAvailableError(msg, spec_ref="AGS §3.1")
        self.endpoint = endpoint
        self.claim_scopes = frozenset(endpoint.scope) & AGS_SCOPES
        self.clock = clock or _utc_now
        self.max_pages = max_pages
        self.least_privilege = least_privilege
        self.scores = _ScoreClock()

    # -- helpers

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
        if isinstance(line_item, LineItem):
            if line_item.id is None:
                raise _bad("id", "is required (create the line item first)", "AGS §3.2.7")
            return line_item.id
        if line_item is None:
            if not self.endpoint.lineitem:
                msg = "no line item given and the launch's AGS claim has no lineitem"
                raise ServiceNotAvailableError(msg, spec_ref="AGS §3.1")
            return self.endpoint.lineitem
        value: object = line_item
        if not isinstance(value, str) or not value:
            raise _bad("line_item", "must be a URL, a LineItem or None", "AGS §3.2.7")
        return value

    # -- operations

    def list_line_items(
        self,
        *,
        resource_link_id: str | None,
        resource_id: str | None,
        tag: str | None,
        limit: int | None,
    ) -> Generator[Any, Any, None]:
        scope = self.need(SCOPE_LINEITEM_READONLY, SCOPE_LINEITEM)
        query = {
            "resource_link_id": resource_link_id,
            "resource_id": resource_id,
            "tag": tag,
            "limit": _limit(limit),
        }
        url = add_query(self.container(), query)
        call = self.call("GET", url, scope, {"Accept": MEDIA_LINEITEM_CONTAINER}, "AGS §3.2.4")
        yield from paged_flow(call, _line_item_page, now=self.clock(), max_pages=self.max_pages)

    def get_line_item(self, line_item: str | LineItem | None) -> Generator[Any, Any, LineItem]:
        scope = self.need(SCOPE_LINEITEM_READONLY, SCOPE_LINEITEM)
        url = self.item_url(line_item)
        call = self.call("GET", url, scope, {"Accept": MEDIA_LINEITEM}, "AGS §3.2")
        response = yield call
        check_status(response, url=url, now=self.clock(), spec_ref=call.spec_ref)
        document = _object(json_body(response, url=url), url, "AGS §3.2")
        return _parsed(LineItem.from_dict, document, url)

    def create_line_item(self, item: LineItem) -> Generator[Any, Any, LineItem]:
        if not isinstance(item, LineItem):
            raise _bad("item", "must be a LineItem", "AGS §3.2.5")
        scope = self.need(SCOPE_LINEITEM)
        url = self.container()
        body = item.to_dict()
        body.pop("id", None)
        headers = {"Content-Type": MEDIA_LINEITEM, "Accept": MEDIA_LINEITEM}
        call = self.call("POST", url, scope, headers, "AGS §3.2.5", _json(body))
        response = yield call
        check_status(response, url=url, now=self.clock(), spec_ref=call.spec_ref)
        document = _object(json_body(response, url=url), url, "AGS §3.2.5")
        created = _parsed(LineItem.from_dict, document, url)
        if not created.id:
            raise malformed("the created line item has no id", url=url, spec_ref="AGS §3.2.5")
        return created

    def update_line_item(
        self, item: LineItem, *, check_unchanged: bool
    ) -> Generator[Any, Any, LineItem]:
        if not isinstance(item, LineItem):
            raise _bad("item", "must be a LineItem", "AGS §3.2.6")
        scope = self.need(SCOPE_LINEITEM)
        url = self.item_url(item)
        if check_unchanged:
            current = yield from self.get_line_item(url)
            if current.resource_link_id != item.resource_link_id:
                msg = (
                    f"must not change (the platform has {current.resource_link_id!r}); "
                    "GET the line item and update that"
                )
                raise _bad("resourceLinkId", msg, "AGS §3.2.6")
            if current.id is not None and current.id != url:
                raise _bad("id", "must not change", "AGS §3.2.6")
        headers = {"Content-Type": MEDIA_LINEITEM, "Accept": MEDIA_LINEITEM}
        call = self.call("PUT", url, scope, headers, "AGS §3.2.6", _json(item.to_dict()))
        response = yield call
        check_status(response, url=url, now=self.clock(), spec_ref=call.spec_ref)
        if not response.body.strip():
            return item
        document = _object(json_body(response, url=url), url, "AGS §3.2.6")
        return _parsed(LineItem.from_dict, document, url)

    def delete_line_item(
        self, line_item: str | LineItem, *, force: bool
    ) -> Generator[Any, Any, None]:
        scope = self.need(SCOPE_LINEITEM)
        url = self.item_url(line_item)
        if not force and self.endpoint.lineitem is not None and url == self.endpoint.lineitem:
            msg = (
                "refused to delete the line item the platform created for this resource "
                "link (the claim's lineitem); pass force=True to delete it anyway"
            )
            raise CoupledLineItemError(msg, details={"line_item": url})
        call = self.call("DELETE", url, scope, {}, "AGS §3.2")
        response = yield call
        check_status(response, url=url, now=self.clock(), spec_ref=call.spec_ref)

    def post_score(
        self, score: Score, line_item: str | LineItem | None
    ) -> Generator[Any, Any, datetime]:
        if not isinstance(score, Score):
            raise _bad("score", "must be a Score", "AGS §3.4")
        scope = self.need(SCOPE_SCORE)
        item = self.item_url(line_item)
        url = scores_url(item)
        when = self.scores.stamp((item, score.user_id), score.timestamp, self.clock())
        body = _json(score.to_dict(timestamp=when))
        call = self.call("POST", url, scope, {"Content-Type": MEDIA_SCORE}, "AGS §3.4", body)
        response = yield call
        check_status(response, url=url, now=self.clock(), spec_ref=call.spec_ref)
        return when

    def get_results(
        self, line_item: str | LineItem | None, *, user_id: str | None, limit: int | None
    ) -> Generator[Any, Any, None]:
        scope = self.need(SCOPE_RESULT_READONLY)
        query = {"user_id": user_id, "limit": _limit(limit)}
        url = add_query(results_url(self.item_url(line_item)), query)
        call = self.call("GET", url, scope, {"Accept": MEDIA_RESULT_CONTAINER}, "AGS §3.3")
        yield from paged_flow(call, _result_page, now=self.clock(), max_pages=self.max_pages)


class GradeService:
    """AGS 2.0 for one launch's claim: line items, scores and results.

    Args:
        client: The service-token client (tokens, 401 retry).
        registration: The platform registration the claim came from.
        endpoint: The launch's AGS claim (``launch.claims.ags``).
        deployment_id: The launch's deployment (named in the token assertion).
        clock: Returns the current aware datetime (score timestamps, ``Retry-After``).
        max_pages: Most pages one listing follows.
        least_privilege: Request a token for just the scope each call needs,
            instead of one token for every AGS scope in the claim.

    Raises:
        ServiceNotAvailableError: *endpoint* is not an :class:`AgsEndpoint`.
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
        least_privilege: bool = False,
    ) -> None:
        self._client = client
        self._binding = Binding(registration=registration, deployment_id=deployment_id)
        self._core = _GradeCore(
            endpoint, clock=clock, max_pages=max_pages, least_privilege=least_privilege
        )

    @property
    def endpoint(self) -> AgsEndpoint:
        """The AGS claim this service is bound to."""
        return self._core.endpoint

    def iter_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> Iterator[LineItem]:
        """Like :meth:`list_line_items`, fetching each page only when it is reached."""
        flow = self._core.list_line_items(
            resource_link_id=resource_link_id, resource_id=resource_id, tag=tag, limit=limit
        )
        for page in iter_flow(self._client, self._binding, flow):
            yield from page

    def list_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[LineItem]:
        """Every line item of the container matching the filters, across all pages.

        Filters are sent on the first request only; ``rel="next"`` links are
        followed as given (AGS §3.2.4) if they stay on the endpoint's https origin.

        Args:
            resource_link_id: Only items bound to this resource link.
            resource_id: Only items with this tool resource id.
            tag: Only items with this tag.
            limit: Page size hint.

        Raises:
            ScopeNotGrantedError: No ``lineitem``/``lineitem.readonly`` scope (no HTTP).
            ServiceNotAvailableError: The claim has no ``lineitems`` URL.
            PagingError: A paging link is unsafe, loops, or there are too many pages.
            ServiceAccessDeniedError, ServiceResourceNotFoundError,
            ServiceTemporarilyUnavailableError, MalformedServiceResponseError,
            ServiceCallFailedError: The service failed (see :func:`check_status`).
        """
        return list(
            self.iter_line_items(
                resource_link_id=resource_link_id, resource_id=resource_id, tag=tag, limit=limit
            )
        )

    def get_line_item(self, line_item: str | LineItem | None = None) -> LineItem:
        """GET one line item (by default the claim's ``lineitem``)."""
        return run_flow(self._client, self._binding, self._core.get_line_item(line_item))

    def create_line_item(self, item: LineItem) -> LineItem:
        """POST *item* to the container; return the platform's copy, with its ``id``.

        Store the returned item: the platform may change fields (AGS §3.2.5).
        """
        return run_flow(self._client, self._binding, self._core.create_line_item(item))

    def update_line_item(self, item: LineItem, *, check_unchanged: bool = True) -> LineItem:
        """PUT the full *item* to its ``id``; return what the platform applied (AGS §3.2.6).

        With *check_unchanged* (the default) the item is fetched first and the update
        refused if it would change ``id`` or ``resourceLinkId``.

        Raises:
            InvalidServiceRecordError: The item has no id, or would change
                ``resourceLinkId``.
        """
        flow = self._core.update_line_item(item, check_unchanged=check_unchanged)
        return run_flow(self._client, self._binding, flow)

    def delete_line_item(self, line_item: str | LineItem, *, force: bool = False) -> None:
        """DELETE a line item.

        Raises:
            CoupledLineItemError: It is the claim's ``lineitem`` (the one the platform
                created for the resource link) and *force* is false. Nothing was sent.
        """
        run_flow(self._client, self._binding, self._core.delete_line_item(line_item, force=force))

    def post_score(self, score: Score, line_item: str | LineItem | None = None) -> datetime:
        """POST *score* to ``{line_item}/scores`` (query kept); return the timestamp sent.

        Without an explicit ``score.timestamp`` the service stamps ``clock()`` to the
        millisecond, moved 1 ms past the previous score for the same (line item,
        user) if needed, so timestamps never repeat (AGS §3.4.5).

        Raises:
            InvalidServiceRecordError: An explicit timestamp is not after the previous
                score's for this line item and user.
        """
        return run_flow(self._client, self._binding, self._core.post_score(score, line_item))

    def iter_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Result]:
        """Like :meth:`get_results`, fetching each page only when it is reached."""
        flow = self._core.get_results(line_item, user_id=user_id, limit=limit)
        for page in iter_flow(self._client, self._binding, flow):
            yield from page

    def get_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
    ) -> list[Result]:
        """Every result of ``{line_item}/results`` (query kept), across all pages (AGS §3.3)."""
        return list(self.iter_results(line_item, user_id=user_id, limit=limit))


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
        least_privilege: bool = False,
    ) -> None:
        self._client = client
        self._binding = Binding(registration=registration, deployment_id=deployment_id)
        self._core = _GradeCore(
            endpoint, clock=clock, max_pages=max_pages, least_privilege=least_privilege
        )

    @property
    def endpoint(self) -> AgsEndpoint:
        """The AGS claim this service is bound to."""
        return self._core.endpoint

    async def iter_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[LineItem]:
        """Async :meth:`GradeService.iter_line_items`."""
        flow = self._core.list_line_items(
            resource_link_id=resource_link_id, resource_id=resource_id, tag=tag, limit=limit
        )
        async for page in aiter_flow(self._client, self._binding, flow):
            for item in page:
                yield item

    async def list_line_items(
        self,
        *,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[LineItem]:
        """Async :meth:`GradeService.list_line_items`."""
        return [
            item
            async for item in self.iter_line_items(
                resource_link_id=resource_link_id, resource_id=resource_id, tag=tag, limit=limit
            )
        ]

    async def get_line_item(self, line_item: str | LineItem | None = None) -> LineItem:
        """Async :meth:`GradeService.get_line_item`."""
        return await arun_flow(self._client, self._binding, self._core.get_line_item(line_item))

    async def create_line_item(self, item: LineItem) -> LineItem:
        """Async :meth:`GradeService.create_line_item`."""
        return await arun_flow(self._client, self._binding, self._core.create_line_item(item))

    async def update_line_item(self, item: LineItem, *, check_unchanged: bool = True) -> LineItem:
        """Async :meth:`GradeService.update_line_item`."""
        flow = self._core.update_line_item(item, check_unchanged=check_unchanged)
        return await arun_flow(self._client, self._binding, flow)

    async def delete_line_item(self, line_item: str | LineItem, *, force: bool = False) -> None:
        """Async :meth:`GradeService.delete_line_item`."""
        flow = self._core.delete_line_item(line_item, force=force)
        await arun_flow(self._client, self._binding, flow)

    async def post_score(self, score: Score, line_item: str | LineItem | None = None) -> datetime:
        """Async :meth:`GradeService.post_score`."""
        flow = self._core.post_score(score, line_item)
        return await arun_flow(self._client, self._binding, flow)

    async def iter_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Result]:
        """Async :meth:`GradeService.iter_results`."""
        flow = self._core.get_results(line_item, user_id=user_id, limit=limit)
        async for page in aiter_flow(self._client, self._binding, flow):
            for result in page:
                yield result

    async def get_results(
        self,
        line_item: str | LineItem | None = None,
        *,
        user_id: str | None = None,
        limit: int | None = None,
    ) -> list[Result]:
        """Async :meth:`GradeService.get_results`."""
        return [r async for r in self.iter_results(line_item, user_id=user_id, limit=limit)]
