"""Known personal values for boundary tests, valid by the same rules a real one passes (check digits, ranges)."""

from __future__ import annotations

import random

from core.pii.validators import luhn_valid


def _card(rng: random.Random) -> str:
    body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    number = body + check
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    bban = "".join(str(rng.randrange(10)) for _ in range(18))
    digits = "".join(str(int(ch, 36)) for ch in bban + "DE00")
    return f"DE{98 - int(digits) % 97:02d}{bban}"


def _ssn(rng: random.Random) -> str:
    return f"{rng.randrange(1, 666):03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def _phone(rng: random.Random) -> str:
    return f"+1 {rng.randrange(201, 990)} {rng.randrange(200, 999)} {rng.randrange(10000):04d}"


def _ip(rng: random.Random) -> str:
    return f"{rng.randrange(11, 99)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _email(rng: random.Random, i: int) -> str:
    return f"customer{i}.{rng.randrange(10**6)}@example{i % 7}.com"


KINDS = ("email", "phone", "card", "iban", "national_id", "ip")


def known_values(count: int, seed: int = 18) -> list[tuple[str, str]]:
    """`count` distinct (kind, value) pairs, the kinds in turn."""
    rng = random.Random(seed)
    makers = {
        "email": lambda i: _email(rng, i),
        "phone": lambda _i: _phone(rng),
        "card": lambda _i: _card(rng),
        "iban": lambda _i: _iban(rng),
        "national_id": lambda _i: _ssn(rng),
        "ip": lambda _i: _ip(rng),
    }
    values: dict[str, str] = {}
    i = 0
    while len(values) < count:
        kind = KINDS[i % len(KINDS)]
        values.setdefault(makers[kind](i), kind)
        i += 1
    return [(kind, value) for value, kind in values.items()]
