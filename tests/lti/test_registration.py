"""LTI Dynamic Registration, tool side, against a platform written from the spec.

The platform (tests/lti/registration_platform.py) serves the configurations Canvas
and Moodle publish (tests/lti/vectors/registration/, each naming its source) and
checks the registration request it receives.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.adapters.sql import SqlLaunchStorage, create_engine, upgrade
from credlti.errors import (
    ConfigurationError,
    CredltiError,
    InvalidRegistrationRequestError,
    MalformedRegistrationResponseError,
    PlatformConfigurationError,
    RegistrationCallFailedError,
    RegistrationConflictError,
    RegistrationIssuerMismatchError,
    RegistrationRejectedError,
    StorageConflictError,
)
from credlti.lti import Deployment, Registration
from credlti.lti.ports import RegistrationSink
from credlti.lti.registration import (
    CANVAS_PRIVACY_LEVEL,
    LTI_TOOL_CONFIGURATION,
    AsyncDynamicRegistration,
    DynamicRegistration,
    RegistrationInitiation,
    RegistrationResult,
    ToolMessage,
    ToolSettings,
    completion_page,
    read_initiation,
)
from tests.lti.registration_platform import SpecPlatform

VECTORS = Path(__file__).parent / "vectors" / "registration"
TOKEN = "reg-token-0123456789"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
UNKNOWN_SCOPE = "https://tool.example/scope/not-offered"

SETTINGS = ToolSettings(
    client_name="Quiz Tool",
    initiate_login_uri="https://tool.example/lti/login",
    redirect_uris=("https://tool.example/lti/launch",),
    jwks_uri="https://tool.example/.well-known/jwks.json",
    target_link_uri="https://tool.example/lti/launch",
    messages=(
        ToolMessage(
            type="LtiResourceLinkRequest",
            label="Quiz",
            placements=("course_navigation", "not_a_placement"),
            custom_parameters={"context_id": "$Context.id"},
        ),
        ToolMessage(
            type="LtiDeepLinkingRequest",
            target_link_uri="https://tool.example/lti/deep-link",
            placements=("editor_button",),
        ),
        ToolMessage(type="LtiSubmissionReviewRequest"),
    ),
    claims=("iss", "sub", "name", "email"),
    scopes=(AGS_SCORE, NRPS, UNKNOWN_SCOPE),
    logo_uri="https://tool.example/logo.svg",
    contacts=("admin@tool.example",),
    privacy_level="public",
    canvas_tool_id="quiz-tool",
)


def vector(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def platform_for(name: str, **kwargs: Any) -> SpecPlatform:
    data = vector(name)
    kwargs.setdefault("tokens", {TOKEN})
    return SpecPlatform(
        data["configuration_url"],
        copy.deepcopy(data["openid_configuration"]),
        answer_extra=data["registration_response_extra"],
        **kwargs,
    )


def storage() -> MemoryLaunchStorage[Registration, Deployment]:
    return MemoryLaunchStorage()


def params(platform: SpecPlatform, token: str | None = TOKEN) -> dict[str, str]:
    out = {"openid_configuration": platform.configuration_url}
    if token is not None:
        out["registration_token"] = token
    return out


def register(
    platform: SpecPlatform,
    store: RegistrationSink,
    *,
    asynchronous: bool = False,
    token: str | None = TOKEN,
    settings: ToolSettings = SETTINGS,
    deadline: float | None = 5.0,
) -> RegistrationResult:
    if asynchronous:
        assert isinstance(store, MemoryLaunchStorage)  # its async form sees the same data
        memory = store

        async def main() -> RegistrationResult:
            async with httpx.AsyncClient(transport=platform.async_transport()) as client:
                registrar = AsyncDynamicRegistration(
                    settings,
                    AsyncMemoryLaunchStorage.over(memory),
                    http_client=client,
                    deadline=deadline,
                )
                return await registrar.register(params(platform, token))

        return asyncio.run(main())
    with httpx.Client(transport=platform.transport()) as client:
        return DynamicRegistration(settings, store, http_client=client, deadline=deadline).register(
            params(platform, token)
        )


def stored(store: MemoryLaunchStorage[Registration, Deployment]) -> list[Registration]:
    return [r for r in [store.get_registration(i, c) for i, c in store._registrations] if r]


# --------------------------------------------------------------------------- real shapes


@pytest.mark.parametrize("asynchronous", [False, True])
def test_canvas_configuration_registers_and_stores_without_deployment(asynchronous: bool) -> None:
    platform = platform_for("canvas")
    store = storage()

    result = register(platform, store, asynchronous=asynchronous)

    assert platform.problems == []
    reg = result.registration
    assert reg.issuer == "https://canvas.instructure.com"
    assert reg.client_id == "10000000000001"
    assert reg.auth_endpoint == "https://canvas.instructure.com/api/lti/authorize_redirect"
    assert reg.jwks_uri == "https://canvas.instructure.com/login/oauth2/jwks"
    assert reg.token_endpoint == "https://canvas.instructure.com/login/oauth2/token"
    assert reg.redirect_uris == SETTINGS.redirect_uris
    assert result.deployment is None  # Canvas assigns deployments on install
    assert store.get_registration(reg.issuer, reg.client_id) == reg
    assert result.platform.product_family_code == "canvas"
    # Only what Canvas supports was offered, and the result says what was dropped.
    assert result.dropped_scopes == (UNKNOWN_SCOPE,)
    assert result.dropped_messages == ("LtiSubmissionReviewRequest",)
    assert result.dropped_placements == ("LtiResourceLinkRequest:not_a_placement",)
    sent = platform.registered[0]
    assert sent["scope"].split() == [AGS_SCORE, NRPS]
    tool = sent[LTI_TOOL_CONFIGURATION]
    assert tool[CANVAS_PRIVACY_LEVEL] == "public"
    assert tool["https://canvas.instructure.com/lti/tool_id"] == "quiz-tool"
    assert tool["domain"] == "tool.example"
    assert [m["type"] for m in tool["messages"]] == [
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    ]
    assert tool["messages"][0]["placements"] == ["course_navigation"]
    assert tool["messages"][0]["custom_parameters"] == {"context_id": "$Context.id"}
    assert result.granted_scopes == (AGS_SCORE, NRPS)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_moodle_configuration_registers_registration_and_deployment(asynchronous: bool) -> None:
    platform = platform_for("moodle")
    store = storage()

    result = register(platform, store, asynchronous=asynchronous)

    assert platform.problems == []
    reg = result.registration
    assert reg.issuer == "https://school.example.edu/moodle"
    assert reg.auth_endpoint == "https://school.example.edu/moodle/mod/lti/auth.php"
    assert result.deployment == Deployment(deployment_id="7")
    assert store.get_deployment(reg, "7") == Deployment(deployment_id="7")
    # Moodle lists bare message types and no placements per type: placements are kept.
    assert result.dropped_placements == ()
    assert result.dropped_messages == ("LtiSubmissionReviewRequest",)


def test_bearer_token_and_content_type_reach_the_platform() -> None:
    platform = platform_for("moodle")
    register(platform, storage())

    (get, post) = platform.received
    assert get[0] == "GET"
    assert get[2]["authorization"] == f"Bearer {TOKEN}"
    assert post[0] == "POST"
    assert post[2]["authorization"] == f"Bearer {TOKEN}"
    assert post[2]["content-type"] == "application/json"
    assert json.loads(post[3])["client_name"] == "Quiz Tool"


def test_without_a_token_no_authorization_header_is_sent() -> None:
    platform = platform_for("canvas", tokens=None)
    register(platform, storage(), token=None)

    assert all("authorization" not in headers for _, _, headers, _ in platform.received)


def test_sql_storage_receives_registration_and_deployment() -> None:
    engine = create_engine("sqlite://")
    upgrade(engine)
    try:
        store = SqlLaunchStorage(engine)
        result = register(platform_for("moodle"), store)
        reg = result.registration
        assert store.get_registration(reg.issuer, reg.client_id) == reg
        assert store.get_deployment(reg, "7") is not None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- attacker cases


def test_issuer_that_is_not_a_prefix_of_the_configuration_url_is_refused() -> None:
    platform = platform_for("canvas")
    platform.configuration_url = "https://evil.example/api/lti/security/openid-configuration"
    store = storage()

    with pytest.raises(RegistrationIssuerMismatchError) as caught:
        register(platform, store)

    assert caught.value.spec_ref == "LTI-DR §3.5.1"
    assert [m for m, *_ in platform.received] == ["GET"]  # nothing was posted
    assert stored(store) == []


@pytest.mark.parametrize(
    "issuer",
    [
        "https://school.example.edu/moodle2",
        "https://school.example.edu/mood",
        "https://school.example.edu:8443/moodle",
        "https://school.example.edu/moodle?x=1",
        "http://school.example.edu/moodle",
    ],
)
def test_issuer_path_origin_query_and_scheme_must_match(issuer: str) -> None:
    platform = platform_for("moodle")
    platform.configuration["issuer"] = issuer

    with pytest.raises(PlatformConfigurationError):
        register(platform, storage())
    assert len(platform.received) == 1


@pytest.mark.parametrize(
    "field", ["registration_endpoint", "authorization_endpoint", "token_endpoint", "jwks_uri"]
)
def test_an_http_endpoint_is_refused(field: str) -> None:
    platform = platform_for("canvas")
    platform.configuration[field] = platform.configuration[field].replace("https:", "http:")

    with pytest.raises(PlatformConfigurationError) as caught:
        register(platform, storage())

    assert caught.value.details["field"] == field
    assert len(platform.received) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://canvas.instructure.com/api/lti/security/openid-configuration",
        "https://10.0.0.7/openid-configuration",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/openid-configuration",
        "https://2130706433/openid-configuration",
        "https://user@canvas.instructure.com/x",
        "javascript:alert(1)",
        "",
    ],
)
def test_a_configuration_url_the_tool_must_not_call_is_refused_before_any_request(
    url: str,
) -> None:
    platform = platform_for("canvas")
    with (
        httpx.Client(transport=platform.transport()) as client,
        pytest.raises(InvalidRegistrationRequestError),
    ):
        DynamicRegistration(SETTINGS, storage(), http_client=client).register(
            {"openid_configuration": url}
        )
    assert platform.received == []


def test_registration_endpoint_on_a_private_address_is_refused() -> None:
    platform = platform_for("canvas")
    platform.configuration["registration_endpoint"] = "https://192.168.1.10/register"

    with pytest.raises(PlatformConfigurationError):
        register(platform, storage())
    assert len(platform.received) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"issuer": NaN}', "strict JSON"),
        (b'{"issuer": Infinity}', "strict JSON"),
        (b"[" * 5000 + b"]" * 5000, "nests deeper"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nests deeper"),
        (b'{"issuer": "a", "issuer": "b"}', "strict JSON"),
        (b"[]", "not a JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (b"<html>login</html>", "strict JSON"),
    ],
)
def test_malformed_configuration_is_refused(body: bytes, reason: str) -> None:
    platform = platform_for("canvas", configuration_body=body)

    with pytest.raises(PlatformConfigurationError, match=reason):
        register(platform, storage())


def test_a_ten_megabyte_configuration_is_refused_without_reading_it_all() -> None:
    huge = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    platform = platform_for("canvas", configuration_body=huge)

    with pytest.raises(PlatformConfigurationError, match="larger than"):
        register(platform, storage())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.pop("registration_endpoint"), "registration_endpoint"),
        (lambda c: c.pop("jwks_uri"), "jwks_uri"),
        (
            lambda c: c.update(id_token_signing_alg_values_supported=["HS256"]),
            "id_token_signing_alg_values_supported",
        ),
        (lambda c: c.update(scopes_supported="all"), "scopes_supported"),
        (
            lambda c: c.pop("https://purl.imsglobal.org/spec/lti-platform-configuration"),
            "https://purl.imsglobal.org/spec/lti-platform-configuration",
        ),
        (
            lambda c: c["https://purl.imsglobal.org/spec/lti-platform-configuration"].update(
                messages_supported=[]
            ),
            "messages_supported",
        ),
        (
            lambda c: c["https://purl.imsglobal.org/spec/lti-platform-configuration"].pop(
                "product_family_code"
            ),
            "product_family_code",
        ),
    ],
)
def test_missing_or_unusable_fields_are_named(change: Any, field: str) -> None:
    platform = platform_for("canvas")
    change(platform.configuration)

    with pytest.raises(PlatformConfigurationError) as caught:
        register(platform, storage())

    assert caught.value.details["field"] == field


def test_a_platform_supporting_none_of_the_messages_is_refused() -> None:
    platform = platform_for("canvas")
    only_review = ToolSettings(
        client_name="Review",
        initiate_login_uri="https://tool.example/login",
        redirect_uris="https://tool.example/launch",
        jwks_uri="https://tool.example/jwks",
        target_link_uri="https://tool.example/launch",
        messages=(ToolMessage(type="LtiSubmissionReviewRequest"),),
    )

    with pytest.raises(PlatformConfigurationError, match="none of the tool's message types"):
        register(platform, storage(), settings=only_review)
    assert len(platform.received) == 1


def test_configuration_error_status_and_redirect_are_refused() -> None:
    for status in (302, 401, 500):

        def answer(request: httpx.Request, status: int = status) -> httpx.Response:
            return httpx.Response(status, headers={"Location": "https://canvas.instructure.com/"})

        with (
            httpx.Client(transport=httpx.MockTransport(answer)) as client,
            pytest.raises(PlatformConfigurationError, match=f"HTTP {status}"),
        ):
            DynamicRegistration(SETTINGS, storage(), http_client=client).register(
                params(platform_for("canvas"))
            )


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (
            400,
            {"error": "invalid_client_metadata", "error_description": "<b>bad</b>"},
            "invalid_client_metadata",
        ),
        (403, {"error": "access_denied"}, "access_denied"),
        (500, None, None),
        (503, None, None),
    ],
)
def test_registration_endpoint_errors_are_typed_and_nothing_is_stored(
    status: int, payload: Any, error: str | None
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if payload is None:
            return httpx.Response(status, text="Internal error")
        return httpx.Response(status, json=payload)

    platform = platform_for("canvas", registration_answer=answer)
    store = storage()

    with pytest.raises(RegistrationRejectedError) as caught:
        register(platform, store)

    assert caught.value.details["status"] == status
    assert caught.value.details["error"] == error
    assert "<b>" not in str(caught.value)
    assert stored(store) == []


def test_registration_endpoint_timeout_is_typed() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    platform = platform_for("canvas", registration_answer=answer)
    store = storage()

    with pytest.raises(RegistrationCallFailedError, match="ReadTimeout"):
        register(platform, store)
    assert stored(store) == []


def test_a_platform_slower_than_the_deadline_is_cut_off() -> None:
    import time

    platform = platform_for("canvas", delay=3.0)
    store = storage()
    started = time.monotonic()

    with pytest.raises(PlatformConfigurationError, match="deadline"):
        register(platform, store, asynchronous=True, deadline=0.2)

    assert time.monotonic() - started < 2.0
    assert stored(store) == []


def test_registration_answer_slower_than_the_deadline_is_a_call_failure() -> None:
    async def main() -> None:
        platform = platform_for("canvas")

        async def handle(request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                await asyncio.sleep(3.0)
            return platform.handle(request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
            registrar = AsyncDynamicRegistration(
                SETTINGS, AsyncMemoryLaunchStorage(), http_client=client, deadline=0.2
            )
            with pytest.raises(RegistrationCallFailedError, match="deadline"):
                await registrar.register(params(platform))

    asyncio.run(main())


def test_a_replayed_registration_token_is_refused_and_nothing_more_is_stored() -> None:
    platform = platform_for("moodle")
    store = storage()
    first = register(platform, store)

    with pytest.raises(RegistrationRejectedError) as caught:
        register(platform, store)

    assert caught.value.details["status"] == 401
    assert platform.problems == ["token_already_used"]
    assert stored(store) == [first.registration]


@pytest.mark.parametrize(
    "answer",
    [
        {"client_name": "no id"},
        {"client_id": ""},
        {"client_id": "a\x00b"},
        {"client_id": True},
        {"client_id": "x" * 300},
        {"client_id": "ok", LTI_TOOL_CONFIGURATION: {"deployment_id": "\n"}},
        {"client_id": "ok", "scope": 7},
        [],
    ],
)
def test_a_malformed_registration_answer_is_typed_and_nothing_is_stored(answer: Any) -> None:
    platform = platform_for(
        "canvas", registration_answer=lambda r: httpx.Response(201, json=answer)
    )
    store = storage()

    with pytest.raises(MalformedRegistrationResponseError):
        register(platform, store)
    assert stored(store) == []


def test_numeric_client_id_is_read_as_text() -> None:
    platform = platform_for(
        "canvas", registration_answer=lambda r: httpx.Response(201, json={"client_id": 42})
    )
    assert register(platform, storage()).registration.client_id == "42"


# --------------------------------------------------------------------------- atomic storage


class FailingDeployments(MemoryLaunchStorage[Registration, Deployment]):
    def add_deployment(self, registration: Any, deployment: Any) -> None:
        msg = "deployment table is full"
        raise StorageConflictError(msg)


class BrokenStorage(MemoryLaunchStorage[Registration, Deployment]):
    def add_registration(self, registration: Any) -> None:
        msg = "disk on fire"
        raise OSError(msg)


def test_a_deployment_that_cannot_be_stored_removes_the_registration_again() -> None:
    store = FailingDeployments()

    with pytest.raises(StorageConflictError):
        register(platform_for("moodle"), store)

    assert stored(store) == []


class StuckRegistrations(FailingDeployments):
    def remove_registration(self, issuer: str, client_id: str) -> None:
        msg = "cannot delete"
        raise RuntimeError(msg)


def test_a_registration_that_cannot_be_removed_again_is_reported() -> None:
    from credlti.errors import StorageUnavailableError

    with pytest.raises(StorageUnavailableError, match="remove it by hand") as caught:
        register(platform_for("moodle"), StuckRegistrations())
    assert caught.value.details["client_id"] == "kGrAv1uxP3Xbxqy"


def test_storage_library_errors_become_typed_errors() -> None:
    with pytest.raises(CredltiError, match="OSError"):
        register(platform_for("moodle"), BrokenStorage())


def test_an_existing_registration_is_never_replaced() -> None:
    store = storage()
    existing = Registration(
        issuer="https://school.example.edu/moodle",
        client_id="kGrAv1uxP3Xbxqy",
        auth_endpoint="https://school.example.edu/moodle/mod/lti/auth.php",
        jwks_uri="https://attacker.example/keys",
    )
    store.add_registration(existing)

    with pytest.raises(RegistrationConflictError):
        register(platform_for("moodle"), store)

    assert stored(store) == [existing]


# --------------------------------------------------------------------------- secrets


def test_the_registration_token_never_appears_in_errors_or_reprs() -> None:
    platform = platform_for("canvas")
    platform.configuration_url += f"?registration_token={TOKEN}"
    platform.configuration["issuer"] = "https://elsewhere.example"
    initiation = read_initiation(params(platform))

    with pytest.raises(CredltiError) as caught:
        register(platform, storage())

    error = caught.value
    shown = [str(error), repr(error), repr(dict(error.details)), repr(initiation)]
    assert not [s for s in shown if TOKEN in s]
    assert "openid-configuration" in str(error)


def test_registrar_repr_shows_no_storage_or_client() -> None:
    registrar = DynamicRegistration(SETTINGS, storage())
    assert repr(registrar) == "DynamicRegistration(client_name='Quiz Tool')"


# --------------------------------------------------------------------------- initiation


def test_initiation_accepts_single_values_and_lists_of_one() -> None:
    got = read_initiation(
        {
            "openid_configuration": ["https://canvas.instructure.com/c"],
            "registration_token": "t",
        }
    )
    assert got == RegistrationInitiation(
        openid_configuration="https://canvas.instructure.com/c", registration_token="t"
    )
    bare = read_initiation({"openid_configuration": "https://a.example/"})
    assert bare.registration_token is None


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"openid_configuration": ["https://a.example/", "https://b.example/"]},
        {"openid_configuration": 7},
        {"openid_configuration": "https://a.example/" + "x" * 3000},
        {"openid_configuration": "https://a.example/", "registration_token": "a b"},
        {"openid_configuration": "https://a.example/", "registration_token": "\u00e9"},
        {"openid_configuration": "https://a.example/", "registration_token": "x" * 9000},
        {"openid_configuration": "https://a.example/%2e%2e/x"},
    ],
)
def test_hostile_initiations_are_typed_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRegistrationRequestError):
        read_initiation(bad)


def test_loopback_platform_only_when_allowed() -> None:
    url = "http://127.0.0.1:8000/openid-configuration"
    with pytest.raises(InvalidRegistrationRequestError):
        read_initiation({"openid_configuration": url})
    allowed = read_initiation({"openid_configuration": url}, allow_loopback=True)
    assert allowed.openid_configuration == url


# --------------------------------------------------------------------------- settings, page


def test_settings_check_themselves() -> None:
    base: dict[str, Any] = {
        "client_name": "T",
        "initiate_login_uri": "https://tool.example/login",
        "redirect_uris": ("https://tool.example/launch",),
        "jwks_uri": "https://tool.example/jwks",
        "target_link_uri": "https://tool.example/launch",
    }
    ToolSettings(**base)
    for change in (
        {"client_name": ""},
        {"redirect_uris": ()},
        {"jwks_uri": "http://tool.example/jwks"},
        {"privacy_level": "everything"},
        {"messages": ()},
        {"scopes": ("has space",)},
        {"custom_parameters": {"a": 1}},
        {"description": 7},
        {"extensions": {"x": object()}},
        {"extensions": {"x": float("nan")}},
    ):
        with pytest.raises(ConfigurationError):
            ToolSettings(**{**base, **change})


def test_messages_check_themselves() -> None:
    for bad in (
        {"label": ""},
        {"icon_uri": "http://tool.example/i.png"},
        {"placements": ("two words",)},
        {"extensions": {"k": {1, 2}}},
    ):
        with pytest.raises(ConfigurationError):
            ToolMessage(type="LtiResourceLinkRequest", **bad)


def test_facade_refuses_bad_limits_and_settings() -> None:
    with pytest.raises(ConfigurationError):
        DynamicRegistration(SETTINGS, storage(), deadline=0)
    with pytest.raises(ConfigurationError):
        DynamicRegistration(SETTINGS, storage(), timeout=float("nan"))
    with pytest.raises(TypeError):
        DynamicRegistration({"client_name": "x"}, storage())  # type: ignore[arg-type]


def test_completion_page_posts_the_close_message() -> None:
    page = completion_page()
    assert "(window.opener || window.parent).postMessage" in page
    assert 'subject: "org.imsglobal.lti.close"' in page
    assert "<script>" in page


def test_completion_page_takes_a_csp_nonce_and_escapes_the_message() -> None:
    page = completion_page(nonce="abc123+/=", message="<img src=x onerror=alert(1)>")
    assert '<script nonce="abc123+/=">' in page
    assert "<img" not in page
    for bad in ('"><script>', "", "a b", "x" * 201):
        with pytest.raises(ConfigurationError):
            completion_page(nonce=bad)


def test_registration_is_loaded_on_first_use_only() -> None:
    import subprocess
    import sys

    code = "import sys, credlti.lti; print('credlti.lti.registration' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_launch_storages_are_registration_sinks() -> None:
    """Checked by mypy: both launch storages satisfy the RegistrationSink port."""

    memory: RegistrationSink = storage()
    engine = create_engine("sqlite://")
    try:
        sql: RegistrationSink = SqlLaunchStorage(engine)
        assert memory is not None
        assert sql is not None
    finally:
        engine.dispose()


def test_a_hand_built_initiation_record_is_checked_again() -> None:
    platform = platform_for("canvas")
    forged = RegistrationInitiation(openid_configuration="https://10.0.0.1/openid-configuration")
    with (
        httpx.Client(transport=platform.transport()) as client,
        pytest.raises(InvalidRegistrationRequestError),
    ):
        DynamicRegistration(SETTINGS, storage(), http_client=client).register(forged)
    assert platform.received == []


def test_a_checked_initiation_record_registers() -> None:
    platform = platform_for("canvas")
    initiation = read_initiation(params(platform))
    with httpx.Client(transport=platform.transport()) as client:
        result = DynamicRegistration(SETTINGS, storage(), http_client=client).register(initiation)
    assert result.registration.client_id == "10000000000001"
