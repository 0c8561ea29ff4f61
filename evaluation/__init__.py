"""Eval runs on the platform: the activities of `EvalRunWorkflow` (a task's own tenant and world, grading,
the run's totals), what a task's conversation did (`observe.py`) and the runs' storage (`store.py`)."""
