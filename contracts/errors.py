"""Domain errors that fail a workflow run instead of retrying its task.

They are registered as workflow failure exception types in the `core` Temporal plugin; a plain exception
in workflow code would retry the workflow task forever.
"""

from __future__ import annotations


class ConversationError(Exception):
    """A conversation cannot go on: the run fails with this as its cause."""


class InvalidConversationInput(ConversationError):
    """The run was started with input that no turn can use."""
