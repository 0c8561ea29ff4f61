"""Admission: load shedding, rate limits, budget mode, quotas and the concurrent-turn lease, in that order."""
