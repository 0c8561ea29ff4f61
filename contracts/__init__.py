"""The ground floor: what crosses a workflow, activity or API boundary.

Typed inputs and results, activity and workflow names, the event and error vocabularies and the retry
classification. Every layer may import it; it imports nothing else of the project, and the workflow sandbox
passes it through, so nothing here may have side effects at import.
"""
