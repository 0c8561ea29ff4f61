"""Billing: plan prices, invoices from metered usage, per-second proration.

This package holds the arithmetic (pure, exact, in integer cents and `Decimal`); the subscription loop that
drives it is meant to be a workflow, with the side effects in activities.
"""
