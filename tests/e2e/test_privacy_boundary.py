"""Personal values through whole conversations on the running platform (gateway and worker processes): the
customer reads them back in the streamed answer, and neither process's log holds any of them.

What the provider itself receives is checked in `tests/agents/test_provider_privacy.py`, where the scripted
provider's requests can be read; here the scripted model answers with what it received, and the restored
answer proves the values went out as pseudonyms and came back whole.
"""

from __future__ import annotations

import httpx

from tests.core.pii.values import known_values
from tests.e2e.agent_world import answer, conversation, of, turn
from tests.e2e.platform import Platform

VALUES = known_values(120, seed=1818)
PER_MESSAGE = 20


def test_values_come_back_to_the_customer_and_stay_out_of_the_logs(platform: Platform, api: httpx.Client) -> None:
    cid = conversation(api, "support")
    for start in range(0, len(VALUES), PER_MESSAGE):
        text = "My details: " + "; ".join(value for _kind, value in VALUES[start : start + PER_MESSAGE])
        mid, frames = turn(api, cid, text)
        assert answer(frames, mid) == f"echo: {text}"
        streamed = "".join(str(t["delta"]) for t in of(frames, "token", message_id=mid))
        assert streamed == f"echo: {text}"
    transcript = api.get(f"/v1/conversations/{cid}").json()
    assert "; ".join(v for _k, v in VALUES[:PER_MESSAGE]) in str(transcript)
    logs = platform.worker.log_path.read_text(errors="replace") + platform.gateway.log_path.read_text(errors="replace")
    assert [value for _kind, value in VALUES if value in logs] == []
