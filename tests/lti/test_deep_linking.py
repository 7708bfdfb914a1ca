"""Deep Linking responses: items, settings checks, the signed JWT, the auto-submit form."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.errors import (
    ConfigurationError,
    ContentItemNotAcceptedError,
    InvalidClaimError,
    InvalidContentItemError,
)
from credlti.lti import DeepLinkingSettings, LaunchContext
from credlti.lti._jws import parse_compact
from credlti.lti.deep_linking import (
    CONTENT_ITEMS_CLAIM,
    DATA_CLAIM,
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
    auto_submit_form,
    build_response,
    check_items,
)
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.testing import SimulatedPlatform, SimulatedPlatformError

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
KEY = generate_key(now=NOW, state=KeyState.CURRENT)
OTHER_KEY = generate_key(now=NOW, alg="ES256", state=KeyState.CURRENT)
RETURN_URL = "https://platform.example.edu/deep_links?session=abc&x=1"
MESSAGE_TYPE = "https://purl.imsglobal.org/spec/lti/claim/message_type"


def _settings(**changes: Any) -> DeepLinkingSettings:
    values: dict[str, Any] = {
        "deep_link_return_url": RETURN_URL,
        "accept_types": ("link", "file", "html", "ltiResourceLink", "image"),
        "accept_presentation_document_targets": ("iframe", "window", "embed"),
        "accept_multiple": True,
        "data": "opaque-data-1",
    }
    values.update(changes)
    return DeepLinkingSettings(**values)


def _deep_link_launch(platform: SimulatedPlatform, **kwargs: Any) -> LaunchContext[Any, Any]:
    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
    form = platform.deep_linking_launch(redirect, **kwargs)
    return tool.handle_callback(form, redirect.cookie_value)


def _platform() -> SimulatedPlatform:
    platform = SimulatedPlatform()
    platform.trust_tool_keys(jwks([KEY]))
    return platform


def _respond(launch: LaunchContext[Any, Any], items: list[ContentItem], **kwargs: Any) -> str:
    kwargs.setdefault("nonce", "nonce-1")
    kwargs.setdefault("now", NOW)
    return build_response(launch.claims, items, key=KEY, client_id="credlti-tool", **kwargs).jwt


# ----------------------------------------------------------------------- items


def test_every_item_type_serialises_to_dl_section_3() -> None:
    """Each item's to_dict uses the spec's camelCase names and drops absent fields."""
    icon = Icon(url="https://tool.example/i.png", width=16, height=16)
    assert Link(
        url="https://tool.example/a",
        title="A",
        icon=icon,
        window=Window(target_name="t", window_features="popup"),
        iframe=Iframe(src="https://tool.example/a", width=400),
        embed=Embed(html="<b>a</b>"),
    ).to_dict() == {
        "type": "link",
        "url": "https://tool.example/a",
        "title": "A",
        "icon": {"url": "https://tool.example/i.png", "width": 16, "height": 16},
        "window": {"targetName": "t", "windowFeatures": "popup"},
        "iframe": {"src": "https://tool.example/a", "width": 400},
        "embed": {"html": "<b>a</b>"},
    }
    start = datetime(2026, 2, 1, tzinfo=timezone.utc)
    assert LtiResourceLink(
        title="Quiz",
        custom={"week": "1", "empty": ""},
        line_item=LineItemDefinition(score_maximum=10, label="Quiz", resource_id="q1", tag="quiz"),
        available=TimeWindow(start=start),
        submission=TimeWindow(end="2026-03-01T00:00:00Z"),
        iframe=Iframe(height=600),
    ).to_dict() == {
        "type": "ltiResourceLink",
        "title": "Quiz",
        "custom": {"week": "1", "empty": ""},
        "lineItem": {"scoreMaximum": 10, "label": "Quiz", "resourceId": "q1", "tag": "quiz"},
        "available": {"startDateTime": "2026-02-01T00:00:00+00:00"},
        "submission": {"endDateTime": "2026-03-01T00:00:00Z"},
        "iframe": {"height": 600},
    }
    assert File(
        url="https://tool.example/f.pdf", media_type="application/pdf", expires_at=start
    ).to_dict() == {
        "type": "file",
        "url": "https://tool.example/f.pdf",
        "mediaType": "application/pdf",
        "expiresAt": "2026-02-01T00:00:00+00:00",
    }
    assert HtmlFragment(html="<p>x</p>").to_dict() == {"type": "html", "html": "<p>x</p>"}
    assert Image(url="https://tool.example/i.png", width=10, height=20).to_dict() == {
        "type": "image",
        "url": "https://tool.example/i.png",
        "width": 10,
        "height": 20,
    }
    assert CustomItem(
        item_type="https://tool.example/types/thing",
        fields={"a": 1},
        extensions={"https://tool.example/ext": True},
    ).to_dict() == {
        "type": "https://tool.example/types/thing",
        "a": 1,
        "https://tool.example/ext": True,
    }


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Link(url="http://tool.example/a"), "link.url"),
        (lambda: Link(url="javascript:alert(1)"), "link.url"),
        (lambda: Link(url="https://t.example/a", iframe=Iframe()), "iframe.src"),
        (lambda: LtiResourceLink(iframe=Iframe(src="https://t.example/a")), "iframe.src"),
        (lambda: LtiResourceLink(custom={"a": None}), "custom.a"),
        (lambda: LtiResourceLink(custom={"a": 1}), "custom.a"),
        (lambda: LineItemDefinition(score_maximum=0), "lineItem.scoreMaximum"),
        (lambda: LineItemDefinition(score_maximum=float("nan")), "lineItem.scoreMaximum"),
        (lambda: Image(url="https://t.example/i", width=-1), "width"),
        (lambda: HtmlFragment(html=""), "html"),
        (lambda: Embed(html=""), "embed.html"),
        (lambda: TimeWindow(start=datetime(2026, 1, 1)), "start"),
        (lambda: CustomItem(item_type="thing"), "type"),
        (lambda: Link(url="https://t.example/a", extensions={"url": "x"}).to_dict(), "url"),
    ],
)
def test_malformed_items_are_refused_with_the_field(build: Any, field: str) -> None:
    """Items check their own shape (https URLs, string customs, scoreMaximum > 0...)."""
    with pytest.raises(InvalidContentItemError) as caught:
        build()
    assert caught.value.details["field"] == field


# ----------------------------------------------------------------------- settings checks


def _refused(settings: DeepLinkingSettings, items: list[ContentItem]) -> dict[str, Any]:
    with pytest.raises(ContentItemNotAcceptedError) as caught:
        check_items(settings, items)
    return dict(caught.value.details)


def test_item_type_must_be_accepted() -> None:
    """An item whose type is not in accept_types is refused with its index."""
    details = _refused(
        _settings(accept_types=("link",)),
        [Link(url="https://t.example/a"), Image(url="https://t.example/i")],
    )
    assert details == {"index": 1, "rule": "accept_types"}


def test_accept_multiple_false_allows_one_item() -> None:
    """accept_multiple false: one item passes, two are refused."""
    single = _settings(accept_multiple=False)
    check_items(single, [Link(url="https://t.example/a")])
    details = _refused(single, [Link(url="https://t.example/a"), Link(url="https://t.example/b")])
    assert details == {"index": None, "rule": "accept_multiple"}


def test_line_items_refused_when_accept_lineitem_is_false() -> None:
    """accept_lineitem false forbids lineItem; absent or true allows it."""
    item = LtiResourceLink(line_item=LineItemDefinition(score_maximum=5))
    assert _refused(_settings(accept_lineitem=False), [item])["rule"] == "accept_lineitem"
    check_items(_settings(accept_lineitem=True), [item])
    check_items(_settings(), [item])


@pytest.mark.parametrize(
    ("item", "target"),
    [
        (Link(url="https://t.example/a", embed=Embed(html="x")), "embed"),
        (Link(url="https://t.example/a", window=Window()), "window"),
        (LtiResourceLink(iframe=Iframe(width=1)), "iframe"),
    ],
)
def test_presentation_targets_must_be_accepted(item: ContentItem, target: str) -> None:
    """window/iframe/embed must be in accept_presentation_document_targets."""
    others = tuple(t for t in ("iframe", "window", "embed") if t != target)
    details = _refused(_settings(accept_presentation_document_targets=others), [item])
    assert details == {"index": 0, "rule": "accept_presentation_document_targets"}


@pytest.mark.parametrize(
    ("accepted", "media_type", "ok"),
    [
        ("image/*,text/html", "image/png", True),
        ("image/*,text/html", "text/html; charset=utf-8", True),
        ("image/*,text/html", "application/pdf", False),
        ("IMAGE/PNG", "image/png", True),
        ("*/*", "application/zip", True),
        ("image/*", "imagex/png", False),
        ("application/pdf", None, False),
    ],
)
def test_file_media_types_match_accept_media_types(
    accepted: str, media_type: str | None, ok: bool
) -> None:
    """File items must match accept_media_types, wildcards included."""
    item = File(url="https://t.example/f", media_type=media_type)
    settings = _settings(accept_media_types=accepted)
    if ok:
        check_items(settings, [item])
    else:
        assert _refused(settings, [item]) == {"index": 0, "rule": "accept_media_types"}


# ----------------------------------------------------------------------- the response JWT


def test_response_claims_and_header() -> None:
    """The JWT has kid, iss=client_id, aud=issuer, nonce, deployment, type, version, data."""
    response = build_response(
        _settings(),
        [Link(url="https://t.example/a")],
        key=KEY,
        client_id="tool-1",
        issuer="https://platform.example.edu",
        deployment_id="dep-1",
        now=NOW,
        nonce="n-1",
        msg="Added one link",
        errorlog="none",
    )
    jws = parse_compact(response.jwt)
    now = int(NOW.timestamp())
    assert jws.header == {"alg": "RS256", "typ": "JWT", "kid": KEY.kid}
    assert jws.payload == {
        "iss": "tool-1",
        "aud": "https://platform.example.edu",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "dep-1",
        MESSAGE_TYPE: "LtiDeepLinkingResponse",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        CONTENT_ITEMS_CLAIM: [{"type": "link", "url": "https://t.example/a"}],
        DATA_CLAIM: "opaque-data-1",
        "https://purl.imsglobal.org/spec/lti-dl/claim/msg": "Added one link",
        "https://purl.imsglobal.org/spec/lti-dl/claim/errorlog": "none",
    }
    assert "azp" not in jws.payload
    assert response.return_url == RETURN_URL
    assert response.jwt not in repr(response)


def test_no_data_claim_when_the_request_had_none() -> None:
    """dl:data is echoed only when the request carried data."""
    response = build_response(
        _settings(data=None), [], key=KEY, client_id="c", issuer="https://p.example",
        deployment_id="d", now=NOW, nonce="n",
    )  # fmt: skip
    assert DATA_CLAIM not in response.claims
    assert response.claims[CONTENT_ITEMS_CLAIM] == []


def test_settings_without_issuer_or_a_non_dl_launch_are_refused() -> None:
    """Building from settings needs issuer and deployment; resource-link launches have none."""
    with pytest.raises(ConfigurationError, match="issuer and deployment_id"):
        build_response(_settings(), [], key=KEY, client_id="c", now=NOW, nonce="n")
    platform = _platform()
    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")
    launch = tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
    with pytest.raises(ConfigurationError, match="deep_linking_settings"):
        _respond(launch, [])


def test_non_https_return_url_is_refused() -> None:
    """A deep_link_return_url that is not https cannot receive the response."""
    with pytest.raises(InvalidClaimError):
        build_response(
            _settings(deep_link_return_url="javascript:alert(1)"), [], key=KEY,
            client_id="c", issuer="https://p.example", deployment_id="d", now=NOW, nonce="n",
        )  # fmt: skip


# ----------------------------------------------------------------------- certification §I-4


def test_cert_31_deep_linking_request_is_accepted_and_validated() -> None:
    """Cert 31: the deep-linking request validates and exposes its settings."""
    launch = _deep_link_launch(_platform())
    settings = launch.claims.deep_linking
    assert launch.claims.message_type == "LtiDeepLinkingRequest"
    assert settings is not None
    assert settings.deep_link_return_url == "https://platform.example.edu/deep_links"
    assert settings.data == "opaque-data-1"


def test_cert_32_response_is_auto_posted_as_jwt_to_the_return_url() -> None:
    """Cert 32: the page POSTs a single JWT field to deep_link_return_url."""
    launch = _deep_link_launch(_platform())
    response = build_response(
        launch.claims, [], key=KEY, client_id="credlti-tool", now=NOW, nonce="n"
    )
    page = response.form_html()
    assert 'method="post"' in page
    assert 'action="https://platform.example.edu/deep_links"' in page
    assert re.findall(r'name="([^"]+)"', page) == ["JWT"]
    assert f'value="{response.jwt}"' in page


def test_cert_33_response_format_is_valid() -> None:
    """Cert 33: message type LtiDeepLinkingResponse, version 1.3.0, accepted by the platform."""
    platform = _platform()
    token = _respond(_deep_link_launch(platform), [], now=platform.clock())
    payload = parse_compact(token).payload
    assert payload[MESSAGE_TYPE] == "LtiDeepLinkingResponse"
    assert platform.verify_deep_linking_response(token) == []


def test_cert_34_timestamps_are_current_and_short_lived() -> None:
    """Cert 34: iat is now, exp is five minutes later; after that the platform refuses it."""
    platform = _platform()
    token = _respond(_deep_link_launch(platform), [], now=platform.clock())
    payload = parse_compact(token).payload
    assert payload["iat"] == int(platform.clock().timestamp())
    assert payload["exp"] - payload["iat"] == 300
    platform.clock.advance(311)
    with pytest.raises(SimulatedPlatformError, match="expired"):
        platform.verify_deep_linking_response(token)


def test_cert_35_signature_is_rs256_with_a_published_kid() -> None:
    """Cert 35: RS256 with the header kid in the tool JWKS; other keys and tampering fail."""
    platform = _platform()
    launch = _deep_link_launch(platform)
    token = _respond(launch, [], now=platform.clock())
    assert parse_compact(token).header["alg"] == "RS256"
    assert parse_compact(token).header["kid"] in {k["kid"] for k in jwks([KEY])["keys"]}
    platform.verify_deep_linking_response(token)

    foreign = build_response(
        launch.claims, [], key=OTHER_KEY, client_id="credlti-tool", now=platform.clock(), nonce="x"
    ).jwt
    with pytest.raises(SimulatedPlatformError, match="not in the tool's key set"):
        platform.verify_deep_linking_response(foreign)
    header, _, signature = _respond(launch, [], now=platform.clock(), nonce="y").split(".")
    other_payload = _respond(
        launch, [Link(url="https://evil.example/")], now=platform.clock(), nonce="y"
    )
    tampered = f"{header}.{other_payload.split('.')[1]}.{signature}"
    with pytest.raises(SimulatedPlatformError, match="signature"):
        platform.verify_deep_linking_response(tampered)


def test_cert_36_required_claims_are_verified() -> None:
    """Cert 36: iss, aud, nonce (not replayed), deployment and echoed data are checked."""
    platform = _platform()
    launch = _deep_link_launch(platform)
    token = _respond(launch, [], now=platform.clock())
    payload = parse_compact(token).payload
    assert payload["iss"] == "credlti-tool"
    assert payload["aud"] == platform.issuer
    assert payload["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "deployment-1"
    assert payload[DATA_CLAIM] == "opaque-data-1"
    platform.verify_deep_linking_response(token)
    with pytest.raises(SimulatedPlatformError, match="replay"):
        platform.verify_deep_linking_response(token)
    wrong_iss = build_response(
        launch.claims, [], key=KEY, client_id="someone-else", now=platform.clock(), nonce="z"
    ).jwt
    with pytest.raises(SimulatedPlatformError, match="iss"):
        platform.verify_deep_linking_response(wrong_iss)
    with pytest.raises(SimulatedPlatformError, match="data"):
        platform.verify_deep_linking_response(
            _respond(launch, [], now=platform.clock(), nonce="w"), data="other-data"
        )


def test_cert_37_content_items_obey_the_accept_settings() -> None:
    """Cert 37: the chosen items arrive unchanged, and settings violations are refused."""
    platform = _platform()
    launch = _deep_link_launch(
        platform,
        settings={
            "deep_link_return_url": f"{platform.issuer}/deep_links",
            "accept_types": ["ltiResourceLink"],
            "accept_presentation_document_targets": ["iframe"],
            "accept_multiple": False,
            "accept_lineitem": True,
            "data": {"opaque": ["structured", 1]},
        },
    )
    item = LtiResourceLink(
        title="Quiz", line_item=LineItemDefinition(score_maximum=100), iframe=Iframe(height=500)
    )
    token = _respond(launch, [item], now=platform.clock())
    assert platform.verify_deep_linking_response(token) == [item.to_dict()]
    with pytest.raises(ContentItemNotAcceptedError):
        _respond(launch, [item, item], now=platform.clock())
    with pytest.raises(ContentItemNotAcceptedError):
        _respond(launch, [Link(url="https://t.example/a")], now=platform.clock())


# ----------------------------------------------------------------------- the form


HOSTILE = "\"><script>alert(1)</script><img src=x onerror=alert(2)>&amp;'`"


def test_form_escapes_hostile_values_and_keeps_the_query_string() -> None:
    """Every value is HTML-escaped; the return URL's query string is kept."""
    url = f"https://platform.example.edu/return?a=1&b={HOSTILE}"
    page = auto_submit_form(url, HOSTILE, csp_nonce=HOSTILE)
    assert "<script>alert" not in page
    assert "<img" not in page
    assert page.count("<script") == 1
    action = re.search(r'action="([^"]*)"', page)
    assert action is not None
    assert html.unescape(action.group(1)) == url
    value = re.search(r'name="JWT" value="([^"]*)"', page)
    assert value is not None
    assert html.unescape(value.group(1)) == HOSTILE
    assert '<noscript><button type="submit">' in page


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_form_value_round_trips_any_text(jwt: str) -> None:
    """Whatever the JWT text, it cannot break out of the attribute and unescapes intact."""
    page = auto_submit_form(RETURN_URL, jwt)
    value = re.search(r'name="JWT" value="([^"]*)"', page)
    assert value is not None
    assert html.unescape(value.group(1)) == jwt
    assert page.count("<script") == 1


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "http://platform.example.edu/x", "data:text/html,x", ""]
)
def test_form_refuses_non_https_return_urls(url: str) -> None:
    """The form only posts to https (or loopback http) URLs."""
    with pytest.raises(InvalidClaimError):
        auto_submit_form(url, "a.b.c")
