"""The codec endpoint for exports: decoded payloads with each tenant's personal data redacted.

`temporal workflow show --output json --codec-endpoint <gateway>/codec/export --codec-auth "Bearer <operator
JWT>"` writes a history whose payloads are readable and hold none of the values the tenant's privacy policy
hides (`policies.export_privacy`): the export the replay regression (`python -m evals.replay`) and eval
datasets are built from. `/codec/decode` stays the operator's view for debugging, with raw values, and is
logged; this one is what may be kept in a file, a CI artefact or a dataset. Same authentication, same
refusals (`api.routes.codec`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import StateDep
from api.errors import ApiError
from api.routes.codec import (
    CodecPayloads,
    NamespaceHeader,
    PlatformOperatorDep,
    _codec,
    _CorsRoute,
    _to_json,
    _to_proto,
    log,
    preflight,
)
from core.crypto import PayloadDecryptionError, recorded_scope
from policies.export_privacy import ExportRedaction
from policies.privacy import PrivacyPolicies

router = APIRouter(prefix="/codec/export", tags=["codec"], route_class=_CorsRoute)


def _redaction(request: Request) -> ExportRedaction:
    state = request.app.state
    redaction = getattr(state, "export_redaction", None)
    if redaction is None:
        redaction = ExportRedaction(PrivacyPolicies(state.gateway.db))
        state.export_redaction = redaction
    return redaction


@router.post("/decode")
async def decode_for_export(
    body: CodecPayloads,
    request: Request,
    operator: PlatformOperatorDep,
    state: StateDep,
    namespace: NamespaceHeader = None,
) -> dict[str, object]:
    codec = _codec(state, namespace)
    payloads = _to_proto(body)
    try:
        decoded = await codec.decode(payloads)
    except PayloadDecryptionError as exc:
        raise ApiError(422, "payload_not_decryptable", str(exc)) from exc
    redacted = await _redaction(request).encrypted_then_decoded(payloads, decoded)
    scopes = sorted({scope for p in payloads if (scope := recorded_scope(p))})
    if scopes:
        log.info("operator exported payloads", operator=operator.subject, tenants=scopes, count=len(payloads))
    return _to_json(redacted)


@router.options("/decode", include_in_schema=False)
async def export_preflight(request: Request) -> Response:
    return await preflight(request)
