"""Tools agents call: the SDK (`sdk`), the runtime that turns them into activities, and the built-in tools."""
