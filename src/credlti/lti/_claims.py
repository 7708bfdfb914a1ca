"""Launch claims parsed into typed records (Core §5.3-5.4, AGS §3.1, NRPS §3.6.1, DL §4.4).

Rules of this module:

1. Pure: values in, frozen records out, or an :class:`~credlti.errors.InvalidClaimError`
   naming the dotted claim path. Hostile shapes (a list where an object belongs, a
   number where text belongs) never raise anything else.
2. Unknown claims and unknown fields are ignored, never rejected (Core §3.5, §4.3);
   unknown top-level claims are kept in ``LaunchClaims.extensions``.
3. Identifiers are stored exactly as received: no trimming, no case folding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, cast

import attrs

from credlti.errors import MissingClaimError
from credlti.lti._claim_values import (
    AGS_CLAIM,
    CONTEXT,
    CUSTOM,
    DEPLOYMENT_ID,
    DL_SETTINGS_CLAIM,
    LAUNCH_PRESENTATION,
    LIS,
    LTI_CLAIM,
    MESSAGE_TYPE,
    NRPS_CLAIM,
    RESOURCE_LINK,
    ROLE_SCOPE_MENTOR,
    ROLES,
    TARGET_LINK_URI,
    TOOL_PLATFORM,
    VERSION,
    AgsEndpoint,
    Context,
    DeepLinkingSettings,
    LaunchPresentation,
    Lis,
    NrpsEndpoint,
    ResourceLink,
    ToolPlatform,
    as_object,
    invalid,
    opt_bool,
    opt_number,
    opt_str,
    req_id,
    short_name,
    str_list,
)
from credlti.lti._lti1p1_claim import LTI1P1, Lti1p1Claim, parse_lti1p1
from credlti.lti._roles import Roles, parse_roles

__all__ = [
    "AGS_CLAIM",
    "CONTEXT",
    "CUSTOM",
    "DEPLOYMENT_ID",
    "DL_SETTINGS_CLAIM",
    "LAUNCH_PRESENTATION",
    "LIS",
    "LTI1P1",
    "LTI_CLAIM",
    "MESSAGE_TYPE",
    "NRPS_CLAIM",
    "RESOURCE_LINK",
    "ROLES",
    "ROLE_SCOPE_MENTOR",
    "TARGET_LINK_URI",
    "TOOL_PLATFORM",
    "VERSION",
    "AgsEndpoint",
    "Context",
    "DeepLinkingSettings",
    "LaunchClaims",
    "LaunchPresentation",
    "Lis",
    "Lti1p1Claim",
    "NrpsEndpoint",
    "ResourceLink",
    "ToolPlatform",
    "parse_claims",
    "short_name",
]

_EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})

# Claims with a typed field; every other key lands in ``extensions``.
_OIDC_KEYS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "azp",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "email",
        "picture",
        "locale",
    }
)
_TYPED_KEYS = _OIDC_KEYS | {
    MESSAGE_TYPE,
    VERSION,
    DEPLOYMENT_ID,
    TARGET_LINK_URI,
    RESOURCE_LINK,
    ROLES,
    CONTEXT,
    TOOL_PLATFORM,
    LAUNCH_PRESENTATION,
    LIS,
    CUSTOM,
    ROLE_SCOPE_MENTOR,
    AGS_CLAIM,
    NRPS_CLAIM,
    DL_SETTINGS_CLAIM,
    LTI1P1,
}


_UNSET: Any = object()


@attrs.frozen(kw_only=True)
class _Shape:
    """How one object-valued claim is checked and turned into its record."""

    record: type[Any]
    path: str
    spec_ref: str
    ids: tuple[str, ...] = ()  # required non-empty strings
    strings: tuple[str, ...] = ()  # optional strings
    lists: tuple[str, ...] = ()  # optional arrays of strings
    numbers: tuple[str, ...] = ()  # optional numbers; anything else is dropped (lenient)


def _check_shape(shape: _Shape, value: object, id_limit: int | None) -> Mapping[str, Any]:
    obj = value if type(value) is dict else as_object(value, shape.path, shape.spec_ref)
    for name in shape.ids:
        ident = req_id(obj, name, shape.path, shape.spec_ref)
        if id_limit is not None and len(ident) > id_limit:
            path = f"{shape.path}.{name}"
            raise invalid(path, f"at most {id_limit} characters", ident, shape.spec_ref)
    for name in shape.strings:
        item = obj.get(name)
        if item is not None and type(item) is not str:
            raise invalid(f"{shape.path}.{name}", "a string", item, shape.spec_ref)
    for name in shape.lists:
        items = obj.get(name)
        if items is not None:
            str_list(items, f"{shape.path}.{name}", shape.spec_ref)
    return obj


def _build_shape(shape: _Shape, obj: Mapping[str, Any]) -> Any:
    """Build the record of an already checked claim (cannot fail)."""
    get = obj.get
    fields: dict[str, Any] = {name: get(name) for name in shape.ids + shape.strings}
    for name in shape.lists:
        item = get(name)
        fields[name] = () if item is None else tuple(item)
    for name in shape.numbers:
        fields[name] = opt_number(obj, name)
    return shape.record(**fields)


_SHAPES: dict[str, _Shape] = {
    RESOURCE_LINK: _Shape(
        record=ResourceLink,
        path="resource_link",
        spec_ref="Core §5.3.5",
        ids=("id",),
        strings=("title", "description"),
    ),
    CONTEXT: _Shape(
        record=Context,
        path="context",
        spec_ref="Core §5.4.1",
        ids=("id",),
        strings=("label", "title"),
        lists=("type",),
    ),
    TOOL_PLATFORM: _Shape(
        record=ToolPlatform,
        path="tool_platform",
        spec_ref="Core §5.4.2",
        strings=(
            "guid",
            "name",
            "contact_email",
            "description",
            "url",
            "product_family_code",
            "version",
        ),
    ),
    LAUNCH_PRESENTATION: _Shape(
        record=LaunchPresentation,
        path="launch_presentation",
        spec_ref="Core §5.4.4",
        strings=("document_target", "return_url", "locale"),
        numbers=("height", "width"),
    ),
    LIS: _Shape(
        record=Lis,
        path="lis",
        spec_ref="Core §5.4.5",
        strings=("person_sourcedid", "course_offering_sourcedid", "course_section_sourcedid"),
    ),
    AGS_CLAIM: _Shape(
        record=AgsEndpoint,
        path="ags_endpoint",
        spec_ref="AGS §3.1",
        strings=("lineitems", "lineitem"),
        lists=("scope",),
    ),
}
_SHAPED_KEYS = frozenset(_SHAPES)
#: Claims parsed at validation time and only kept in the cache (never rebuilt).
_EAGER = frozenset({NRPS_CLAIM, DL_SETTINGS_CLAIM, LTI1P1})
_PROFILE_FIELDS = ("name", "given_name", "family_name", "middle_name", "email", "picture", "locale")


class LaunchClaims:
    """Every claim of a validated launch, typed.

    Every claim's shape is checked when the launch is validated; the typed
    sub-records (``context``, ``resource_link``...) are built on first access, so a
    launch pays only for what the host reads. Timestamps are seconds since the
    epoch, as in the token. Optional claims the platform did not send are ``None``
    (or empty). Claims credlti does not model are in :attr:`extensions`, keyed by
    their full claim name. Instances are read-only.
    """

    __slots__ = ("_cache", "_payload", "audience", "roles")

    #: The names of every claim attribute, in a stable order (for comparisons, dumps).
    FIELDS: ClassVar[tuple[str, ...]] = (
        "issuer",
        "subject",
        "audience",
        "authorized_party",
        "expires_at",
        "issued_at",
        "nonce",
        "message_type",
        "version",
        "deployment_id",
        "target_link_uri",
        "roles",
        "resource_link",
        "context",
        "tool_platform",
        "launch_presentation",
        "lis",
        "custom",
        "role_scope_mentor",
        "ags",
        "nrps",
        "deep_linking",
        "lti1p1",
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "email",
        "picture",
        "locale",
        "extensions",
    )

    #: The ``aud`` claim as a tuple.
    audience: tuple[str, ...]
    #: The parsed ``roles`` claim (empty when absent).
    roles: Roles
    _payload: Mapping[str, Any]
    _cache: dict[str, Any]

    def __init__(
        self,
        payload: Mapping[str, Any],
        *,
        audience: tuple[str, ...],
        roles: Roles,
        _cache: dict[str, Any] | None = None,
    ) -> None:
        object.__setattr__(self, "_payload", payload)
        object.__setattr__(self, "audience", audience)
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "_cache", {} if _cache is None else _cache)

    def __setattr__(self, name: str, value: object) -> None:
        msg = "LaunchClaims is read-only"
        raise attrs.exceptions.FrozenInstanceError(msg)

    def __getstate__(self) -> tuple[Any, ...]:
        # The payload plus the claims parsed eagerly at validation (NRPS, deep linking);
        # the other shaped claims are rebuilt on demand.
        kept = {k: v for k, v in self._cache.items() if k in _EAGER}
        return (self._payload, self.audience, self.roles, kept)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        payload, audience, roles, kept = state
        object.__setattr__(self, "_payload", payload)
        object.__setattr__(self, "audience", audience)
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "_cache", dict(kept))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LaunchClaims):
            return NotImplemented
        return (self._payload, self.audience, self.roles) == (
            other._payload,
            other.audience,
            other.roles,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"LaunchClaims(message_type={self.message_type!r}, issuer={self.issuer!r}, "
            f"subject={self.subject!r}, deployment_id={self.deployment_id!r})"
        )

    def _shaped(self, claim: str) -> Any:
        cache = self._cache
        found = cache.get(claim, _UNSET)
        if found is _UNSET:
            value = self._payload.get(claim)
            found = cache[claim] = None if value is None else _build_shape(_SHAPES[claim], value)
        return found

    # -- OIDC and required LTI claims (checked by the launch validator) ----------------

    @property
    def issuer(self) -> str:
        """``iss``: the platform's issuer."""
        return cast("str", self._payload["iss"])

    @property
    def subject(self) -> str | None:
        """``sub``: the user's stable id at this issuer; ``None`` for anonymous launches."""
        return cast("str | None", self._payload.get("sub"))

    @property
    def authorized_party(self) -> str | None:
        """``azp``."""
        return cast("str | None", self._payload.get("azp"))

    @property
    def expires_at(self) -> float:
        """``exp``, seconds since the epoch."""
        return cast("float", self._payload["exp"])

    @property
    def issued_at(self) -> float:
        """``iat``, seconds since the epoch."""
        return cast("float", self._payload["iat"])

    @property
    def nonce(self) -> str:
        """``nonce`` (already consumed)."""
        return cast("str", self._payload["nonce"])

    @property
    def message_type(self) -> str:
        """The LTI ``message_type``, e.g. ``"LtiResourceLinkRequest"``."""
        return cast("str", self._payload[MESSAGE_TYPE])

    @property
    def version(self) -> str:
        """The LTI ``version`` (always ``"1.3.0"``)."""
        return cast("str", self._payload[VERSION])

    @property
    def deployment_id(self) -> str:
        """The platform's ``deployment_id``."""
        return cast("str", self._payload[DEPLOYMENT_ID])

    @property
    def target_link_uri(self) -> str:
        """Where to send the user: the signed ``target_link_uri`` (Core §5.3.4)."""
        return cast("str", self._payload[TARGET_LINK_URI])

    # -- typed sub-records ---------------------------------------------------------------

    @property
    def resource_link(self) -> ResourceLink | None:
        """The launched resource link (Core §5.3.5)."""
        return self._shaped(RESOURCE_LINK)  # type: ignore[no-any-return]

    @property
    def context(self) -> Context | None:
        """The course or group (Core §5.4.1)."""
        return self._shaped(CONTEXT)  # type: ignore[no-any-return]

    @property
    def tool_platform(self) -> ToolPlatform | None:
        """The platform instance (Core §5.4.2)."""
        return self._shaped(TOOL_PLATFORM)  # type: ignore[no-any-return]

    @property
    def launch_presentation(self) -> LaunchPresentation | None:
        """How the platform shows the tool (Core §5.4.4)."""
        return self._shaped(LAUNCH_PRESENTATION)  # type: ignore[no-any-return]

    @property
    def lis(self) -> Lis | None:
        """LIS identifiers (Core §5.4.5)."""
        return self._shaped(LIS)  # type: ignore[no-any-return]

    @property
    def ags(self) -> AgsEndpoint | None:
        """The Assignment and Grade Services endpoint claim (AGS §3.1)."""
        return self._shaped(AGS_CLAIM)  # type: ignore[no-any-return]

    @property
    def nrps(self) -> NrpsEndpoint | None:
        """The Names and Role Provisioning Services claim (NRPS §3.6.1)."""
        return self._cache.get(NRPS_CLAIM)

    @property
    def deep_linking(self) -> DeepLinkingSettings | None:
        """The deep-linking settings (DL §4.4.1)."""
        return self._cache.get(DL_SETTINGS_CLAIM)

    @property
    def lti1p1(self) -> Lti1p1Claim | None:
        """The LTI 1.1 migration claim **as sent: not verified**.

        Use :attr:`credlti.lti.LaunchContext.lti1p1` to link LTI 1.1 accounts: it
        exists only when the claim's signature verified with the 1.1 secret.
        """
        return self._cache.get(LTI1P1)

    @property
    def custom(self) -> Mapping[str, str]:
        """Custom parameters (Core §5.4.6), as text."""
        found = self._cache.get(CUSTOM, _UNSET)
        if found is _UNSET:
            value = self._payload.get(CUSTOM)
            found = self._cache[CUSTOM] = _EMPTY_MAP if value is None else _custom(value)
        return found  # type: ignore[no-any-return]

    @property
    def role_scope_mentor(self) -> tuple[str, ...]:
        """Users the launching mentor may see (Core §5.4.3)."""
        value = self._payload.get(ROLE_SCOPE_MENTOR)
        return () if value is None else tuple(value)

    @property
    def extensions(self) -> Mapping[str, Any]:
        """Claims credlti does not model, keyed by full claim name (Core §3.5)."""
        found = self._cache.get("", _UNSET)
        if found is _UNSET:
            payload = self._payload
            extra = {k: payload[k] for k in payload.keys() - _TYPED_KEYS}
            found = self._cache[""] = MappingProxyType(extra) if extra else _EMPTY_MAP
        return found  # type: ignore[no-any-return]

    # -- user profile (all optional; Core §5.3.6) ---------------------------------------

    @property
    def name(self) -> str | None:
        """The user's full name."""
        return cast("str | None", self._payload.get("name"))

    @property
    def given_name(self) -> str | None:
        """The user's given name."""
        return cast("str | None", self._payload.get("given_name"))

    @property
    def family_name(self) -> str | None:
        """The user's family name."""
        return cast("str | None", self._payload.get("family_name"))

    @property
    def middle_name(self) -> str | None:
        """The user's middle name."""
        return cast("str | None", self._payload.get("middle_name"))

    @property
    def email(self) -> str | None:
        """The user's email address (never use it to identify users: use ``subject``)."""
        return cast("str | None", self._payload.get("email"))

    @property
    def picture(self) -> str | None:
        """A URL of the user's picture."""
        return cast("str | None", self._payload.get("picture"))

    @property
    def locale(self) -> str | None:
        """The user's locale."""
        return cast("str | None", self._payload.get("locale"))

    @property
    def unresolved_custom(self) -> tuple[str, ...]:
        """Custom keys whose value still starts with ``$``.

        Such values are substitutions the platform lacks or refused (Core Appendix B).
        """
        return tuple(k for k, v in self.custom.items() if v.startswith("$"))


def _custom(value: object) -> Mapping[str, str]:
    # Core §5.4.6 says string values only. Platforms do send numbers and booleans;
    # rather than failing the launch they are kept as their JSON text, and nulls
    # (invalid) are dropped. Objects and arrays are kept as JSON text too.
    obj = as_object(value, "custom", "Core §5.4.6")
    out: dict[str, str] = {}
    for key, item in obj.items():
        if isinstance(item, str):
            out[key] = item
        elif item is not None:
            out[key] = json.dumps(item, separators=(",", ":"), sort_keys=True)
    return MappingProxyType(out)


def _nrps(value: object) -> NrpsEndpoint:
    path, ref = "namesroleservice", "NRPS §3.6.1"
    obj = as_object(value, path, ref)
    url = obj.get("context_memberships_url")
    if not isinstance(url, str) or not url:
        raise invalid(f"{path}.context_memberships_url", "a non-empty URL string", url, ref)
    # The NRPS prose says service_version, the example service_versions: accept both.
    field = "service_versions" if "service_versions" in obj else "service_version"
    versions = obj.get(field)
    if isinstance(versions, str):
        versions = [versions]
    return NrpsEndpoint(
        context_memberships_url=url,
        service_versions=() if versions is None else str_list(versions, f"{path}.{field}", ref),
    )


def _deep_linking(value: object) -> DeepLinkingSettings:
    path, ref = "deep_linking_settings", "DL §4.4.1"
    obj = as_object(value, path, ref)
    url = obj.get("deep_link_return_url")
    if url is not None and not isinstance(url, str):
        raise invalid(f"{path}.deep_link_return_url", "a URL string", url, ref)
    if not url:
        raise MissingClaimError(
            "claim 'deep_linking_settings.deep_link_return_url' is required",
            spec_ref=ref,
            details={"claim": "deep_linking_settings.deep_link_return_url"},
        )
    for field in ("accept_types", "accept_presentation_document_targets"):
        if field not in obj:
            raise MissingClaimError(
                f"claim 'deep_linking_settings.{field}' is required",
                spec_ref=ref,
                details={"claim": f"deep_linking_settings.{field}"},
            )
    return DeepLinkingSettings(
        deep_link_return_url=url,
        accept_types=str_list(obj["accept_types"], f"{path}.accept_types", ref),
        accept_presentation_document_targets=str_list(
            obj["accept_presentation_document_targets"],
            f"{path}.accept_presentation_document_targets",
            ref,
        ),
        accept_media_types=opt_str(obj, "accept_media_types", path, ref),
        accept_multiple=opt_bool(obj, "accept_multiple", path, ref),
        accept_lineitem=opt_bool(obj, "accept_lineitem", path, ref),
        auto_create=opt_bool(obj, "auto_create", path, ref),
        title=opt_str(obj, "title", path, ref),
        text=opt_str(obj, "text", path, ref),
        data=obj.get("data"),
    )


def parse_claims(
    payload: Mapping[str, Any],
    *,
    audience: tuple[str, ...],
    roles: Roles | None,
    id_limit: int | None = None,
) -> LaunchClaims:
    """Check the shape of every claim of a verified payload and return :class:`LaunchClaims`.

    The launch validator has already checked the security and required claims
    (iss, aud, exp, iat, nonce, message type, version, deployment, target link,
    subject); this checks everything else, eagerly, and raises
    :class:`~credlti.errors.InvalidClaimError` (or ``MissingClaimError``) on wrong
    shapes, so that reading the claims later never fails.

    Args:
        payload: The verified token payload.
        audience: The ``aud`` claim normalised to a tuple.
        roles: The parsed roles, or ``None`` to parse them here (absent roles give an
            empty :class:`Roles`).
        id_limit: The longest ``resource_link.id`` and ``context.id`` accepted
            (Core §5.3.5, §5.4.1), or ``None`` for no limit.
    """
    if roles is None:
        raw_roles = payload.get(ROLES)
        roles = (
            Roles()
            if raw_roles is None
            else parse_roles(str_list(raw_roles, "roles", "Core §5.3.7"))
        )
    for claim in payload.keys() & _SHAPED_KEYS:
        value = payload[claim]
        if value is not None:
            _check_shape(_SHAPES[claim], value, id_limit)
    for name in _PROFILE_FIELDS:
        value = payload.get(name)
        if value is not None and type(value) is not str:
            raise invalid(name, "a string", value, "Core §5.3.6")
    custom = payload.get(CUSTOM)
    if custom is not None:
        as_object(custom, "custom", "Core §5.4.6")
    mentor = payload.get(ROLE_SCOPE_MENTOR)
    if mentor is not None:
        str_list(mentor, "role_scope_mentor", "Core §5.4.3")
    cache: dict[str, Any] = {}
    nrps = payload.get(NRPS_CLAIM)
    if nrps is not None:
        cache[NRPS_CLAIM] = _nrps(nrps)
    deep_linking = payload.get(DL_SETTINGS_CLAIM)
    if deep_linking is not None:
        cache[DL_SETTINGS_CLAIM] = _deep_linking(deep_linking)
    lti1p1 = payload.get(LTI1P1)
    if lti1p1 is not None:
        cache[LTI1P1] = parse_lti1p1(lti1p1, id_limit)
    return LaunchClaims(payload, audience=audience, roles=roles, _cache=cache)
