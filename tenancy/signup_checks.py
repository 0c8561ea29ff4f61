"""What a signup's company and address must be: a deliverable-looking address outside disposable domains.

Syntax by `email-validator` (no DNS lookup: a gateway must not wait on the resolver, and the verification
mail is the real deliverability test), disposable domains by the maintained `disposable-email-domains` list
(a parent domain on the list counts too: `x.mailinator.com`). Each refusal says which rule failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

from tenancy.tenants import validate_name

MAX_EMAIL_CHARS = 254


class SignupRefused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Applicant:
    company: str
    email: str
    domain: str


def is_disposable(domain: str) -> bool:
    labels = domain.lower().split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def check_applicant(company: str, email: str) -> Applicant:
    """The normalised applicant; raises SignupRefused with `invalid_email`, `disposable_email` or `invalid_company`."""
    try:
        name = validate_name(company)
    except ValueError as exc:
        raise SignupRefused("invalid_company", str(exc)) from exc
    if len(email) > MAX_EMAIL_CHARS:
        raise SignupRefused("invalid_email", f"the address is longer than {MAX_EMAIL_CHARS} characters")
    try:
        checked = validate_email(email, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SignupRefused("invalid_email", str(exc)) from exc
    domain = checked.ascii_domain.lower()
    if is_disposable(domain):
        raise SignupRefused("disposable_email", "addresses of disposable mail services cannot sign up")
    return Applicant(company=name, email=f"{checked.local_part}@{domain}", domain=domain)
