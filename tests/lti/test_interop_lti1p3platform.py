"""Interoperability with an independent platform: the PyPI package lti1p3platform 0.1.8.

Its core modules (never ``lti1p3platform.framework.*``) sign the launches, issue
service tokens, serve NRPS pages and AGS line items, scores and results, and verify
our deep-linking response; an
``httpx.MockTransport`` is the HTTP glue. Its quirks, handled in the glue: query
values arrive as strings but it computes ``page + 1`` (so we cast page/limit to
int), it reads the ``Authorization`` header case-sensitively, and it puts the next
page in the body, which its own framework adapters turn into an unquoted
``Link: <...>; rel=next``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import attrs
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration as PlatformRegistration
from lti1p3platform.request import Request
from lti1p3platform.response import generate_next_link
from lti1p3platform.score import UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
)

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import StaleScoreError, UnsafeServiceUrlError
from credlti.lti import Deployment, Registration, Tool
from credlti.lti.deep_linking import Link, LtiResourceLink, build_response
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import (
    SCOPE_NRPS_READONLY,
    GradeService,
    LineItem,
    MemberStatus,
    RosterService,
    Score,
    ServiceTokenClient,
)

ISS = "https://lms.interop.example"
CLIENT_ID = "interop-tool"
DEPLOYMENT_ID = "deployment-7"
LAUNCH_URL = "https://tool.example.com/launch"
DL_URL = "https://tool.example.com/deep-link"
MEMBERSHIPS = f"{ISS}/api/contexts/ctx-1/memberships"
LINEITEMS = f"{ISS}/api/contexts/ctx-1/lineitems"
TOKEN_URL = f"{ISS}/token"
JWKS_URL = f"{ISS}/jwks"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"

TOOL_KEY = generate_key(now=datetime.now(timezone.utc), state=KeyState.CURRENT)
_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PLATFORM_PEM = _PRIVATE.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
PLATFORM_PUBLIC_PEM = (
    _PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
MEMBERS = [
    {"user_id": f"student-{n}", "roles": [LEARNER], "name": f"Student {n}"} for n in range(7)
] + [{"user_id": "teacher", "roles": [INSTRUCTOR, "urn:lms:role:custom"], "status": "Active"}]


class Platform(LTI1P3PlatformConfAbstract):  # type: ignore[misc]
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = self.get_registration_by_params()

    def get_registration_by_params(self, **kwargs: Any) -> PlatformRegistration:
        return (
            PlatformRegistration()
            .set_iss(ISS)
            .set_client_id(CLIENT_ID)
            .set_deployment_id(DEPLOYMENT_ID)
            .set_launch_url(LAUNCH_URL)
            .set_deeplink_launch_url(DL_URL)
            .set_oidc_login_url("https://tool.example.com/login")
            .set_platform_private_key(PLATFORM_PEM)
            .set_platform_public_key(PLATFORM_PUBLIC_PEM)
            .set_tool_key_set(jwks([TOOL_KEY]))
        )


class PlatformRequest(Request):  # type: ignore[misc]
    def build_metadata(self, raw: Any) -> Any:
        return raw


class Login(OIDCLoginAbstract):  # type: ignore[misc]
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class Launch(LTIAdvantageMessageLaunchAbstract):  # type: ignore[misc]
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class Roster(NamesRoleProvisioningService):  # type: ignore[misc]
    def get_member_data_page(
        self, page: int = 1, limit: int | None = None, role: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        rows = [m for m in MEMBERS if role is None or role in m["roles"]]
        if limit is None:
            return {"content": rows, "has_next": False}
        return {
            "content": rows[(page - 1) * limit : page * limit],
            "has_next": page * limit < len(rows),
        }

    def get_context_by_id(self) -> Context:
        return Context(id="ctx-1", label="INTEROP", title="Interoperability 101")

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        return resource_link_id == "rl-1"


class Gradebook(AssignmentsGradesService):  # type: ignore[misc]
    """Its AGS service over an in-memory gradebook (one per glue)."""

    def __init__(self, request: Any, platform: Any, book: dict[str, Any]) -> None:
        super().__init__(request, platform, LINEITEMS)
        self.book = book

    def _items(self) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = self.book.setdefault("items", {})
        return items

    def find_lineitems(
        self, page: int = 1, limit: int | None = None, **filters: Any
    ) -> dict[str, Any]:
        rows = [
            item
            for item in self._items().values()
            if all(item.get(_CAMEL[k]) == v for k, v in filters.items() if k in _CAMEL)
        ]
        if limit is None:
            return {"content": rows, "has_next": False}
        return {
            "content": rows[(page - 1) * limit : page * limit],
            "has_next": page * limit < len(rows),
        }

    def find_lineitem(self, line_item_id: str) -> Any:
        from lti1p3platform.exceptions import LineItemNotFoundException

        try:
            return self._items()[line_item_id]
        except KeyError:
            raise LineItemNotFoundException() from None

    def create_lineitem(self, creation_data: Any) -> Any:
        number = len(self._items()) + 1
        item = {**creation_data, "id": f"{LINEITEMS}/{number}"}
        self._items()[str(number)] = item
        return item

    def update_lineitem(self, update_data: Any) -> Any:
        number = update_data["id"]
        item = {**update_data, "id": f"{LINEITEMS}/{number}"}
        self._items()[number] = item
        return item

    def delete_lineitem(self, line_item_id: str) -> None:
        self._items().pop(line_item_id, None)

    def update_score(self, line_item_id: str, score: Any) -> UpdateScoreStatus:
        held = self.book.setdefault("scores", {}).setdefault(line_item_id, {})
        last = held.get(score["userId"])
        if last is not None and score["timestamp"] <= last["timestamp"]:
            return UpdateScoreStatus.OLD_TIMESTAMP
        held[score["userId"]] = score
        return UpdateScoreStatus.SUCCESS

    def get_results(
        self, line_item_id: str, page: int = 1, limit: int | None = None, user_id: Any = None
    ) -> dict[str, Any]:
        held = self.book.get("scores", {}).get(line_item_id, {})
        rows = [
            {
                "id": f"{LINEITEMS}/{line_item_id}/results/{user}",
                "scoreOf": f"{LINEITEMS}/{line_item_id}",
                "userId": user,
                "resultScore": score.get("scoreGiven"),
                "resultMaximum": score.get("scoreMaximum"),
            }
            for user, score in held.items()
            if user_id is None or user == user_id
        ]
        return {"content": rows, "has_next": False}


_CAMEL = {"resource_link_id": "resourceLinkId", "resource_id": "resourceId", "tag": "tag"}


class Glue:
    """The platform's HTTP side: JWKS, token endpoint, NRPS, AGS, as an httpx transport."""

    def __init__(self) -> None:
        self.platform = Platform()
        self.requests: list[httpx.Request] = []
        self.assertions: list[str] = []
        self.book: dict[str, Any] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = urlsplit(str(request.url))
        base = f"{url.scheme}://{url.netloc}{url.path}"
        if base == JWKS_URL:
            return httpx.Response(200, json=self.platform.get_jwks())
        if base == TOKEN_URL and request.method == "POST":
            form = dict(parse_qsl(request.content.decode()))
            self.assertions.append(form.get("client_assertion", ""))
            try:
                return httpx.Response(200, json=self.platform.get_access_token(form))
            except Exception as exc:
                return httpx.Response(400, json={"error": "invalid_client", "x": repr(exc)})
        if base == MEMBERSHIPS:
            query: dict[str, Any] = dict(parse_qsl(url.query))
            for name in ("page", "limit"):  # its quirk: page + 1 on a str is a TypeError
                if name in query:
                    query[name] = int(query[name])
            # Another quirk: it reads headers case-sensitively ("Authorization").
            headers_in = {k.title(): v for k, v in request.headers.items()}
            service = Roster(
                PlatformRequest(
                    {"method": request.method, "headers": headers_in, "get_data": query}
                ),
                self.platform,
                MEMBERSHIPS,
            )
            answer = service.handle_resp(service.handle_get_members)
            result = dict(answer.result or {})
            headers = {"Content-Type": answer.media_type}
            if result.get("next"):  # what its Django adapter does: an unquoted rel=next
                headers["Link"] = generate_next_link(result.pop("next"))
            return httpx.Response(answer.code, content=json.dumps(result).encode(), headers=headers)
        if base == LINEITEMS or base.startswith(LINEITEMS + "/"):
            return self._ags(request, base[len(LINEITEMS) :].strip("/").split("/"), url.query)
        return httpx.Response(404)

    def _ags(self, request: httpx.Request, parts: list[str], query_text: str) -> httpx.Response:
        """Its AGS handlers, rendered the way its Django adapter renders them."""
        query: dict[str, Any] = dict(parse_qsl(query_text))
        for name in ("page", "limit"):
            if name in query:
                query[name] = int(query[name])
        body = json.loads(request.content) if request.content else None
        service = Gradebook(
            PlatformRequest(
                {
                    "method": request.method,
                    "headers": {k.title(): v for k, v in request.headers.items()},
                    "get_data": query,
                    "json": body,
                }
            ),
            self.platform,
            self.book,
        )
        service.ags.lineitem_url = f"{LINEITEMS}/{parts[0]}" if parts[0] else None
        method = request.method
        if parts == [""]:
            handler = (
                service.handle_get_lineitems if method == "GET" else service.handle_create_lineitem
            )
            answer = service.handle_resp(handler)
        elif len(parts) == 1:
            handler = {
                "GET": service.handle_get_lineitem,
                "PUT": service.handle_update_lineitem,
                "DELETE": service.handle_delete_lineitem,
            }[method]
            answer = service.handle_resp(handler, line_item_id=parts[0])
        elif parts[1] == "scores":
            answer = service.handle_resp(service.handle_update_score, line_item_id=parts[0])
        else:
            answer = service.handle_resp(service.handle_get_results, line_item_id=parts[0])
        headers = {"Content-Type": answer.media_type}
        result = answer.result
        if isinstance(result, dict) and "content" in result:
            if result.get("next"):
                headers["Link"] = generate_next_link(result["next"])
            result = result["content"]
        content = b"" if result is None else json.dumps(result).encode()
        return httpx.Response(answer.code, content=content, headers=headers)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


def _tool(glue: Glue) -> Tool[Any, Any]:
    storage: Any = MemoryLaunchStorage()
    registration = Registration(
        issuer=ISS,
        client_id=CLIENT_ID,
        auth_endpoint=f"{ISS}/auth",
        jwks_uri=JWKS_URL,
        token_endpoint=TOKEN_URL,
    )
    storage.add_registration(registration)
    storage.add_deployment(registration, Deployment(deployment_id=DEPLOYMENT_ID))
    return Tool(storage, http_client=glue.client())


def _launch(glue: Glue, tool: Tool[Any, Any], *, deep_linking: bool = False) -> Any:
    login = Login(None, glue.platform)
    login.set_lti_message_hint(hint="rl-1")
    if deep_linking:
        login.set_deeplinking_launch_url()
    initiation = urlsplit(login.initiate_login("student-1"))
    params = dict(parse_qsl(initiation.query))
    redirect_uri = DL_URL if deep_linking else LAUNCH_URL
    redirect = tool.handle_login(params, redirect_uri)
    auth_params = {k: v[0] for k, v in parse_qs(urlsplit(redirect.url).query).items()}
    launch = Launch(PlatformRequest({"get_data": auth_params, "form_data": {}}), glue.platform)
    launch.set_user_data("student-1", [LEARNER], full_name="Student One")
    launch.set_resource_link_claim("rl-1", title="Interop quiz")
    launch.set_launch_context_claim("ctx-1", context_title="Interop", context_label="INT")
    launch.set_nrps(MEMBERSHIPS)
    launch.set_ags(f"{ISS}/api/contexts/ctx-1/lineitems")
    if deep_linking:
        launch.set_dl(f"{ISS}/deep-link-return", extra_data="opaque-7")
    form = launch.lti_launch()
    assert form["launch_url"] == redirect_uri
    return tool.handle_callback(
        {"id_token": form["id_token"], "state": form["state"]}, redirect.cookie_value
    )


def test_launch_signed_by_lti1p3platform_is_accepted() -> None:
    """Its RS256 id_token verifies through its JWKS; claims, roles and services are parsed."""
    glue = Glue()
    launch = _launch(glue, _tool(glue))
    claims = launch.claims
    assert (claims.issuer, claims.subject, claims.deployment_id) == (
        ISS,
        "student-1",
        DEPLOYMENT_ID,
    )
    assert claims.roles.is_learner
    assert claims.resource_link.id == "rl-1"
    assert claims.nrps.context_memberships_url == MEMBERSHIPS
    assert claims.ags.lineitems == f"{ISS}/api/contexts/ctx-1/lineitems"
    assert [str(r.url) for r in glue.requests] == [JWKS_URL]


def test_token_from_its_endpoint_then_every_nrps_page() -> None:
    """Our client assertion gets a token from it; its unquoted rel=next pages are all followed."""
    glue = Glue()
    launch = _launch(glue, _tool(glue))
    client = ServiceTokenClient(keys=TOOL_KEY, http_client=glue.client())
    roster = RosterService(
        client,
        launch.registration,
        launch.claims.nrps,
        resource_link_id=launch.claims.resource_link.id,
        deployment_id=launch.claims.deployment_id,
    )
    membership = roster.get_membership(limit=3)
    assert [m.user_id for m in membership.members] == [m["user_id"] for m in MEMBERS]
    teacher = membership.members[-1]
    assert teacher.roles.is_instructor
    assert teacher.roles.unrecognized == ("urn:lms:role:custom",)
    assert all(m.status is MemberStatus.ACTIVE for m in membership.members)
    assert membership.context is not None
    assert membership.context.title == "Interoperability 101"
    pages = [r for r in glue.requests if r.url.path.endswith("/memberships")]
    assert len(pages) == 3
    assert [parse_qs(r.url.query.decode()).get("page") for r in pages] == [None, ["2"], ["3"]]
    assert len(glue.assertions) == 1
    token = pages[0].headers["Authorization"].split()[1]
    assert glue.platform.validate_token(token, [SCOPE_NRPS_READONLY])

    learners = roster.get_membership(role="Learner", resource_link=True)
    assert len(learners.members) == 7
    assert len(glue.assertions) == 1  # the cached token served again


def test_streaming_its_roster_is_lazy() -> None:
    """iter_members asks it for one page at a time."""
    glue = Glue()
    launch = _launch(glue, _tool(glue))
    roster = RosterService(
        ServiceTokenClient(keys=TOOL_KEY, http_client=glue.client()),
        launch.registration,
        launch.claims.nrps,
    )
    members = roster.iter_members(limit=4)
    first = [next(members) for _ in range(4)]
    assert [m.user_id for m in first] == [f"student-{n}" for n in range(4)]
    assert sum(r.url.path.endswith("/memberships") for r in glue.requests) == 1
    assert len(list(members)) > 0
    assert sum(r.url.path.endswith("/memberships") for r in glue.requests) == 2


def test_our_deep_linking_response_passes_its_validation() -> None:
    """build_response's JWT verifies with validate_deeplinking_resp and returns our items."""
    glue = Glue()
    launch = _launch(glue, _tool(glue), deep_linking=True)
    settings = launch.claims.deep_linking
    assert settings is not None
    assert settings.data == "opaque-7"
    response = build_response(
        launch.claims,
        [
            LtiResourceLink(title="Quiz 1", custom={"quiz": "1"}),
            Link(url="https://tool.example.com/r/1", title="Reading"),
        ],
        key=TOOL_KEY,
        client_id=CLIENT_ID,
        now=datetime.now(timezone.utc),
        nonce="dl-nonce-1",
    )
    items = glue.platform.validate_deeplinking_resp({"JWT": response.jwt})
    assert [i["type"] for i in items] == ["ltiResourceLink", "link"]
    assert items[0]["custom"] == {"quiz": "1"}


def test_it_accepts_a_replayed_client_assertion() -> None:
    """Finding: it checks only the assertion's signature and kid, so a replayed jti passes."""
    glue = Glue()
    launch = _launch(glue, _tool(glue))
    client = ServiceTokenClient(keys=TOOL_KEY, http_client=glue.client())
    client.get_token(launch.registration, [SCOPE_NRPS_READONLY])
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": glue.assertions[0],
        "scope": SCOPE_NRPS_READONLY,
    }
    assert glue.platform.get_access_token(form)["scope"] == SCOPE_NRPS_READONLY
    with pytest.raises(Exception, match="Unable to find public key"):
        glue.platform.get_access_token({**form, "client_assertion": _foreign_assertion()})


def _foreign_assertion() -> str:
    other = generate_key(now=datetime.now(timezone.utc), state=KeyState.CURRENT)
    return other.sign_jwt({"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": TOKEN_URL, "jti": "x"})


def _grades(glue: Glue) -> GradeService:
    launch = _launch(glue, _tool(glue))
    client = ServiceTokenClient(keys=TOOL_KEY, http_client=glue.client())
    return GradeService(
        client, launch.registration, launch.claims.ags, deployment_id=launch.claims.deployment_id
    )


def _done(given: float, user: str = "student-1") -> Score:
    return Score(
        user_id=user,
        score_given=given,
        score_maximum=10,
        activity_progress="Completed",
        grading_progress="FullyGraded",
    )


def test_its_ags_line_items_are_created_listed_and_paged() -> None:
    """Its AGS handlers: create, get, update, list every unquoted rel=next page, delete."""
    glue = Glue()
    grades = _grades(glue)
    assert grades.endpoint.lineitems == LINEITEMS
    created = [
        grades.create_line_item(LineItem(label=f"Quiz {n}", score_maximum=10, tag="quiz"))
        for n in range(5)
    ]
    assert [c.id for c in created] == [f"{LINEITEMS}/{n}" for n in range(1, 6)]
    assert grades.get_line_item(created[0]).label == "Quiz 0"
    renamed = grades.update_line_item(
        LineItem(label="Quiz zero", score_maximum=10, id=created[0].id, tag="quiz")
    )
    assert renamed.label == "Quiz zero"

    items = grades.list_line_items(limit=2)
    assert [i.label for i in items] == ["Quiz zero", "Quiz 1", "Quiz 2", "Quiz 3", "Quiz 4"]
    pages = [r for r in glue.requests if r.method == "GET" and r.url.path.endswith("/lineitems")]
    assert [parse_qs(r.url.query.decode()).get("page") for r in pages] == [None, ["2"], ["3"]]
    assert all(not i.problems for i in items)

    grades.delete_line_item(created[4])
    assert len(grades.list_line_items()) == 4
    assert len(glue.assertions) == 1


def test_its_score_and_result_services() -> None:
    """Scores land, its results come back; its 409 for an old timestamp is StaleScoreError."""
    glue = Glue()
    grades = _grades(glue)
    item = grades.create_line_item(LineItem(label="Essay", score_maximum=10))
    first = grades.post_score(_done(6), item)
    second = grades.post_score(_done(8), item)
    assert second > first
    (result,) = grades.list_results(item)
    assert (result.user_id, result.result_score, result.result_maximum) == ("student-1", 8, 10)

    # Another process of the tool (its own timestamp registry) sends an older score.
    elsewhere = _grades(glue)
    with pytest.raises(StaleScoreError):
        elsewhere.post_score(attrs.evolve(_done(9), timestamp=first), item)
    assert grades.list_results(item)[0].result_score == 8


def test_its_ags_never_gets_a_token_for_a_foreign_line_item() -> None:
    """A line item URL off its origin: refused before any request reaches the transport."""
    glue = Glue()
    grades = _grades(glue)
    before = len(glue.requests)
    with pytest.raises(UnsafeServiceUrlError):
        grades.post_score(_done(1), "https://evil.example/api/contexts/ctx-1/lineitems/1")
    assert len(glue.requests) == before
