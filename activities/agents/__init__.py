"""Agents: shipped and tenant-defined agent definitions, and the activity that resolves one for a turn."""
