"""Channels customers write from: provider signatures, payload parsing, channel configuration and identities.

The pure parts (`signatures`, `parsing`, `outbound`) import nothing of the project but `contracts`; the store
and the sealed provider secrets sit on `db` and `core`. The gateway's inbound routes and the reply activity
compose them (`api/channel_inbound.py`, `activities/channels.py`).
"""
