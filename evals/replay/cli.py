"""`python -m evals.replay`: replay recorded conversations against a candidate setting.

    python -m evals.replay --histories tests/workflows/histories [--model M] [--prompt-file F]
        [--agent-file F ...] [--tool-file F ...] [--drop-tool NAME ...] [--router-threshold X]
        [--tier-model TIER=MODEL ...] [--stop turn|conversation] [--decode] [--json] [--output FILE]

Exit status: 0 when no decision diverged, 1 when any did (so CI can gate on it), 2 when the input is unusable.
Histories of other workflows (sagas, ingestion) are skipped and listed. `evals` sits above `app` in the
layers, so this is its own entry point rather than an `aiaas` subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from temporalio.converter import PayloadCodec

from contracts.agents import AgentDefinition, ToolSpec
from evals.replay import report
from evals.replay.candidate import Candidate
from evals.replay.extract import extract, is_conversation
from evals.replay.history import HistoryError, history_files, load_history
from evals.replay.recorded import Conversation
from evals.replay.runner import Stop, replay_all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--histories", nargs="+", required=True, metavar="DIR_OR_FILE")
    parser.add_argument("--model", help="the model every step asks (default: the one that answered)")
    parser.add_argument("--prompt-file", type=Path, help="a system prompt replacing every agent's own")
    parser.add_argument("--agent-file", type=Path, action="append", default=[], help="an agent definition (JSON)")
    parser.add_argument("--tool-file", type=Path, action="append", default=[], help="a tool spec (JSON)")
    parser.add_argument("--drop-tool", action="append", default=[], metavar="NAME", help="a tool no longer there")
    parser.add_argument("--router-threshold", type=float, help="the router's threshold, 0..1")
    parser.add_argument("--tier-model", action="append", default=[], metavar="TIER=MODEL")
    parser.add_argument("--stop", choices=("turn", "conversation"), default="turn")
    parser.add_argument(
        "--decode",
        action="store_true",
        help="open encrypted payloads with the platform's codec (reads data keys and each tenant's privacy"
        " policy through DATABASE_URL); personal data the policy hides comes out redacted",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    parser.add_argument("--output", type=Path, help="also write the JSON report to this file")
    return parser


def candidate_from(args: argparse.Namespace) -> Candidate:
    agents = {}
    for path in args.agent_file:
        definition = AgentDefinition.model_validate_json(path.read_text())
        agents[definition.name] = definition
    tools: dict[str, ToolSpec | None] = {name: None for name in args.drop_tool}
    for path in args.tool_file:
        spec = ToolSpec.model_validate_json(path.read_text())
        tools[spec.name] = spec
    tiers = {}
    for pair in args.tier_model:
        tier, sep, model = pair.partition("=")
        if not sep or tier not in ("small", "large") or not model:
            raise ValueError(f"--tier-model wants small=MODEL or large=MODEL, not {pair!r}")
        tiers[tier] = model
    threshold = args.router_threshold
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError("--router-threshold must be between 0 and 1")
    prompt = args.prompt_file.read_text() if args.prompt_file else None
    if prompt is not None and not prompt.strip():
        raise ValueError(f"{args.prompt_file}: the prompt is empty")
    return Candidate(
        name="candidate",
        model=args.model,
        system_prompt=prompt,
        agents=agents,
        tools=tools,
        router_threshold=threshold,
        tier_models=tiers,
    )


async def load_conversations(
    paths: Sequence[str], codec: PayloadCodec | None = None
) -> tuple[list[Conversation], list[str]]:
    conversations, others = [], []
    for path in history_files(paths):
        loaded = await load_history(path, codec)
        if is_conversation(loaded):
            conversations.append(extract(loaded))
        else:
            others.append(str(path))
    return conversations, others


async def run(args: argparse.Namespace) -> int:
    try:
        candidate = candidate_from(args)
        conversations, others = await load_conversations(args.histories, _codec() if args.decode else None)
    except (HistoryError, ValidationError, ValueError, OSError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not conversations:
        print("error: no conversation histories found", file=sys.stderr)
        return 2
    stop: Stop = args.stop
    verdicts = await replay_all(conversations, candidate, stop=stop)
    document = report.as_json(verdicts, candidate.describe(), others)
    if args.output:
        args.output.write_text(json.dumps(document, indent=1, default=str) + "\n")
    print(json.dumps(document, indent=1, default=str) if args.json else report.as_text(verdicts, candidate.describe()))
    return 1 if any(v.diverged for v in verdicts) else 0


def _codec() -> PayloadCodec:
    """The platform's codec, redacting what it opens per each tenant's privacy policy: a replay set built
    from production histories is a dataset of real conversations (`policies.export_privacy`)."""
    from core.settings import Settings
    from db.codec import build_codec
    from db.database import Database
    from policies.export_privacy import ExportCodec, ExportRedaction
    from policies.privacy import PrivacyPolicies

    settings = Settings()
    policies = PrivacyPolicies(Database(settings.resolved_app_database_url(), pool_size=1))
    return ExportCodec(build_codec(settings), ExportRedaction(policies))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return asyncio.run(run(args))
