"""The provenance check of a turn's tool calls: may the model do this, given where its request came from?

A turn starts with what the customer wrote and the agent's definition. Each tool result the turn reads is
remembered with its origin (tool result or retrieved knowledge) and whether the read itself was grounded:
its target arguments came from the customer, the definition or an identifier an earlier grounded call
returned. Only identifiers (`id`, `*_id` fields) of grounded results become grounding for later calls;
free text (a note, a carrier message, a document) never does, whatever ids it mentions.

A write or irreversible call is then judged by its tool's `ToolPolicy` (see `contracts.provenance`):

- a target argument whose value no trusted origin holds -> refuse (the model read it somewhere untrusted or
  made it up);
- another argument repeating text that only an untrusted result holds (a ticket body copied from a
  note) -> ask the customer;
- targets grounded, but the customer's message neither names the tool nor states one of the policy's
  intents ("look up" never authorises "cancel") -> ask the customer, or refuse when the policy says so;
- otherwise -> allow.

Everything here is pure and deterministic (no I/O, no clock), so it runs inside the workflow and replays; the
decision and its facts are recorded by an activity, so history shows why each call ran or was refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.agents import Effect, ToolSpec
    from contracts.conversation import ToolCallRequest
    from contracts.provenance import (
        ArgumentFact,
        Origin,
        PolicyDecision,
        ReadFact,
        ToolPolicy,
        Verdict,
    )
    from contracts.tool_calls import ToolCallResult, ToolStatus

# The patch that turned the provenance policy and spotlighting on; runs recorded before it replay without.
PROVENANCE_PATCH = "provenance-policy"
_WORD = re.compile(r"[^\W_]+")
_NEGATIONS = frozenset({"not", "don", "dont", "never", "no", "without", "nicht", "kein", "keine"})
# A tool named outright in the customer's message (`orders.cancel`) asks for that tool, and only that one.
_TOOL_NAME = re.compile(r"\b[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,2}\b")
_MAX_VALUE = 200
_MAX_QUESTION_VALUE = 80
# Shorter values ("x", "30") occur in any text; longer ones found in an untrusted result were copied from it.
_MIN_TAINT = 3


def is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def default_policy(spec: ToolSpec) -> ToolPolicy:
    """A write that declares no policy: its last name part is the intent, its id arguments the targets."""
    properties = (spec.input_schema or {}).get("properties") or {}
    return ToolPolicy(
        version=1,
        intents=[spec.name.rsplit(".", 1)[-1]],
        grounded_args=sorted(name for name in properties if is_id_key(name)),
    )


def needs_check(spec: ToolSpec) -> bool:
    """Reads run freely; every other effect is checked."""
    return spec.effect != Effect.READ or spec.saga is not None


def _ids(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str | int) and not isinstance(item, bool) and is_id_key(str(key)):
                text = str(item).casefold()
                if text:
                    found.add(text)
            else:
                _ids(item, found)
    elif isinstance(value, list):
        for item in value:
            _ids(item, found)


def _mentions(haystack: str, needle: str) -> bool:
    """`needle` in `haystack` as a whole token run, not inside a longer word or number."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = haystack[start - 1] if start > 0 else " "
        after = haystack[end] if end < len(haystack) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = haystack.find(needle, start + 1)
    return False


@dataclass
class _Seen:
    fact: ReadFact
    text: str  # the output as JSON, casefolded, to say where an ungrounded value was read


class TurnProvenance:
    """The origins of one turn: the customer's message, the agent definition and every result read since."""

    def __init__(self, customer_text: str, definition_text: str = "") -> None:
        self._customer = customer_text.casefold()
        self._named = set(_TOOL_NAME.findall(self._customer))
        words = _WORD.findall(_TOOL_NAME.sub(" ", self._customer))
        # A word right after a negation ("don't cancel", "not refund") asks for nothing.
        self._words = {w for i, w in enumerate(words) if not _NEGATIONS.intersection(words[max(0, i - 3) : i])}
        self._definition = definition_text.casefold()
        self._seen: list[_Seen] = []
        # Identifier -> the call whose grounded result returned it first.
        self._grounding: dict[str, str] = {}

    @property
    def reads(self) -> list[ReadFact]:
        return [seen.fact for seen in self._seen]

    def observe(self, call: ToolCallRequest, spec: ToolSpec | None, result: ToolCallResult) -> None:
        """Remember a call's result; its identifiers ground later calls when the call itself was grounded."""
        origin = spec.origin if spec is not None else Origin.TOOL_RESULT
        grounded = (
            result.status == ToolStatus.OK and origin == Origin.TOOL_RESULT and self._targets_grounded(call, spec)
        )
        text = json.dumps(result.output, ensure_ascii=False, sort_keys=True, default=str).casefold()
        self._seen.append(_Seen(ReadFact(call_id=call.call_id, tool=call.tool, origin=origin, grounded=grounded), text))
        if grounded:
            found: set[str] = set()
            _ids(result.output, found)
            for value in sorted(found):
                self._grounding.setdefault(value, call.call_id)

    def check(self, call: ToolCallRequest, spec: ToolSpec) -> PolicyDecision:
        policy = spec.policy or default_policy(spec)
        intent = call.tool if call.tool in self._named else ""
        intent = intent or next((stem for stem in policy.intents if self._asked(stem)), "")
        facts = [
            self.fact(name, call.arguments[name])
            for name in policy.grounded_args
            if call.arguments.get(name) not in (None, "")
        ]
        tainted = self._tainted(call, set(policy.grounded_args))
        facts += tainted
        ungrounded = [f for f in facts if f.origin == Origin.NOWHERE and f not in tainted]
        if ungrounded:
            verdict, reason = Verdict.REFUSE, _ungrounded_reason(ungrounded)
        elif tainted:
            # Text copied from what a third party wrote into what the call does: the customer decides.
            verdict = Verdict.CONFIRM if policy.confirm_without_intent else Verdict.REFUSE
            names = ", ".join(f"{f.argument} (from {', '.join(f.seen_in_untrusted)})" for f in tainted)
            reason = f"the call repeats text read in untrusted results: {names}"
        elif policy.intents and not intent:
            verdict = Verdict.CONFIRM if policy.confirm_without_intent else Verdict.REFUSE
            reason = f"the customer's request does not ask for {call.tool} (none of: {', '.join(policy.intents)})"
        else:
            verdict, reason = Verdict.ALLOW, "grounded in the customer's request"
        return PolicyDecision(
            call_id=call.call_id,
            tool=call.tool,
            verdict=verdict,
            reason=reason,
            policy_version=policy.version,
            intent_found=intent,
            arguments=facts,
            reads=self.reads,
        )

    def fact(self, argument: str, raw: Any) -> ArgumentFact:
        value = (raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, default=str))[:_MAX_VALUE]
        folded = value.casefold().strip()
        # Results are kept as JSON text: look for the value as JSON would write it inside a string, too.
        encoded = json.dumps(folded, ensure_ascii=False)[1:-1]
        seen_in = [seen.fact.call_id for seen in self._seen if folded and (folded in seen.text or encoded in seen.text)]
        if folded and _mentions(self._customer, folded):
            origin, source = Origin.CUSTOMER, ""
        elif folded in self._grounding:
            origin, source = Origin.TOOL_RESULT, self._grounding[folded]
        elif folded and _mentions(self._definition, folded):
            origin, source = Origin.AGENT_DEFINITION, ""
        else:
            origin, source = Origin.NOWHERE, ""
        return ArgumentFact(
            argument=argument, value=value, origin=origin, source_call_id=source, seen_in_untrusted=seen_in
        )

    def _tainted(self, call: ToolCallRequest, targets: set[str]) -> list[ArgumentFact]:
        """Other arguments whose value no trusted origin holds but an untrusted result does."""
        found = []
        for name, raw in sorted(call.arguments.items()):
            if name in targets or isinstance(raw, bool) or not isinstance(raw, str | int | float):
                continue
            if len(str(raw).strip()) < _MIN_TAINT:
                continue
            fact = self.fact(name, raw)
            if fact.origin == Origin.NOWHERE and fact.seen_in_untrusted:
                found.append(fact)
        return found

    def _asked(self, stem: str) -> bool:
        stem = stem.casefold()
        return any(word.startswith(stem) for word in self._words)

    def _targets_grounded(self, call: ToolCallRequest, spec: ToolSpec | None) -> bool:
        if spec is not None and needs_check(spec):
            policy = spec.policy or default_policy(spec)
            names = policy.grounded_args
        else:
            names = [name for name in call.arguments if is_id_key(name)]
        return all(
            self.fact(name, call.arguments[name]).origin != Origin.NOWHERE
            for name in names
            if call.arguments.get(name) not in (None, "")
        )


def _ungrounded_reason(facts: list[ArgumentFact]) -> str:
    parts = []
    for fact in facts:
        where = f" (it appears only in untrusted results: {', '.join(fact.seen_in_untrusted)})"
        parts.append(f"{fact.argument}={fact.value!r}" + (where if fact.seen_in_untrusted else ""))
    return (
        "refused: the call's target is not something the customer gave or a record the customer's request "
        "returned: " + "; ".join(parts)
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def confirmation_question(call: ToolCallRequest, spec: ToolSpec) -> str:
    """What the customer is asked: the policy's question with the call's values, or a plain default."""
    values = {
        name: (value if isinstance(value, str) else json.dumps(value, default=str))[:_MAX_QUESTION_VALUE]
        for name, value in call.arguments.items()
    }
    template = spec.policy.question if spec.policy is not None and spec.policy.question else ""
    if not template:
        shown = ", ".join(f"{name}={value}" for name, value in sorted(values.items()))
        return f"Shall I run {spec.name} ({shown})? yes/no"
    return template.format_map(_Blank(values, tool=spec.name))
