"""Deep Linking 2.0 responses: typed content items, settings checks, the signed JWT, the form.

After an ``LtiDeepLinkingRequest`` launch the tool shows a picker, then returns the
chosen items to the platform as a signed ``LtiDeepLinkingResponse`` posted by the
browser to ``deep_link_return_url`` (DL §2.3, §4.5; Sec §5.2)::

    from credlti.lti.deep_linking import Link, auto_submit_form, build_response

    response = build_response(
        launch.claims, [Link(url="https://tool.example/a", title="A")],
        key=key_set.current, client_id=registration.client_id,
        now=clock(), nonce=secrets.token_urlsafe(16),
    )
    html = response.form_html()     # answer the browser with this page

Rules of this module:

1. Pure: the caller passes ``now``, the nonce and the key; nothing reads a clock or
   randomness.
2. Items check their own shape when built (:class:`~credlti.errors.InvalidContentItemError`);
   :func:`check_items` checks them against the request's settings
   (:class:`~credlti.errors.ContentItemNotAcceptedError` naming the item index and
   the rule), and :func:`build_response` always runs it.
3. The auto-submit page escapes every value it writes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Union

import attrs

from credlti.errors import (
    ConfigurationError,
    ContentItemNotAcceptedError,
    InvalidClaimError,
    InvalidContentItemError,
)
from credlti.lti._claims import (
    DEPLOYMENT_ID,
    MESSAGE_TYPE,
    VERSION,
    DeepLinkingSettings,
    LaunchClaims,
)
from credlti.lti._records import check_url
from credlti.lti.keys import ToolKey

__all__ = [
    "CONTENT_ITEMS_CLAIM",
    "DATA_CLAIM",
    "DL_CLAIM",
    "ContentItem",
    "CustomItem",
    "DeepLinkingResponse",
    "Embed",
    "File",
    "HtmlFragment",
    "Icon",
    "Iframe",
    "Image",
    "LineItem",
    "Link",
    "LtiResourceLink",
    "TimeWindow",
    "Window",
    "auto_submit_form",
    "build_response",
    "check_items",
    "response_claims",
]

#: Prefix of the deep-linking claims.
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
#: The content items claim (DL §4.5.6).
CONTENT_ITEMS_CLAIM = DL_CLAIM + "content_items"
#: The echoed ``data`` claim (DL §4.5.5).
DATA_CLAIM = DL_CLAIM + "data"

RESPONSE_MESSAGE_TYPE = "LtiDeepLinkingResponse"
_DEFAULT_LIFETIME = 300
_MAX_LIFETIME = 600


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
class LineItem:
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
    line_item: LineItem | None = None
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


# --------------------------------------------------------------------------- settings checks


def _media_type_matches(media_type: str, accepted: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    if "/" not in base:
        return False
    kind = base.split("/", 1)[0]
    for pattern in accepted.split(","):
        rule = pattern.split(";", 1)[0].strip().lower()
        if rule in ("*/*", "*", base) or (rule.endswith("/*") and rule[:-2] == kind):
            return True
    return False


def _refuse(index: int | None, rule: str, message: str) -> ContentItemNotAcceptedError:
    where = "the content items" if index is None else f"content item {index}"
    return ContentItemNotAcceptedError(
        f"{where}: {message}", details={"index": index, "rule": rule}
    )


def check_items(settings: DeepLinkingSettings, items: Sequence[ContentItem]) -> None:
    """Check *items* against the request's settings (DL §4.4.1; checklist C3).

    - every ``type`` is in ``accept_types``;
    - ``accept_multiple`` false: at most one item;
    - ``accept_lineitem`` false: no ``lineItem``;
    - ``file`` items' ``mediaType`` matches ``accept_media_types`` (wildcards such as
      ``image/*`` allowed);
    - every presentation used (``window``, ``iframe``, ``embed``) is in
      ``accept_presentation_document_targets``.

    Raises:
        ContentItemNotAcceptedError: An item breaks a rule; ``details`` has the item
            ``index`` and the ``rule``.
    """
    if settings.accept_multiple is False and len(items) > 1:
        raise _refuse(
            None,
            "accept_multiple",
            f"the platform accepts one item (accept_multiple is false), got {len(items)}",
        )
    accept_types = set(settings.accept_types)
    targets = set(settings.accept_presentation_document_targets)
    checked: Sequence[Any] = items
    for index, item in enumerate(checked):
        if not isinstance(item, _Item):
            msg = f"content item {index} is a {type(item).__name__}, not a content item record"
            raise TypeError(msg)
        if item.type not in accept_types:
            raise _refuse(
                index,
                "accept_types",
                f"type {item.type!r} is not in accept_types {sorted(accept_types)}",
            )
        for target in item.presentations():
            if target not in targets:
                raise _refuse(
                    index,
                    "accept_presentation_document_targets",
                    f"presentation {target!r} is not in accept_presentation_document_targets "
                    f"{sorted(targets)}",
                )
        if (
            isinstance(item, LtiResourceLink)
            and item.line_item is not None
            and settings.accept_lineitem is False
        ):
            raise _refuse(
                index,
                "accept_lineitem",
                "the platform does not accept line items (accept_lineitem is false)",
            )
        if isinstance(item, File) and settings.accept_media_types:
            if item.media_type is None:
                raise _refuse(
                    index,
                    "accept_media_types",
                    f"the platform accepts only {settings.accept_media_types!r}: set media_type",
                )
            if not _media_type_matches(item.media_type, settings.accept_media_types):
                raise _refuse(
                    index,
                    "accept_media_types",
                    f"media type {item.media_type!r} is not in "
                    f"accept_media_types {settings.accept_media_types!r}",
                )


# --------------------------------------------------------------------------- the response


@attrs.frozen(kw_only=True)
class DeepLinkingResponse:
    """A signed deep-linking response, ready to post back (DL §2.3).

    Attributes:
        jwt: The signed ``LtiDeepLinkingResponse`` (not in the repr).
        return_url: ``deep_link_return_url`` from the request.
        claims: The signed claims.
    """

    jwt: str = attrs.field(repr=False)
    return_url: str
    claims: Mapping[str, Any] = attrs.field(repr=False)

    def form_html(self, *, csp_nonce: str | None = None) -> str:
        """The auto-submitting page that posts :attr:`jwt` (see :func:`auto_submit_form`)."""
        return auto_submit_form(self.return_url, self.jwt, csp_nonce=csp_nonce)


_UNSET: Any = object()


def response_claims(
    settings: DeepLinkingSettings,
    items: Sequence[ContentItem],
    *,
    client_id: str,
    issuer: str,
    deployment_id: str,
    now: datetime,
    nonce: str,
    lifetime: int = _DEFAULT_LIFETIME,
    msg: str | None = None,
    log: str | None = None,
    errormsg: str | None = None,
    errorlog: str | None = None,
    data: Any = _UNSET,
) -> dict[str, Any]:
    """The claims of an ``LtiDeepLinkingResponse`` (DL §4.5; Sec §5.2.2).

    ``iss`` is the client id, ``aud`` the platform issuer; no ``azp`` is sent (DL
    App B's ``azp`` = client id contradicts Sec §5.2.2). ``data`` is echoed exactly
    when the request carried it (pass *data* to override what *settings* holds).
    """
    check_items(settings, items)
    if not nonce:
        error = "nonce must be a fresh random value"
        raise ConfigurationError(error, spec_ref="Sec §5.2.2")
    if not 0 < lifetime <= _MAX_LIFETIME:
        error = f"lifetime must be 1-{_MAX_LIFETIME} seconds"
        raise ConfigurationError(error, spec_ref="Sec §5.2.2")
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": issuer,
        "iat": issued,
        "exp": issued + lifetime,
        "nonce": nonce,
        DEPLOYMENT_ID: deployment_id,
        MESSAGE_TYPE: RESPONSE_MESSAGE_TYPE,
        VERSION: "1.3.0",
        CONTENT_ITEMS_CLAIM: [item.to_dict() for item in items],
    }
    echoed = settings.data if data is _UNSET else data
    if echoed is not None:
        claims[DATA_CLAIM] = echoed
    texts: tuple[tuple[str, Any], ...] = (
        ("msg", msg),
        ("log", log),
        ("errormsg", errormsg),
        ("errorlog", errorlog),
    )
    for name, value in texts:
        if value is not None:
            if not isinstance(value, str):
                error = f"{name} must be plain text"
                raise ConfigurationError(error, spec_ref="DL §4.5")
            claims[DL_CLAIM + name] = value
    return claims


def build_response(
    claims_or_settings: LaunchClaims | DeepLinkingSettings,
    items: Iterable[ContentItem],
    *,
    key: ToolKey,
    client_id: str,
    now: datetime,
    nonce: str,
    deployment_id: str | None = None,
    issuer: str | None = None,
    msg: str | None = None,
    log: str | None = None,
    errormsg: str | None = None,
    errorlog: str | None = None,
    lifetime: int = _DEFAULT_LIFETIME,
) -> DeepLinkingResponse:
    """Check the items and sign the ``LtiDeepLinkingResponse`` (DL §4.5; Sec §5.2).

    Args:
        claims_or_settings: The deep-linking launch's claims (issuer, deployment and
            settings are read from them) or its :class:`DeepLinkingSettings` (then
            pass *issuer* and *deployment_id*).
        items: The chosen items; an empty list tells the platform nothing was chosen
            (send it on cancel too, DL §2.3).
        key: The tool's current signing key (its kid goes in the header).
        client_id: The tool's client id at this platform (the ``iss``).
        now: The current time.
        nonce: A fresh random value (``secrets.token_urlsafe(16)``).
        deployment_id: Overrides the launch's ``deployment_id``.
        issuer: Overrides the launch's issuer (the ``aud``).
        msg: Text the platform may show the user.
        log: Text the platform may log.
        errormsg: Error text for the user.
        errorlog: Error text for the log.
        lifetime: Seconds until ``exp`` (300 by default, at most 600).

    Raises:
        ContentItemNotAcceptedError: An item breaks the request's settings.
        ConfigurationError: Not a deep-linking request, or issuer/deployment missing.
        InvalidClaimError: ``deep_link_return_url`` is not an https URL.
    """
    if isinstance(claims_or_settings, LaunchClaims):
        settings = claims_or_settings.deep_linking
        if settings is None:
            error = (
                f"a {claims_or_settings.message_type} launch has no deep_linking_settings; "
                "only an LtiDeepLinkingRequest can be answered with a deep-linking response"
            )
            raise ConfigurationError(error, spec_ref="DL §4.4")
        issuer = issuer or claims_or_settings.issuer
        deployment_id = deployment_id or claims_or_settings.deployment_id
    else:
        settings = claims_or_settings
    if not issuer or not deployment_id:
        error = "pass issuer and deployment_id when building from DeepLinkingSettings"
        raise ConfigurationError(error, spec_ref="DL §4.5")
    _check_return_url(settings.deep_link_return_url)
    payload = response_claims(
        settings,
        list(items),
        client_id=client_id,
        issuer=issuer,
        deployment_id=deployment_id,
        now=now,
        nonce=nonce,
        lifetime=lifetime,
        msg=msg,
        log=log,
        errormsg=errormsg,
        errorlog=errorlog,
    )
    return DeepLinkingResponse(
        jwt=key.sign_jwt(payload),
        return_url=settings.deep_link_return_url,
        claims=MappingProxyType(payload),
    )


def _check_return_url(url: object) -> None:
    try:
        check_url(url, "deep_link_return_url")
    except ConfigurationError as exc:
        raise InvalidClaimError(
            "deep_linking_settings.deep_link_return_url must be an absolute https URL",
            spec_ref="Core §3.5",
            details={"claim": "deep_linking_settings.deep_link_return_url"},
        ) from exc


def auto_submit_form(return_url: str, jwt: str, *, csp_nonce: str | None = None) -> str:
    """A minimal HTML page that POSTs ``JWT=<jwt>`` to *return_url* (DL §2.3; Sec §5.2.1).

    The return URL is used exactly as given, query string included. Every value is
    HTML-escaped. Without JavaScript a button submits the form. Pass *csp_nonce*
    when your Content-Security-Policy requires script nonces.

    Raises:
        InvalidClaimError: *return_url* is not an https URL (``javascript:`` and
            friends never reach the page).
    """
    _check_return_url(return_url)
    action = html.escape(return_url, quote=True)
    value = html.escape(jwt, quote=True)
    nonce_attr = f' nonce="{html.escape(csp_nonce, quote=True)}"' if csp_nonce else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        '<head><meta charset="utf-8"><title>Returning to the platform</title></head>\n'
        "<body>\n"
        f'<form id="credlti-deep-link" method="post" action="{action}">\n'
        f'<input type="hidden" name="JWT" value="{value}">\n'
        '<noscript><button type="submit">Continue</button></noscript>\n'
        "</form>\n"
        f'<script{nonce_attr}>document.getElementById("credlti-deep-link").submit();</script>\n'
        "</body>\n"
        "</html>\n"
    )
