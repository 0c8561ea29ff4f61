"""Deterministic graders of golden tasks: pure functions from a task's expectations and what its conversation
did (`contracts.eval_runs.Observation`) to verdicts (`contracts.evals.Verdict`)."""
