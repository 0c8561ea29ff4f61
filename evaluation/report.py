"""A self-contained HTML report of one eval run: totals, then per task the transcript, tool calls, verdicts,
tokens, cost and latency. No scripts, no external assets; every value from a run is escaped, since
transcripts hold text customers and third parties wrote."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    ".pass{color:#176f2c}.fail{color:#b00020}details{margin:.5em 0;border:1px solid #ddd;padding:.5em}"
    "pre{white-space:pre-wrap;margin:0}"
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _verdicts(verdicts: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(v['grader'])}</td><td class='{'pass' if v['passed'] else 'fail'}'>"
        f"{'pass' if v['passed'] else 'FAIL'}</td><td>{_e(v.get('detail', ''))}</td></tr>"
        for v in verdicts
    )
    return f"<table><tr><th>grader</th><th>verdict</th><th>detail</th></tr>{rows}</table>"


def _turns(observation: dict[str, Any]) -> str:
    parts = []
    for turn in observation.get("turns", []):
        calls = "".join(
            f"<li><code>{_e(c['tool'])}</code> {_e(json.dumps(c.get('arguments', {}), sort_keys=True))}"
            f" &rarr; {_e(c.get('status', ''))} {_e(c.get('error_type', ''))}</li>"
            for c in turn.get("calls", [])
        )
        parts.append(
            f"<p><b>customer</b></p><pre>{_e(turn.get('user', ''))}</pre>"
            + (f"<ul>{calls}</ul>" if calls else "")
            + f"<p><b>agent</b></p><pre>{_e(turn.get('answer', ''))}</pre>"
        )
    return "".join(parts)


def _task(result: dict[str, Any]) -> str:
    obs = result.get("observation") or {}
    status = "pass" if result["passed"] else "fail"
    return (
        f"<details{'' if result['passed'] else ' open'}><summary class='{status}'>"
        f"{_e(result['task_id'])} ({_e(result.get('agent', ''))}, {_e(result.get('category', ''))}):"
        f" {status.upper()}</summary>"
        f"<p>tokens {int(result.get('prompt_tokens', 0))} + {int(result.get('completion_tokens', 0))},"
        f" cost ${float(result.get('cost_usd', 0)):.6f}, latency {int(result.get('latency_ms', 0))} ms,"
        f" model {_e(obs.get('model', ''))}</p>"
        f"{_verdicts(result.get('verdicts', []))}{_turns(obs)}"
        f"<p>world: <code>{_e(json.dumps(obs.get('world', {}), sort_keys=True))}</code></p></details>"
    )


def render(run: dict[str, Any], results: list[dict[str, Any]]) -> str:
    cost = sum(float(r.get("cost_usd", 0)) for r in results)
    tokens = sum(int(r.get("prompt_tokens", 0)) + int(r.get("completion_tokens", 0)) for r in results)
    header = (
        f"<h1>Eval run {_e(run['id'])}</h1><table>"
        f"<tr><th>suite</th><td>{_e(run['suite'])}</td></tr>"
        f"<tr><th>model</th><td>{_e(run.get('model', ''))}</td></tr>"
        f"<tr><th>agent version</th><td>{_e(run.get('agent_version', '') or '-')}</td></tr>"
        f"<tr><th>status</th><td>{_e(run['status'])}</td></tr>"
        f"<tr><th>passed</th><td>{int(run['passed'])} / {int(run['total'])} ({float(run['pass_rate']):.1%})</td></tr>"
        f"<tr><th>tokens, cost</th><td>{tokens}, ${cost:.6f}</td></tr></table><h2>Tasks</h2>"
    )
    body = "".join(_task(r) for r in sorted(results, key=lambda r: (r["passed"], r["task_id"])))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Eval run {_e(run['id'])}</title><style>{_STYLE}</style></head>"
        f"<body>{header}{body}</body></html>"
    )
