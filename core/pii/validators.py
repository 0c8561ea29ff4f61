"""Checks that turn a shape into a finding: check digits, numbering plans and issuing rules.

A long number is an order id, an amount or a timestamp far more often than a card or an account, so a
candidate counts only when its checksum or issuing rule holds.
"""

from __future__ import annotations

import ipaddress
import re

# IBAN lengths by country (ISO 13616 registry); a wrong length fails before the checksum is computed.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(number)):
        digit = int(ch)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_valid(text: str) -> bool:
    number = digits(text)
    return 13 <= len(number) <= 19 and number[0] in "23456" and luhn_valid(number)


def card_with_context_valid(text: str) -> bool:
    """Maestro (12 digits) and JCB (`1800...`) or unusual prefixes: valid only where a word says a card is meant."""
    number = digits(text)
    return 12 <= len(number) <= 19 and luhn_valid(number)


def iban_valid(text: str) -> bool:
    compact = re.sub(r"[\s-]", "", text).upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def us_ssn_valid(text: str) -> bool:
    """SSA issuing rules: no area 000, 666 or 9xx, no group 00, no serial 0000, and not a famous sample."""
    number = digits(text)
    if len(number) != 9 or len(set(number)) == 1:
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return number not in {"123456789", "078051120", "219099999"}


_NINO = re.compile(r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def uk_nino_valid(text: str) -> bool:
    return bool(_NINO.match(re.sub(r"\s", "", text).upper()))


def ip_valid(text: str, *, private_ips: bool) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if private_ips:
        return not address.is_unspecified
    return address.is_global


NUMERIC_DATE = re.compile(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})")


def numeric_date_valid(candidate: str) -> bool:
    """A numeric date needs a month and a day in range, whichever order it is written in."""
    match = NUMERIC_DATE.match(candidate)
    if match is None:
        return True
    first, second, third = (int(part) for part in match.groups())
    if len(match.group(1)) == 4:
        return 1 <= second <= 12 and 1 <= third <= 31
    if len(match.group(3)) not in (2, 4):
        return False
    return (1 <= first <= 12 and 1 <= second <= 31) or (1 <= second <= 12 and 1 <= first <= 31)


def is_numeric_date(text: str) -> bool:
    """`12/26/1958`, `1990-03-05`, `05.12.2020`: three numbers that make a valid date."""
    return NUMERIC_DATE.fullmatch(text) is not None and numeric_date_valid(text)
