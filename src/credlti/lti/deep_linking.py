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
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from credlti._text import safe_excerpt
from credlti.errors import (
    ConfigurationError,
    ContentItemNotAcceptedError,
    InvalidClaimError,
)
from credlti.lti._claims import (
    DEPLOYMENT_ID,
    MESSAGE_TYPE,
    VERSION,
    DeepLinkingSettings,
    LaunchClaims,
)
from credlti.lti._content_items import (
    ContentItem,
    CustomItem,
    Embed,
    File,
    HtmlFragment,
    Icon,
    Iframe,
    Image,
    LineItemDefinition,
    Link,
    LtiResourceLink,
    TimeWindow,
    Window,
    is_content_item,
)
from credlti.lti._records import check_url
from credlti.lti._toolkey import ToolKey

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
    "LineItemDefinition",
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
        if not is_content_item(item):
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
                    f"the platform accepts only '{safe_excerpt(settings.accept_media_types)}': "
                    "set media_type",
                )
            if not _media_type_matches(item.media_type, settings.accept_media_types):
                raise _refuse(
                    index,
                    "accept_media_types",
                    f"media type {item.media_type!r} is not in "
                    f"accept_media_types '{safe_excerpt(settings.accept_media_types)}'",
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
