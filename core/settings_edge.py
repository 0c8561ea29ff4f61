"""Settings of what reaches the platform from outside or leaves it: webhooks, the payment processor,
channels and the SMTP receiver, outgoing mail, self-serve signup, invitations, per-address edge limits and
trusted proxies. Part of `core.settings.Settings` (read with its `AIAAS_` prefix).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from core.proxies import TrustedProxies


class EdgeSettings(BaseSettings):
    # Webhooks: whether endpoints may target private, loopback or link-local addresses (SSRF guard off).
    # Only for a development machine or tests with a receiver on loopback.
    webhook_allow_private_targets: bool = False
    # Subscriptions charge through the sandbox processor unless a processor URL is set (docs/billing.md).
    billing_processor_url: str = ""
    billing_processor_secret: SecretStr = SecretStr("")
    # Channels: whether a channel's provider URL may be a private or loopback address (a local provider
    # simulator, a test receiver). Off in production, like the webhook guard.
    channel_allow_private_targets: bool = False
    # `aiaas up --smtp`: the development SMTP receiver's port (0: a free one), delivering to email channels.
    smtp_port: int = Field(default=0, ge=0, le=65535)
    # Outgoing mail (the outbox, docs/billing.md#signup): through this SMTP server when a host is set,
    # otherwise written under `<data_dir>/mail/` and listed by `aiaas mail list` (development).
    mail_smtp_host: str = ""
    mail_smtp_port: int = Field(default=587, ge=1, le=65535)
    mail_smtp_username: str = ""
    mail_smtp_password: SecretStr = SecretStr("")
    mail_smtp_starttls: bool = True
    mail_from: str = "aiaas <no-reply@aiaas.local>"
    # Self-serve signup: the key of its verification tokens (unset: derived from the API key pepper), how
    # long a link is valid, the plan and length of the trial, where the link points, and abuse limits per
    # client address and per email domain (signups per hour, as a burst refilled over the hour).
    signup_secret: SecretStr = SecretStr("")
    signup_ttl_seconds: int = Field(default=86400, ge=60, le=7 * 86400)
    signup_trial_plan: str = "pro"
    signup_trial_days: int = Field(default=14, ge=0, le=90)
    signup_verify_url: str = "http://127.0.0.1:8000/v1/signup/verify"
    signup_per_ip_per_hour: int = Field(default=10, ge=1)
    signup_per_domain_per_hour: int = Field(default=20, ge=1)
    # Invitations to join a tenant (tenancy/invitations.py): how long a link is valid, and the console page it
    # points at (`?token=` is appended); empty: the console on the address the inviting request reached.
    invitation_ttl_seconds: int = Field(default=7 * 86400, ge=300, le=30 * 86400)
    invitation_accept_url: str = ""
    # Requests per minute per client address at the edge (policies/edge_limits.py): console pages, channel
    # webhooks, the web widget; a burst of that many, refilled over the minute.
    console_per_minute_per_address: int = Field(default=600, ge=1)
    hooks_per_minute_per_address: int = Field(default=1200, ge=1)
    widget_per_minute_per_address: int = Field(default=240, ge=1)
    # Reverse proxies whose X-Forwarded-For names the client (core/proxies.py), as a JSON list of addresses
    # or CIDR networks; empty: the connecting peer is the client.
    trusted_proxies: TrustedProxies = Field(default_factory=list)
    # Days the daily retention run keeps sent mail and finished signups (docs/privacy.md); longer than any TTL.
    signup_retention_days: int = Field(default=30, ge=8, le=3650)
