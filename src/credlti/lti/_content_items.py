"""Deep Linking 2.0 content items (DL §3): typed records that check their own shape.

A record module: items validate their fields when built and raise
:class:`~credlti.errors.InvalidContentItemError`; :mod:`credlti.lti.deep_linking`
checks them against a request's settings and signs the response (and re-exports
every item type).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Union

import attrs

from credlti.errors import ConfigurationError, InvalidContentItemError
from credlti.lti._records import check_url

__all__ = [
    "ContentItem",
    "CustomItem",
    "Embed",
    "File",
    "HtmlFragment",
    "Icon",
    "Iframe",
    "Image",
    "LineItemDefinition",
    "Link",
    "LtiResourceLink",
    "TimeWindow",
    "Window",
    "is_content_item",
]


def _bad(what: str, spec_ref: str, field: str) -> InvalidContentItemError:
    return InvalidContentItemError(what, spec_ref=spec_ref, details={"field": field})


def _url(value: object, field: str, spec_ref: str) -> None:
    try:
        check_url(value, field)
    except ConfigurationError as exc:
        raise _bad(f"{field} must be an absolute https URL", spec_ref, field) from exc


def _opt_url(field: str, spec_ref: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            _url(value, field, spec_ref)

    return validate


def _req_url(field: str, spec_ref: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        _url(value, field, spec_ref)

    return validate


def _opt_text(field: str, spec_ref: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, str):
            raise _bad(f"{field} must be text", spec_ref, field)

    return validate


def _opt_dimension(field: str, spec_ref: str) -> Any:
    def validate(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _bad(f"{field} must be a positive integer (pixels)", spec_ref, field)

    return validate


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


@attrs.frozen(kw_only=True)
class Icon:
    """An icon or thumbnail image: ``{url, width, height}`` (DL §3.1)."""

    url: str = attrs.field(validator=_req_url("icon.url", "DL §3.1"))
    width: int | None = attrs.field(default=None, validator=_opt_dimension("width", "DL §3.1"))
    height: int | None = attrs.field(default=None, validator=_opt_dimension("height", "DL §3.1"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the response."""
        return _compact({"url": self.url, "width": self.width, "height": self.height})


@attrs.frozen(kw_only=True)
class Window:
    """Open in a new window or tab (presentation target ``window``)."""

    target_name: str | None = attrs.field(
        default=None, validator=_opt_text("targetName", "DL §3.1")
    )
    width: int | None = attrs.field(default=None, validator=_opt_dimension("width", "DL §3.1"))
    height: int | None = attrs.field(default=None, validator=_opt_dimension("height", "DL §3.1"))
    window_features: str | None = attrs.field(
        default=None, validator=_opt_text("windowFeatures", "DL §3.1")
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the response."""
        return _compact(
            {
                "targetName": self.target_name,
                "width": self.width,
                "height": self.height,
                "windowFeatures": self.window_features,
            }
        )


@attrs.frozen(kw_only=True)
class Iframe:
    """Show in an iframe (target ``iframe``); ``src`` is required for links (DL §3.1)."""

    src: str | None = attrs.field(default=None, validator=_opt_url("iframe.src", "DL §3.1"))
    width: int | None = attrs.field(default=None, validator=_opt_dimension("width", "DL §3.1"))
    height: int | None = attrs.field(default=None, validator=_opt_dimension("height", "DL §3.1"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the response."""
        return _compact({"src": self.src, "width": self.width, "height": self.height})


@attrs.frozen(kw_only=True)
class Embed:
    """Embed HTML in the platform's page (target ``embed``; DL §3.1)."""

    html: str = attrs.field(validator=_opt_text("embed.html", "DL §3.1"))

    def __attrs_post_init__(self) -> None:
        if not self.html:
            raise _bad("embed.html is required", "DL §3.1", "embed.html")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the response."""
        return {"html": self.html}


@attrs.frozen(kw_only=True)
class LineItemDefinition:
    """The line item a platform creates with a resource link (DL §3.2; AGS)."""

    score_maximum: float
    label: str | None = attrs.field(default=None, validator=_opt_text("lineItem.label", "DL §3.2"))
    resource_id: str | None = attrs.field(
        default=None, validator=_opt_text("lineItem.resourceId", "DL §3.2")
    )
    tag: str | None = attrs.field(default=None, validator=_opt_text("lineItem.tag", "DL §3.2"))
    grades_released: bool | None = None

    def __attrs_post_init__(self) -> None:
        value: Any = self.score_maximum
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise _bad(
                "lineItem.scoreMaximum must be a number greater than 0",
                "DL §3.2",
                "lineItem.scoreMaximum",
            )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the response."""
        return _compact(
            {
                "scoreMaximum": self.score_maximum,
                "label": self.label,
                "resourceId": self.resource_id,
                "tag": self.tag,
                "gradesReleased": self.grades_released,
            }
        )


@attrs.frozen(kw_only=True)
class TimeWindow:
    """An ``available`` or ``submission`` window: ISO 8601 start and end (DL §3.2)."""

    start: datetime | str | None = None
    end: datetime | str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime) and value.utcoffset() is None:
                raise _bad(f"{name} must be timezone-aware", "DL §3.2", name)
            if value is not None and not isinstance(value, (datetime, str)):
                raise _bad(f"{name} must be a datetime or ISO 8601 text", "DL §3.2", name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the response."""
        return _compact({"startDateTime": _iso(self.start), "endDateTime": _iso(self.end)})


def _extensions(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


class _Item:
    """Shared behaviour of the content items."""

    TYPE: ClassVar[str]
    SPEC: ClassVar[str]
    extensions: Mapping[str, Any]

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def type(self) -> str:
        """The item's ``type`` value."""
        return self.TYPE

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the ``content_items`` claim (extension keys merged in)."""
        body = {"type": self.type, **_compact(self._fields())}
        for name, value in self.extensions.items():
            if name in body:
                raise _bad(f"extension {name!r} would overwrite a standard field", "DL §3.6", name)
            body[name] = value
        return body

    def presentations(self) -> tuple[str, ...]:
        """The presentation targets this item uses (``window``, ``iframe``, ``embed``)."""
        return ()


def _check_extensions(_inst: object, _attr: attrs.Attribute[Any], value: Mapping[Any, Any]) -> None:
    for name in value:
        if not isinstance(name, str) or not name:
            raise _bad("extension names must be non-empty text", "DL §3.6", str(name))


def _targets(*pairs: tuple[str, object]) -> tuple[str, ...]:
    return tuple(name for name, value in pairs if value is not None)


def _ext() -> Any:
    return attrs.field(factory=dict, converter=_extensions, validator=_check_extensions)


@attrs.frozen(kw_only=True)
class Link(_Item):
    """A link to a web resource (DL §3.1)."""

    TYPE: ClassVar[str] = "link"
    SPEC: ClassVar[str] = "DL §3.1"

    url: str = attrs.field(validator=_req_url("link.url", "DL §3.1"))
    title: str | None = attrs.field(default=None, validator=_opt_text("title", "DL §3.1"))
    text: str | None = attrs.field(default=None, validator=_opt_text("text", "DL §3.1"))
    icon: Icon | None = None
    thumbnail: Icon | None = None
    embed: Embed | None = None
    window: Window | None = None
    iframe: Iframe | None = None
    extensions: Mapping[str, Any] = _ext()

    def __attrs_post_init__(self) -> None:
        if self.iframe is not None and self.iframe.src is None:
            raise _bad("a link's iframe needs src", "DL §3.1", "iframe.src")

    def _fields(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "text": self.text,
            "icon": self.icon and self.icon.to_dict(),
            "thumbnail": self.thumbnail and self.thumbnail.to_dict(),
            "embed": self.embed and self.embed.to_dict(),
            "window": self.window and self.window.to_dict(),
            "iframe": self.iframe and self.iframe.to_dict(),
        }

    def presentations(self) -> tuple[str, ...]:
        """The presentation targets this item uses."""
        return _targets(("embed", self.embed), ("window", self.window), ("iframe", self.iframe))


def _check_custom(_inst: object, _attr: attrs.Attribute[Any], value: Mapping[Any, Any]) -> None:
    for name, item in value.items():
        if not isinstance(name, str) or not name or not isinstance(item, str):
            raise _bad(
                "custom parameters must map non-empty text names to text values (no null)",
                "DL §3.2",
                f"custom.{name}",
            )


@attrs.frozen(kw_only=True)
class LtiResourceLink(_Item):
    """A link that launches back into this tool (DL §3.2)."""

    TYPE: ClassVar[str] = "ltiResourceLink"
    SPEC: ClassVar[str] = "DL §3.2"

    url: str | None = attrs.field(
        default=None, validator=_opt_url("ltiResourceLink.url", "DL §3.2")
    )
    title: str | None = attrs.field(default=None, validator=_opt_text("title", "DL §3.2"))
    text: str | None = attrs.field(default=None, validator=_opt_text("text", "DL §3.2"))
    icon: Icon | None = None
    thumbnail: Icon | None = None
    window: Window | None = None
    iframe: Iframe | None = None
    custom: Mapping[str, str] = attrs.field(
        factory=dict, converter=_extensions, validator=_check_custom
    )
    line_item: LineItemDefinition | None = None
    available: TimeWindow | None = None
    submission: TimeWindow | None = None
    extensions: Mapping[str, Any] = _ext()

    def __attrs_post_init__(self) -> None:
        if self.iframe is not None and self.iframe.src is not None:
            raise _bad("an ltiResourceLink's iframe has no src", "DL §3.2", "iframe.src")

    def _fields(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "text": self.text,
            "icon": self.icon and self.icon.to_dict(),
            "thumbnail": self.thumbnail and self.thumbnail.to_dict(),
            "window": self.window and self.window.to_dict(),
            "iframe": self.iframe and self.iframe.to_dict(),
            "custom": dict(self.custom) if self.custom else None,
            "lineItem": self.line_item and self.line_item.to_dict(),
            "available": self.available and self.available.to_dict(),
            "submission": self.submission and self.submission.to_dict(),
        }

    def presentations(self) -> tuple[str, ...]:
        """The presentation targets this item uses."""
        return _targets(("window", self.window), ("iframe", self.iframe))


@attrs.frozen(kw_only=True)
class File(_Item):
    """A file the platform downloads (the URL may be short-lived; DL §3.3)."""

    TYPE: ClassVar[str] = "file"
    SPEC: ClassVar[str] = "DL §3.3"

    url: str = attrs.field(validator=_req_url("file.url", "DL §3.3"))
    title: str | None = attrs.field(default=None, validator=_opt_text("title", "DL §3.3"))
    text: str | None = attrs.field(default=None, validator=_opt_text("text", "DL §3.3"))
    icon: Icon | None = None
    thumbnail: Icon | None = None
    media_type: str | None = attrs.field(default=None, validator=_opt_text("mediaType", "DL §3.3"))
    expires_at: datetime | str | None = None
    extensions: Mapping[str, Any] = _ext()

    def _fields(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "text": self.text,
            "icon": self.icon and self.icon.to_dict(),
            "thumbnail": self.thumbnail and self.thumbnail.to_dict(),
            "mediaType": self.media_type,
            "expiresAt": _iso(self.expires_at),
        }


@attrs.frozen(kw_only=True)
class HtmlFragment(_Item):
    """An HTML fragment the platform embeds after sanitising it (DL §3.4)."""

    TYPE: ClassVar[str] = "html"
    SPEC: ClassVar[str] = "DL §3.4"

    html: str = attrs.field(validator=_opt_text("html", "DL §3.4"))
    title: str | None = attrs.field(default=None, validator=_opt_text("title", "DL §3.4"))
    text: str | None = attrs.field(default=None, validator=_opt_text("text", "DL §3.4"))
    extensions: Mapping[str, Any] = _ext()

    def __attrs_post_init__(self) -> None:
        if not self.html:
            raise _bad("html is required", "DL §3.4", "html")

    def _fields(self) -> dict[str, Any]:
        return {"html": self.html, "title": self.title, "text": self.text}


@attrs.frozen(kw_only=True)
class Image(_Item):
    """An image (DL §3.5)."""

    TYPE: ClassVar[str] = "image"
    SPEC: ClassVar[str] = "DL §3.5"

    url: str = attrs.field(validator=_req_url("image.url", "DL §3.5"))
    title: str | None = attrs.field(default=None, validator=_opt_text("title", "DL §3.5"))
    text: str | None = attrs.field(default=None, validator=_opt_text("text", "DL §3.5"))
    icon: Icon | None = None
    thumbnail: Icon | None = None
    width: int | None = attrs.field(default=None, validator=_opt_dimension("width", "DL §3.5"))
    height: int | None = attrs.field(default=None, validator=_opt_dimension("height", "DL §3.5"))
    extensions: Mapping[str, Any] = _ext()

    def _fields(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "text": self.text,
            "icon": self.icon and self.icon.to_dict(),
            "thumbnail": self.thumbnail and self.thumbnail.to_dict(),
            "width": self.width,
            "height": self.height,
        }


def _check_custom_type(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    _url(value, "type", "DL §3.7")


@attrs.frozen(kw_only=True)
class CustomItem(_Item):
    """An item of a custom type, named by a URL (DL §3.7); *fields* are sent as given."""

    TYPE: ClassVar[str] = ""
    SPEC: ClassVar[str] = "DL §3.7"

    item_type: str = attrs.field(validator=_check_custom_type)
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_extensions)
    extensions: Mapping[str, Any] = _ext()

    @property
    def type(self) -> str:
        """The custom type URL."""
        return self.item_type

    def _fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if k != "type"}


#: Any content item.
ContentItem = Union[Link, LtiResourceLink, File, HtmlFragment, Image, CustomItem]  # noqa: UP007


def is_content_item(value: object) -> bool:
    """Whether *value* is one of the content item records."""
    return isinstance(value, _Item)
