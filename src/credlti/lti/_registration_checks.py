"""Checks of LTI Dynamic Registration: what the platform sends, and what the tool sends.

Rules of this module (pure functions, no IO):

1. Every value comes from a peer that may be hostile: the initiation request is a
   URL anyone can open, and the configuration it names is served by whoever owns
   that URL. Each check raises a typed error with its spec section and quotes
   values only as safe excerpts; the registration token and the query of the
   configuration URL (which may carry it) are never quoted.
2. JSON is read strictly: bounded size and nesting, no ``NaN`` or ``Infinity``, no
   duplicate keys, an object at the top.
3. Every URL the tool will call is https (plain http on loopback hosts only when
   the host allowed it, for a local platform) with a host that is not a private,
   link-local or otherwise non-public IP literal.
4. The tool configuration offers only what the platform supports, and says what
   it left out.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from credlti._text import id_problem, normalise_url, safe_excerpt
from credlti.errors import (
    InvalidRegistrationRequestError,
    MalformedRegistrationResponseError,
    PlatformConfigurationError,
    RegistrationIssuerMismatchError,
    RegistrationRejectedError,
)
from credlti.lti._registration_records import (
    CANVAS_PRIVACY_LEVEL,
    CANVAS_TOOL_ID,
    LTI_PLATFORM_CONFIGURATION,
    LTI_TOOL_CONFIGURATION,
    PlatformConfiguration,
    RegistrationInitiation,
    SupportedMessage,
    ToolMessage,
    ToolSettings,
)

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "ToolRequest",
    "build_tool_request",
    "check_platform_configuration",
    "parse_initiation",
    "parse_registration_response",
    "rejection",
    "shown_url",
    "strict_json",
]

#: The largest configuration or registration answer read (bytes).
MAX_DOCUMENT_BYTES = 512 * 1024
#: The deepest JSON nesting accepted.
MAX_DEPTH = 32
#: The longest URL accepted from a peer.
MAX_URL_LENGTH = 2048
#: The longest registration token accepted.
MAX_TOKEN_LENGTH = 8192
#: The most entries read from a list in a configuration (scopes, messages...).
MAX_LIST_ENTRIES = 1000


# --------------------------------------------------------------------------- URLs


def shown_url(url: str) -> str:
    """*url* without query or fragment, as a safe excerpt (the query may hold a token)."""
    try:
        parts = urlsplit(url)
        return safe_excerpt(f"{parts.scheme}://{parts.netloc}{parts.path}", limit=200)
    except ValueError:
        return "(an unreadable URL)"


def _numeric_host(host: str) -> bool:
    labels = host.split(".")
    return all(label.isdigit() or label.startswith("0x") for label in labels if label)


def url_problem(url: object, *, allow_loopback: bool) -> str | None:
    """Why the tool must not call *url*, or ``None`` when it may."""
    if not isinstance(url, str) or not url:
        return "it is not a URL"
    if len(url) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    try:
        normal = normalise_url(url)
    except ValueError as exc:
        return str(exc)
    host = normal.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if _numeric_host(host):
            return "its host is a numeric name that is not a plain IP address"
        loopback = host == "localhost" or host.endswith(".localhost")
    else:
        loopback = address.is_loopback
        if not loopback and not address.is_global:
            return "its host is a private, link-local or reserved address"
    if loopback and not allow_loopback:
        return "its host is a loopback address"
    if normal.scheme != "https" and not (loopback and allow_loopback):
        return "it is not https"
    return None


# --------------------------------------------------------------------------- JSON


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            msg = "a key appears twice in one object"
            raise ValueError(msg)
        out[key] = value
    return out


def _no_constants(name: str) -> NoReturn:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _too_deep(text: str) -> bool:
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def strict_json(body: bytes) -> dict[str, Any] | str:
    """The JSON object in *body*, or the reason it is not acceptable."""
    if len(body) > MAX_DOCUMENT_BYTES:
        return f"it is larger than {MAX_DOCUMENT_BYTES} bytes"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    if _too_deep(text):
        return f"it nests deeper than {MAX_DEPTH} levels"
    try:
        value = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        return f"it is not strict JSON ({safe_excerpt(str(exc), limit=80)})"
    if not isinstance(value, dict):
        return "it is not a JSON object"
    return value


# --------------------------------------------------------------------------- initiation


def _param(params: Mapping[str, Any], name: str) -> str | None:
    try:
        value = params.get(name)
    except Exception as exc:  # a hostile mapping must not crash the tool
        msg = f"parameter {name!r} could not be read"
        raise InvalidRegistrationRequestError(msg, details={"parameter": name}) from exc
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if value is None or isinstance(value, str):
        return value
    msg = f"parameter {name!r} must be a single text value"
    raise InvalidRegistrationRequestError(msg, details={"parameter": name})


def parse_initiation(
    params: Mapping[str, Any], *, allow_loopback: bool = False
) -> RegistrationInitiation:
    """Check the platform's registration initiation parameters (LTI-DR §3.3).

    Raises:
        InvalidRegistrationRequestError: A parameter is missing, repeated, too long,
            or the configuration URL is not one the tool may call.
    """
    url = _param(params, "openid_configuration")
    if not url:
        msg = "parameter 'openid_configuration' is required; the platform must send it"
        raise InvalidRegistrationRequestError(msg, details={"parameter": "openid_configuration"})
    problem = url_problem(url, allow_loopback=allow_loopback)
    if problem is not None:
        msg = f"parameter 'openid_configuration' is not a URL the tool may call: {problem}"
        raise InvalidRegistrationRequestError(msg, details={"parameter": "openid_configuration"})
    token = _param(params, "registration_token")
    if token is not None:
        if not token:
            token = None
        elif (
            len(token) > MAX_TOKEN_LENGTH
            or not token.isascii()
            or not token.isprintable()
            or " " in token
        ):
            msg = (
                f"parameter 'registration_token' must be at most {MAX_TOKEN_LENGTH} "
                "printable ASCII characters without spaces"
            )
            raise InvalidRegistrationRequestError(msg, details={"parameter": "registration_token"})
    return RegistrationInitiation(openid_configuration=url, registration_token=token)


# --------------------------------------------------------------------------- configuration


def _bad(field: str, problem: str, *, spec_ref: str | None = None) -> NoReturn:
    msg = f"the platform's OpenID configuration is unusable: {field} {problem}"
    raise PlatformConfigurationError(msg, spec_ref=spec_ref, details={"field": field})


def _string(document: Mapping[str, Any], field: str, *, limit: int = 1000) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        _bad(field, "is missing or not text")
    if len(value) > limit or not value.isprintable():
        _bad(field, f"must be at most {limit} printable characters")
    return value


def _endpoint(document: Mapping[str, Any], field: str, *, allow_loopback: bool) -> str:
    value = _string(document, field, limit=MAX_URL_LENGTH)
    problem = url_problem(value, allow_loopback=allow_loopback)
    if problem is not None:
        _bad(field, f"is not a URL the tool may call: {problem}", spec_ref="LTI-DR §3.4")
    return value


def _names(value: object, field: str, *, required: bool = True) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list):
        _bad(field, "is missing or not a list")
    if len(value) > MAX_LIST_ENTRIES:
        _bad(field, f"has more than {MAX_LIST_ENTRIES} entries")
    for item in value:
        if id_problem(item, max_length=1000) is not None:
            _bad(field, f"holds an entry that is not plain text: '{safe_excerpt(item)}'")
    return tuple(value)


def _messages(value: object) -> tuple[SupportedMessage, ...]:
    field = "messages_supported"
    if not isinstance(value, list) or not value:
        _bad(field, "is missing, empty or not a list")
    if len(value) > MAX_LIST_ENTRIES:
        _bad(field, f"has more than {MAX_LIST_ENTRIES} entries")
    out: list[SupportedMessage] = []
    for item in value:
        if isinstance(item, str):  # Moodle lists bare message types
            (kind,) = _names([item], field)
            out.append(SupportedMessage(type=kind))
            continue
        if not isinstance(item, dict):
            _bad(field, "holds an entry that is neither an object nor text")
        (kind,) = _names([item.get("type")], f"{field}[].type")
        raw = item.get("placements")
        placements = None if raw is None else _names(raw, f"{field}[].placements")
        out.append(SupportedMessage(type=kind, placements=placements))
    return tuple(out)


def _issuer(document: Mapping[str, Any], configuration_url: str) -> str:
    issuer = _string(document, "issuer", limit=MAX_URL_LENGTH)
    try:
        parts = urlsplit(issuer)
        normal = normalise_url(issuer)
        where = normalise_url(configuration_url)
    except ValueError:
        _bad("issuer", "is not a valid URL", spec_ref="LTI-DR §3.5.1")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        _bad("issuer", "must not have a query or fragment", spec_ref="LTI-DR §3.5.1")
    if not where.is_within(normal):
        msg = (
            f"the configuration's issuer '{safe_excerpt(issuer, limit=200)}' is not a prefix "
            f"of the configuration URL {shown_url(configuration_url)}: refused, any site "
            "could otherwise claim to be this platform"
        )
        raise RegistrationIssuerMismatchError(
            msg,
            details={
                "issuer": safe_excerpt(issuer, limit=200),
                "configuration_url": shown_url(configuration_url),
            },
        )
    return issuer


def _lti_part(document: Mapping[str, Any]) -> Mapping[str, Any]:
    value = document.get(LTI_PLATFORM_CONFIGURATION)
    if value is None:
        # Moodle 3.10 to 4.1 published the key with a trailing space.
        value = document.get(LTI_PLATFORM_CONFIGURATION + " ")
    if not isinstance(value, dict):
        _bad(LTI_PLATFORM_CONFIGURATION, "is missing or not an object")
    return value


def check_platform_configuration(
    body: bytes, configuration_url: str, *, allow_loopback: bool = False
) -> PlatformConfiguration:
    """Read and check a platform's OpenID configuration (LTI-DR §3.4, §3.5.1).

    Raises:
        PlatformConfigurationError: The document is not strict JSON within the
            limits, or a required field is missing or unusable.
        RegistrationIssuerMismatchError: Its issuer is not a prefix of
            *configuration_url*.
    """
    document = strict_json(body)
    if isinstance(document, str):
        msg = f"the platform's OpenID configuration is unusable: {document}"
        raise PlatformConfigurationError(msg)
    issuer = _issuer(document, configuration_url)
    endpoints = {
        field: _endpoint(document, field, allow_loopback=allow_loopback)
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    }
    registration_endpoint = _endpoint(
        document, "registration_endpoint", allow_loopback=allow_loopback
    )
    if url_problem(issuer, allow_loopback=allow_loopback) is not None:
        _bad("issuer", "must be an https URL", spec_ref="LTI-DR §3.5.1")
    algorithms = _names(
        document.get("id_token_signing_alg_values_supported"),
        "id_token_signing_alg_values_supported",
    )
    if "RS256" not in algorithms:
        _bad("id_token_signing_alg_values_supported", "does not include RS256")
    scopes = _names(document.get("scopes_supported"), "scopes_supported")
    lti = _lti_part(document)
    return PlatformConfiguration(
        issuer=issuer,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        registration_endpoint=registration_endpoint,
        scopes_supported=scopes,
        signing_algorithms=algorithms,
        product_family_code=_string(lti, "product_family_code", limit=200),
        version=_string(lti, "version", limit=200),
        messages_supported=_messages(lti.get("messages_supported")),
        variables=_names(lti.get("variables"), "variables", required=False),
        raw=document,
    )


# --------------------------------------------------------------------------- the request


class ToolRequest:
    """The registration request body and what was left out of it."""

    __slots__ = ("body", "dropped_messages", "dropped_placements", "dropped_scopes", "scopes")

    def __init__(
        self,
        body: dict[str, Any],
        scopes: tuple[str, ...],
        dropped_scopes: tuple[str, ...],
        dropped_messages: tuple[str, ...],
        dropped_placements: tuple[str, ...],
    ) -> None:
        self.body = body
        self.scopes = scopes
        self.dropped_scopes = dropped_scopes
        self.dropped_messages = dropped_messages
        self.dropped_placements = dropped_placements


def _message_json(message: ToolMessage, placements: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": message.type}
    if message.target_link_uri is not None:
        out["target_link_uri"] = message.target_link_uri
    if message.label is not None:
        out["label"] = message.label
    if message.icon_uri is not None:
        out["icon_uri"] = message.icon_uri
    if placements:
        out["placements"] = list(placements)
    if message.custom_parameters:
        out["custom_parameters"] = dict(message.custom_parameters)
    if message.roles:
        out["roles"] = list(message.roles)
    for key, value in message.extensions.items():
        out.setdefault(key, value)
    return out


def _domain(settings: ToolSettings) -> str:
    if settings.domain:
        return settings.domain
    parts = urlsplit(settings.target_link_uri)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def build_tool_request(settings: ToolSettings, platform: PlatformConfiguration) -> ToolRequest:
    """The registration request for *platform* (LTI-DR §3.5.2).

    Scopes and message types the platform does not support are left out, and so
    are placements it does not list for a message type.

    Raises:
        PlatformConfigurationError: The platform supports none of the tool's
            message types.
    """
    offered = set(platform.scopes_supported)
    scopes = tuple(s for s in settings.scopes if s in offered)
    dropped_scopes = tuple(s for s in settings.scopes if s not in offered)
    messages: list[dict[str, Any]] = []
    dropped_messages: list[str] = []
    dropped_placements: list[str] = []
    for message in settings.messages:
        supported = platform.supported(message.type)
        if supported is None:
            dropped_messages.append(message.type)
            continue
        placements = message.placements
        if supported.placements is not None:
            listed = set(supported.placements)
            placements = tuple(p for p in message.placements if p in listed)
            dropped_placements.extend(
                f"{message.type}:{p}" for p in message.placements if p not in listed
            )
        messages.append(_message_json(message, placements))
    if not messages:
        msg = (
            "the platform supports none of the tool's message types "
            f"({', '.join(m.type for m in settings.messages)})"
        )
        raise PlatformConfigurationError(msg, details={"field": "messages_supported"})
    configuration: dict[str, Any] = {
        "domain": _domain(settings),
        "target_link_uri": settings.target_link_uri,
        "claims": list(settings.claims),
        "messages": messages,
    }
    if settings.secondary_domains:
        configuration["secondary_domains"] = list(settings.secondary_domains)
    if settings.description is not None:
        configuration["description"] = settings.description
    if settings.custom_parameters:
        configuration["custom_parameters"] = dict(settings.custom_parameters)
    if settings.privacy_level is not None:
        configuration[CANVAS_PRIVACY_LEVEL] = settings.privacy_level
    if settings.canvas_tool_id is not None:
        configuration[CANVAS_TOOL_ID] = settings.canvas_tool_id
    for key, value in settings.extensions.items():
        configuration.setdefault(key, value)
    body: dict[str, Any] = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": settings.initiate_login_uri,
        "redirect_uris": list(settings.redirect_uris),
        "client_name": settings.client_name,
        "jwks_uri": settings.jwks_uri,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        LTI_TOOL_CONFIGURATION: configuration,
    }
    for field in ("logo_uri", "client_uri", "policy_uri", "tos_uri"):
        value = getattr(settings, field)
        if value is not None:
            body[field] = value
    if settings.contacts:
        body["contacts"] = list(settings.contacts)
    return ToolRequest(
        body, scopes, dropped_scopes, tuple(dropped_messages), tuple(dropped_placements)
    )


# --------------------------------------------------------------------------- the answer


def rejection(status: int, body: bytes, url: str) -> RegistrationRejectedError:
    """The error for a registration endpoint that answered *status* (LTI-DR §3.6.2)."""
    document = strict_json(body)
    code = None
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        code = safe_excerpt(document["error"], limit=60)
    said = f" ({code})" if code else ""
    msg = f"the platform's registration endpoint refused the tool with HTTP {status}{said}"
    return RegistrationRejectedError(
        msg, details={"status": status, "error": code, "url": shown_url(url)}
    )


def _malformed(problem: str) -> NoReturn:
    msg = f"the platform's registration answer is unusable: {problem}"
    raise MalformedRegistrationResponseError(msg)


def parse_registration_response(
    body: bytes,
) -> tuple[str, str | None, tuple[str, ...] | None, dict[str, Any]]:
    """``(client_id, deployment_id, scopes, document)`` from a registration answer.

    *deployment_id* is ``None`` when the answer's tool configuration names none;
    *scopes* is ``None`` when the answer has no ``scope``.

    Raises:
        MalformedRegistrationResponseError: Not a JSON object within the limits,
            or no usable ``client_id``, ``deployment_id`` or ``scope``.
    """
    document = strict_json(body)
    if isinstance(document, str):
        _malformed(document)
    client_id = document.get("client_id")
    if isinstance(client_id, int) and not isinstance(client_id, bool):
        client_id = str(client_id)
    if not isinstance(client_id, str):
        _malformed("client_id is missing or not text")
    problem = id_problem(client_id)
    if problem is not None or not client_id.isascii():
        _malformed(f"client_id {problem or 'must be ASCII text'}")
    echo = document.get(LTI_TOOL_CONFIGURATION)
    deployment_id = None
    if isinstance(echo, dict) and echo.get("deployment_id") is not None:
        deployment_id = echo["deployment_id"]
        if isinstance(deployment_id, int) and not isinstance(deployment_id, bool):
            deployment_id = str(deployment_id)
        problem = id_problem(deployment_id)
        if problem is not None:
            _malformed(f"deployment_id {problem}")
    scope = document.get("scope")
    scopes = None
    if scope is not None:
        if not isinstance(scope, str) or len(scope) > 100_000:
            _malformed("scope must be text")
        scopes = tuple(scope.split())
    return client_id, deployment_id, scopes, document
