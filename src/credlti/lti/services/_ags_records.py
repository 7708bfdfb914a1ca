"""AGS 2.0 records: line items, scores, results, and their wire format (AGS §3).

Rules of this module:

1. Records check the AGS rules when built (label not blank, ``scoreMaximum > 0``,
   ``scoreGiven >= 0`` only with a maximum, aware datetimes, ``submittedAt >=
   startedAt``) and raise :class:`~credlti.errors.InvalidServiceRecordError`.
   Records parsed from the platform keep unknown keys in ``extensions``.
2. Timestamps are written in UTC with milliseconds and ``Z`` (AGS §3.4.5) and read
   only with a zone designator.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from credlti.errors import InvalidServiceRecordError
from credlti.lti.services._oauth import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)

__all__ = [
    "AGS_SCOPES",
    "DEFAULT_MAX_ITEMS",
    "MEDIA_LINEITEM",
    "MEDIA_LINEITEM_CONTAINER",
    "MEDIA_RESULT_CONTAINER",
    "MEDIA_SCORE",
    "ActivityProgress",
    "GradingProgress",
    "LineItem",
    "Result",
    "Score",
    "Submission",
    "format_timestamp",
    "invalid_field",
    "is_number",
    "parse_timestamp",
    "truncate_ms",
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

#: Default cap on the items (line items, results) one AGS listing reads.
DEFAULT_MAX_ITEMS = 100_000

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_R = TypeVar("_R")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


def invalid_field(field: str, what: str, spec_ref: str) -> InvalidServiceRecordError:
    """The error for a record *field* that breaks the rule *what* says."""
    return InvalidServiceRecordError(f"{field} {what}", spec_ref=spec_ref, details={"field": field})


# --------------------------------------------------------------------------- timestamps


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2026-01-15T12:00:00.123Z`` (AGS §3.4.5).

    Raises:
        InvalidServiceRecordError: *value* is naive (has no zone).
    """
    if value.utcoffset() is None:
        raise invalid_field("timestamp", "must be timezone-aware", "AGS §3.4.5")
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


def truncate_ms(value: datetime) -> datetime:
    """*value* without its sub-millisecond part."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# --------------------------------------------------------------------------- validators


def _text(field: str, spec_ref: str, *, blank_ok: bool = True) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise invalid_field(field, "must be a string", spec_ref)
        if not blank_ok and not value.strip():
            raise invalid_field(field, "must not be blank", spec_ref)

    return validate


def is_number(value: object) -> bool:
    """True for a finite int or float (not a bool)."""
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
            raise invalid_field(field, "must be a timezone-aware datetime", spec_ref)

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
        raise invalid_field("activityProgress", msg, "AGS §3.4.7") from None


def _grading(value: GradingProgress | str) -> GradingProgress:
    try:
        return GradingProgress(value)
    except ValueError:
        msg = f"must be one of {[m.value for m in GradingProgress]}"
        raise invalid_field("gradingProgress", msg, "AGS §3.4.8") from None


def _iso_opt(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class _Reader:
    """Reads a JSON object's fields, strictly (raise) or leniently (note the problem)."""

    def __init__(self, document: Mapping[str, Any], *, strict: bool, spec_ref: str) -> None:
        self.document = document
        self.strict = strict
        self.spec_ref = spec_ref
        self.problems: list[str] = []

    def problem(self, field: str, what: str, spec_ref: str | None = None) -> None:
        if self.strict:
            raise invalid_field(field, what, spec_ref or self.spec_ref)
        self.problems.append(f"{field} {what}")

    def text(self, field: str, *, required: bool = False) -> str | None:
        value = self.document.get(field)
        if value is None:
            if required:
                self.problem(field, "is required")
            return None
        if isinstance(value, str):
            if required and not value.strip():
                self.problem(field, "must not be blank")
            return value
        if is_number(value) and not isinstance(value, float):
            self.problem(field, "is a number, not a string (read as text)")
            return str(value)
        self.problem(field, "must be a string")
        return None

    def number(self, field: str, *, positive: bool = False) -> float | None:
        value = self.document.get(field)
        if value is None:
            return None
        if not is_number(value):
            self.problem(field, "must be a number")
            return None
        if positive and value <= 0:
            self.problem(field, "must be a number greater than 0")
        return value  # type: ignore[no-any-return]

    def timestamp(self, field: str) -> datetime | None:
        raw = self.document.get(field)
        if raw is None:
            return None
        try:
            return parse_timestamp(raw)
        except ValueError:
            self.problem(field, "must be ISO 8601 with a zone", "AGS §4.2")
            return None


def _unchecked(cls: type[_R], **fields: Any) -> _R:
    """An instance of the frozen *cls* with *fields*, bypassing its validators.

    Only for records read leniently from a platform; they carry ``problems``.
    """
    record = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(record, name, value)
    return record


# --------------------------------------------------------------------------- records


_LINE_ITEM = frozenset(
    {
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
)
_RESULT = frozenset(
    {"userId", "resultScore", "resultMaximum", "id", "scoreOf", "scoringUserId", "comment"}
)


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
        problems: Only on items read leniently from a platform: what broke the
            rules above (``"scoreMaximum must be a number greater than 0"`` for a
            Canvas 0-point assignment). Empty for items that follow them. An item
            with problems cannot be sent back (create or update).

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
    problems: tuple[str, ...] = attrs.field(default=(), init=False)

    @score_maximum.validator
    def _check_maximum(self, _attr: attrs.Attribute[Any], value: object) -> None:
        if not is_number(value) or float(value) <= 0:  # type: ignore[arg-type]
            raise invalid_field("scoreMaximum", "must be a number greater than 0", "AGS §3.2.9")

    @grades_released.validator
    def _check_released(self, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, bool):
            raise invalid_field("gradesReleased", "must be a boolean", "AGS §3.2")

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
    def from_dict(cls, document: Mapping[str, Any], *, strict: bool = True) -> LineItem:
        """Build a line item from its JSON object; unknown members go to ``extensions``.

        Args:
            document: The JSON object.
            strict: Raise on the first rule broken. With ``strict=False`` the item
                is built anyway and each broken rule is listed in
                :attr:`problems` (the field is kept when its type is right, such
                as ``scoreMaximum: 0``, else left unset; a missing label is
                ``""``, a missing maximum ``0``).

        Raises:
            InvalidServiceRecordError: A field breaks the AGS rules (strict only).
        """
        read = _Reader(document, strict=strict, spec_ref="AGS §3.2")
        label = read.text("label", required=True)
        maximum: Any = document.get("scoreMaximum")
        if not is_number(maximum) or maximum <= 0:
            read.problem("scoreMaximum", "must be a number greater than 0", "AGS §3.2.9")
        fields: dict[str, Any] = {
            "id": read.text("id"),
            "label": label or "",
            "score_maximum": maximum if is_number(maximum) else 0.0,
            "resource_link_id": read.text("resourceLinkId"),
            "resource_id": read.text("resourceId"),
            "tag": read.text("tag"),
            "start_date_time": read.timestamp("startDateTime"),
            "end_date_time": read.timestamp("endDateTime"),
            "grades_released": document.get("gradesReleased"),
            "extensions": _extensions({k: v for k, v in document.items() if k not in _LINE_ITEM}),
        }
        if fields["grades_released"] is not None and not isinstance(
            fields["grades_released"], bool
        ):
            read.problem("gradesReleased", "must be a boolean")
            fields["grades_released"] = None
        if read.problems:
            return _unchecked(cls, **fields, problems=tuple(read.problems))
        return cls(**fields)


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
            raise invalid_field(
                "submission.submittedAt", "must not be before startedAt", "AGS §3.4.11"
            )

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
            raise invalid_field("userId", "is required", "AGS §3.4.4")
        given, maximum = self.score_given, self.score_maximum
        if maximum is not None and (not is_number(maximum) or maximum <= 0):
            raise invalid_field("scoreMaximum", "must be a number greater than 0", "AGS §3.4.6")
        if given is not None:
            if not is_number(given) or given < 0:
                raise invalid_field("scoreGiven", "must be a number >= 0", "AGS §3.4.6")
            if maximum is None:
                raise invalid_field(
                    "scoreMaximum", "is required when scoreGiven is sent", "AGS §3.4.6"
                )
        if self.submission is not None and not isinstance(self.submission, Submission):
            raise invalid_field("submission", "must be a Submission", "AGS §3.4.11")

    def to_dict(self, *, timestamp: datetime | None = None) -> dict[str, Any]:
        """The JSON object; *timestamp* overrides :attr:`timestamp` (one is required)."""
        when = timestamp or self.timestamp
        if when is None:
            raise invalid_field("timestamp", "is required", "AGS §3.4.5")
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
        problems: What broke the AGS rules, for results read with
            ``strict=False`` (empty otherwise).
    """

    user_id: str
    id: str | None = None
    score_of: str | None = None
    result_score: float | None = None
    result_maximum: float = 1.0
    scoring_user_id: str | None = None
    comment: str | None = None
    extensions: Mapping[str, Any] = attrs.field(default=None, converter=_extensions)
    problems: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, strict: bool = True) -> Result:
        """Build a result from its JSON object.

        Args:
            document: The JSON object.
            strict: Raise on the first rule broken. With ``strict=False`` the
                result is built anyway and each broken rule is listed in
                :attr:`problems` (a numeric ``userId`` is read as text, a bad
                number is left unset, a ``resultMaximum`` of ``0`` is kept).

        Raises:
            InvalidServiceRecordError: ``userId`` is missing or a number is not a
                number (strict only).
        """
        read = _Reader(document, strict=strict, spec_ref="AGS §3.3")
        user_id = read.text("userId", required=True)
        score = read.number("resultScore")
        maximum = read.number("resultMaximum", positive=True)
        return cls(
            user_id=user_id or "",
            id=read.text("id"),
            score_of=read.text("scoreOf"),
            result_score=score,
            result_maximum=1.0 if maximum is None else maximum,
            scoring_user_id=read.text("scoringUserId"),
            comment=read.text("comment"),
            extensions={k: v for k, v in document.items() if k not in _RESULT},
            problems=tuple(read.problems),
        )
