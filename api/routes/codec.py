"""Temporal's remote codec protocol, so Temporal UI and the `temporal` CLI show decrypted payloads.

`POST /codec/decode` and `POST /codec/encode` take and return `Payloads` in protobuf JSON
(`{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`), namespace in `X-Namespace`.
Only platform operators may call them: decoding opens any tenant's data, so each call is logged with the
operator and the tenants whose payloads it opened.

How an operator authenticates:
- `temporal` CLI: `--codec-endpoint <gateway>/codec --codec-auth "Bearer <operator JWT>"` (in development,
  `aiaas admin token --platform-role platform_operator` prints one).
- Temporal UI, signed in to the console: with "include cross-origin credentials" on (the UI's codec
  setting), the browser sends the console's session cookie with each codec call, and an operator's session
  is accepted, from an allowed origin only (`temporal_ui_url`, `codec_cors_origins`). The UI and the gateway
  run on the same host, so the cookie (SameSite=Lax) travels with these same-site requests. A tenant user's
  session is refused (403): tenant roles never open payloads.
- Temporal UI with its own login (OIDC): it sends `Authorization: Bearer <the UI user's access token>` when
  "pass access token" is on and the endpoint is HTTPS; the gateway must then accept that identity
  provider's tokens as operator JWTs. The UI cannot be given an arbitrary header.

Refusals reach the `temporal` CLI as an answer, not a 10-second hang. The CLI (like every user of the Go SDK's
remote codec) treats any status but 200 as an error its gRPC layer retries until its deadline, then prints only
"context deadline exceeded". So a refused decode from Go's HTTP client, and not from a browser (which sends an
`Origin` and reads the status through CORS), is answered 200 with every payload replaced by a short JSON
string that says why, e.g. `not decoded by the aiaas codec: 401 unauthenticated: ...`; `temporal workflow show
--detailed` prints it where the payload would be. Nothing is decoded for such a caller, and the refusal is
logged as any other. A refused encode keeps its error status: standing in for a payload there would send the
placeholder to the server as data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import StateDep, authenticate_any
from api.errors import ApiError, error_body
from api.session_auth import session_id, session_principal
from api.state import GatewayState
from core.crypto import PayloadDecryptionError, TenantPayloadCodec, recorded_scope
from tenancy.permissions import PlatformRole, acts_as
from tenancy.principal import Principal

log = structlog.get_logger("aiaas.codec")

# The UI decodes one event's payloads per request; the gateway's body limit bounds the bytes anyway.
MAX_PAYLOADS = 1000
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
_PREFLIGHT_MAX_AGE = "600"
_GO_CLIENT = "Go-http-client/"


class CodecPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, str] = Field(default_factory=dict, description="values base64-encoded")
    data: str = Field(default="", description="base64-encoded")


class CodecPayloads(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payloads: list[CodecPayload] = Field(max_length=MAX_PAYLOADS)


def _allowed_origins(state: GatewayState) -> set[str]:
    settings = state.settings
    origins = {origin.rstrip("/") for origin in settings.codec_cors_origins}
    if settings.temporal_ui_url:
        origins.add(settings.temporal_ui_url.rstrip("/"))
    return origins


def _cors_headers(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not origin or origin.rstrip("/") not in _allowed_origins(request.app.state.gateway):
        return {}
    # Credentials allowed: the UI's "include cross-origin credentials" option sends cookies with the call.
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def _retries_every_error(request: Request) -> bool:
    """Go's HTTP client without a browser around it: the `temporal` CLI and other Go SDK remote codecs."""
    agent = request.headers.get("user-agent", "")
    return agent.startswith(_GO_CLIENT) and "origin" not in request.headers


async def _stand_ins(request: Request, exc: ApiError) -> Response | None:
    """The decode answer for a client that cannot show an error status: each payload replaced by the reason."""
    if not request.url.path.endswith("/decode") or not _retries_every_error(request):
        return None
    try:
        count = len((await request.json())["payloads"])
    except (ValueError, KeyError, TypeError):
        return None  # not a codec request at all; nothing to stand in for
    reason = json.dumps(f"not decoded by the aiaas codec: {exc.status} {exc.code}: {exc.message}").encode()
    stand_in = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(reason)}
    log.warning("codec refusal answered in place of payloads", status=exc.status, code=exc.code, count=count)
    return JSONResponse({"payloads": [stand_in] * count}, headers={"X-Codec-Refused": exc.code})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class _CorsRoute(APIRoute):
    """Adds CORS headers to every answer of this router, errors included, so the UI can read a 401 or 403."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = await _stand_ins(request, exc) or JSONResponse(
                    error_body(exc.code, exc.message, exc.details), exc.status, exc.headers
                )
            response.headers.update(_cors_headers(request))
            return response

        return with_cors


router = APIRouter(prefix="/codec", tags=["codec"], route_class=_CorsRoute)


async def _operator(request: Request, state: StateDep) -> Principal:
    """A platform operator, by `Authorization` header or, from an allowed origin, by console session."""
    header = request.headers.get("authorization")
    if header is None and session_id(request) is not None and _cors_headers(request):
        principal = await session_principal(state, request)
    else:
        principal = await authenticate_any(state, header)
    if not acts_as(principal.platform_role, PlatformRole.PLATFORM_OPERATOR):
        raise ApiError(
            403, "forbidden", "requires the `platform_operator` platform role", {"platform_role": "platform_operator"}
        )
    return principal


PlatformOperatorDep = Annotated[Principal, Depends(_operator)]
NamespaceHeader = Annotated[str | None, Header(alias="X-Namespace")]


def _codec(state: GatewayState, namespace: str | None) -> TenantPayloadCodec:
    if namespace and namespace != state.settings.temporal_namespace:
        raise ApiError(400, "unknown_namespace", "this gateway holds no keys for that namespace")
    codec = state.temporal.data_converter.payload_codec
    if not isinstance(codec, TenantPayloadCodec):
        raise ApiError(503, "codec_unavailable", "payload encryption is not configured on this gateway")
    return codec


def _to_proto(body: CodecPayloads) -> list[Payload]:
    try:
        parsed = json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as exc:
        raise ApiError(400, "malformed_payload", "payload metadata and data must be base64") from exc
    return list(parsed.payloads)


def _to_json(payloads: list[Payload]) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


@router.post("/decode")
async def decode(
    body: CodecPayloads, operator: PlatformOperatorDep, state: StateDep, namespace: NamespaceHeader = None
) -> dict[str, object]:
    codec = _codec(state, namespace)
    payloads = _to_proto(body)
    decoded: list[Payload] = []
    for index, payload in enumerate(payloads):
        try:
            decoded.extend(await codec.decode([payload]))
        except PayloadDecryptionError as exc:
            raise ApiError(422, "payload_not_decryptable", str(exc), {"index": index}) from exc
    scopes = sorted({scope for p in payloads if (scope := recorded_scope(p))})
    if scopes:
        log.info("operator decoded payloads", operator=operator.subject, tenants=scopes, count=len(payloads))
    return _to_json(decoded)


@router.post("/encode")
async def encode(
    body: CodecPayloads, operator: PlatformOperatorDep, state: StateDep, namespace: NamespaceHeader = None
) -> dict[str, object]:
    # No workflow comes with the request, so this is the platform key; tenant workflows accept it, which
    # lets an operator signal or query a run from the UI.
    encoded = await _codec(state, namespace).encode(_to_proto(body))
    log.info("operator encoded payloads", operator=operator.subject, count=len(encoded))
    return _to_json(encoded)


@router.options("/decode", include_in_schema=False)
@router.options("/encode", include_in_schema=False)
async def preflight(request: Request) -> Response:
    if not _cors_headers(request):
        raise ApiError(403, "origin_not_allowed", "this origin may not call the codec endpoint")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
            "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
        },
    )
