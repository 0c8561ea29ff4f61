"""Forgetting one end customer (`plan.py`: what each table holds of them and what happens to it; `store.py`:
running the plan in one transaction), signing the report (`signing.py`), and retention (`retention.py`)."""
