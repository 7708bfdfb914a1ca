"""Property tests: the dynamic registration entry points answer hostile values with typed errors.

Whatever a browser puts in the initiation query and whatever a platform serves as
its configuration or registration answer, the tool either registers or raises a
:class:`~credlti.errors.CredltiError`; it never crashes with another exception,
never calls a URL it refused, and never stores half a registration.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import (
    CredltiError,
    InvalidRegistrationRequestError,
    MalformedRegistrationResponseError,
    PlatformConfigurationError,
)
from credlti.lti import Deployment, Registration
from credlti.lti._registration_checks import (
    check_platform_configuration,
    parse_registration_response,
)
from credlti.lti.registration import DynamicRegistration, read_initiation
from tests.lti.test_registration import SETTINGS, platform_for

RELAXED = settings(suppress_health_check=[HealthCheck.too_slow])
CONFIGURATION_URL = "https://school.example.edu/moodle/mod/lti/openid-configuration.php"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "https://canvas.instructure.com/api/lti/security/openid-configuration",
            "https://10.1.2.3/x",
            "https://[::1]/x",
            "https://[fe80::1]/x",
            "https://0x7f.1/x",
            "https://example.com:99999/x",
            "https://exa mple.com/",
            "https://example.com/\u202e",
            "https://example.com/%2F..",
            "http://localhost/",
            "file:///etc/passwd",
            "https://\ud800.example/",
        ]
    ),
)
param_values = st.one_of(
    hostile_text,
    st.lists(hostile_text, max_size=3),
    st.integers(),
    st.none(),
    st.binary(max_size=10),
)


@RELAXED
@given(
    st.dictionaries(
        st.sampled_from(["openid_configuration", "registration_token", "other"]),
        param_values,
        max_size=3,
    )
)
def test_read_initiation_answers_every_mapping_with_a_record_or_a_typed_error(
    params: dict[str, Any],
) -> None:
    try:
        got = read_initiation(params)
    except InvalidRegistrationRequestError:
        return
    assert got.openid_configuration.startswith("https://")


def _configuration(overrides: dict[str, Any]) -> dict[str, Any]:
    base = platform_for("moodle").configuration
    base.update(overrides)
    return base


configuration_fields = st.sampled_from(
    [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "registration_endpoint",
        "scopes_supported",
        "id_token_signing_alg_values_supported",
        "https://purl.imsglobal.org/spec/lti-platform-configuration ",
    ]
)


@RELAXED
@given(st.dictionaries(configuration_fields, st.one_of(json_values, hostile_text), max_size=3))
def test_configuration_check_raises_only_typed_errors(overrides: dict[str, Any]) -> None:
    body = json.dumps(_configuration(overrides)).encode()
    try:
        platform = check_platform_configuration(body, CONFIGURATION_URL)
    except PlatformConfigurationError:
        return
    assert platform.registration_endpoint.startswith("https://")
    assert "RS256" in platform.signing_algorithms


@RELAXED
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_configuration_bytes_raise_only_typed_errors(body: bytes) -> None:
    with contextlib.suppress(PlatformConfigurationError):
        check_platform_configuration(body, CONFIGURATION_URL)


@RELAXED
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_registration_answer_bytes_raise_only_typed_errors(body: bytes) -> None:
    try:
        client_id, _deployment, _scopes, document = parse_registration_response(body)
    except MalformedRegistrationResponseError:
        return
    assert client_id
    assert isinstance(document, dict)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=100, max_value=599),
    st.one_of(json_values, st.dictionaries(st.sampled_from(["client_id", "scope"]), json_values)),
)
def test_register_with_any_answer_raises_typed_errors_and_never_half_stores(
    status: int, answer: Any
) -> None:
    platform = platform_for(
        "moodle", registration_answer=lambda r: httpx.Response(status, json=answer)
    )
    store: MemoryLaunchStorage[Registration, Deployment] = MemoryLaunchStorage()
    with httpx.Client(transport=platform.transport()) as client:
        registrar = DynamicRegistration(SETTINGS, store, http_client=client)
        try:
            result = registrar.register(
                {"openid_configuration": platform.configuration_url, "registration_token": "t"}
            )
        except CredltiError:
            assert not store._registrations
            return
    reg = result.registration
    assert store.get_registration(reg.issuer, reg.client_id) == reg


@RELAXED
@given(
    st.dictionaries(
        st.sampled_from(["openid_configuration", "registration_token"]), param_values, max_size=2
    )
)
def test_register_with_hostile_params_sends_nothing_unless_the_initiation_is_sound(
    params: dict[str, Any],
) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404)

    with httpx.Client(transport=httpx.MockTransport(record)) as client:
        registrar = DynamicRegistration(SETTINGS, MemoryLaunchStorage(), http_client=client)
        try:
            registrar.register(params)
        except InvalidRegistrationRequestError:
            assert sent == []
        except PlatformConfigurationError:
            assert [r.method for r in sent] == ["GET"]
            assert str(sent[0].url).startswith("https://")
