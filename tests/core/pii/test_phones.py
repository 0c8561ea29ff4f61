"""Phone numbers as people write them in many countries, and numbers that only look like them.

The numbers are made up in the shapes of the national plans (Swiss, Dutch, Czech, Danish, Brazilian, US, UK).
"""

from __future__ import annotations

import pytest

from core.pii import PiiConfig, PiiDetector

DETECTOR = PiiDetector()
CONFIG = PiiConfig()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity.value, text[f.start : f.end]) for f in DETECTOR.find(text, CONFIG)]


def phones(text: str) -> list[str]:
    return [value for kind, value in found(text) if kind == "phone"]


@pytest.mark.parametrize(
    ("text", "number"),
    [
        # A label glued to the number.
        ("Phone:032 936 54 50", "032 936 54 50"),
        ("tel:+41 44 668 18 00", "+41 44 668 18 00"),
        ("ph# 99 471239", "99 471239"),
        ("Tel.(03) 6262 0116", "(03) 6262 0116"),
        # `to`, `from` and `and` do not claim a number on their own.
        ("Forward it to 22 860949 please", "22 860949"),
        ("I had a missed call from 473 6400 at 5pm", "473 6400"),
        ("Send the code to 95 845065!", "95 845065"),
        ("Ana and 66 31 35", "66 31 35"),
        # An area code and the number joined by a hyphen.
        ("the new one is 231-6284512.", "231-6284512"),
        ("it is 0645-4109985 now", "0645-4109985"),
        # Extensions, dots, parentheses, international prefixes.
        ("ring 163-726-5167x612", "163-726-5167x612"),
        ("see 299.752.8820 for details", "299.752.8820"),
        ("(85) 6894-5401 is mine", "(85) 6894-5401"),
        ("001-415-555-0132 after six", "001-415-555-0132"),
        ("+447700 900123 works", "+447700 900123"),
        ("my French one 05.58.14.70.35", "05.58.14.70.35"),
        # Ten or eleven digits in a run, whatever the first digits.
        ("It was 1994761342 all along.", "1994761342"),
        ("so 00447700900123, ok", "00447700900123"),
        ("It was 00123456789 all along.", "00123456789"),
    ],
)
def test_phone_numbers_in_the_shapes_people_write(text: str, number: str) -> None:
    assert phones(text) == [number]


def test_a_label_glued_after_the_number_with_a_hyphen() -> None:
    # As on a business card or a letterhead: `555-201-7788-Office, 020 7946 0958-Fax`.
    assert phones("John Smith\\n12 High Street\\n555-201-7788-Office\\,020 7946 0958-Fax") == [
        "555-201-7788",
        "020 7946 0958",
    ]
    assert phones("(02) 9876 5432-Home, +41 44 668 18 00-Mobile") == ["(02) 9876 5432", "+41 44 668 18 00"]
    assert phones("0612345678-Cell or 163-726-5167x612-Work") == ["0612345678", "163-726-5167x612"]
    assert phones("+46 (0)8 750 047 43-Fax") == ["+46 (0)8 750 047 43"]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("9498 6291, 08941490423 and 298.972.7023", ["9498 6291", "08941490423", "298.972.7023"]),
        ("411 8283, +46 (0)04 54 72 60 and 330-2243306", ["411 8283", "+46 (0)04 54 72 60", "330-2243306"]),
        ("call 555 0100, 555 0199 and 555 0123", ["555 0100", "555 0199", "555 0123"]),
        ("0488 51 54 25 and 6109749711", ["0488 51 54 25", "6109749711"]),
        ("722 886 131, 393.544.2197 or 903-098-6840x102", ["722 886 131", "393.544.2197", "903-098-6840x102"]),
        ("a, 9458073021 and 9458073022", ["9458073021", "9458073022"]),
        ("a, 287-638-1699x618 and 287-638-1699x619", ["287-638-1699x618", "287-638-1699x619"]),
        ("a, 689 556 892 and 689 556 893", ["689 556 892", "689 556 893"]),
    ],
)
def test_a_list_of_numbers_is_no_range(text: str, numbers: list[str]) -> None:
    """`and` between two phone-shaped numbers, or after a phone in a list, joins phones, not a range's ends."""
    assert phones(text) == numbers


def test_a_claim_carries_only_to_numbers_written_as_the_claimed_one() -> None:
    assert phones("Order 12345, 555-201-7788 is mine") == ["555-201-7788"]
    assert phones("ids 123, 555 0100 and 555 0199") == ["555 0100", "555 0199"]
    assert phones("ids 1234567890, 2345678901 and 3456789012") == []


def test_a_number_before_a_sentence_is_no_house_number() -> None:
    text = "Ask the supervisor to ring me at 050 882 9549 I want to merge my accounts"
    assert found(text) == [("phone", "050 882 9549")]
    # Numbers alone are no street address, even when the last could be a postcode.
    assert found("ring 050 882 9549 Note: after six") == [("phone", "050 882 9549")]


def test_two_numbers_joined_by_a_slash_are_two_phones() -> None:
    assert phones("042 058 2886/+919099603082") == ["042 058 2886", "+919099603082"]
    assert phones("06-82896438/0544055987") == ["06-82896438", "0544055987"]


def test_a_phone_after_a_card_or_a_postcode_starts_at_its_own_first_group() -> None:
    text = "card 4111 1111 1111 1111 phone 081 901 72 95"
    assert found(text) == [("card", "4111 1111 1111 1111"), ("phone", "081 901 72 95")]
    assert phones("USNS Quirion\nFPO AA 53787 419-420-8100") == ["419-420-8100"]


@pytest.mark.parametrize(
    ("text", "address", "number"),
    [
        (
            "Jana Novak\\n45589 Mlynska 1540\\nUrbanov\\nCzech Republic\\n078 6490 4813",
            "45589 Mlynska 1540\\nUrbanov\\nCzech Republic",
            "078 6490 4813",
        ),
        (
            "60026 126 Ngata Grove Suite 511 Upper Hutt, 042 217 1895",
            "60026 126 Ngata Grove Suite 511 Upper Hutt",
            "042 217 1895",
        ),
        ("Unit 7413 Box 7484\nDPO AA 61567\\n88 165 40 96", "Unit 7413 Box 7484\nDPO AA 61567", "88 165 40 96"),
        (
            "34046 Calle Mayor 75 Apt. 297 Talavera Spain 040 899 2631",
            "34046 Calle Mayor 75 Apt. 297 Talavera Spain",
            "040 899 2631",
        ),
    ],
)
def test_an_address_ends_before_the_phone_number_that_follows_it(text: str, address: str, number: str) -> None:
    result = found(text)
    assert ("location", address) in result
    assert ("phone", number) in result


def test_a_postcode_stays_with_its_address_before_a_phone() -> None:
    text = "12 Dorpstraat\nVoorburg\nNetherlands 61037 05.58.14.70.35"
    assert found(text) == [("location", "12 Dorpstraat\nVoorburg\nNetherlands 61037"), ("phone", "05.58.14.70.35")]


@pytest.mark.parametrize(
    "text",
    [
        "prices went from 1 250 000 to 1 500 000 last year",
        "between 2 000 and 3 000 people",
        "total 1 234 567 EUR",
        "population 1 234 567 and area 9 876 543",
        "it took 1 500 to 2 000 ms",
        "order #123-4567890 shipped",
        "Order:123 4567",
        "SKU:123-456-789",
        "member:123 456 789",
        "policy no 123-4567890",
        "ticket:4412-8890123",
        "Licence: 071518203",
        "build 2024.11.05.1234",
        "on 12/05/2020 and 2020-12-05 and 05.12.2020",
        "sizes 100/200/300 and dates 12/05/2020/13/05/2020",
        "ISBN 978-3-16-148410-0",
        "account 12345678 sort code 12-34-56",
        "Timestamp:1733500000",
        "created: 1733500000 and updated at 1733600000",
        "amount: 1,234,567.89",
        "send a new one to 389 1090 43rd Avenue Suite 015, STRASS, Austria",
        # A word glued after a number is a label only when it names a phone; a word of the number's own kind
        # before it still says what it is, whatever word follows.
        "part 123-456-7890-A",
        "build 2024-11-05-work",
        "release 2024.11.05-main",
        "SKU 123-456-7890 office",
        "batch 12-3456-7890 home",
        # Spans of years, and ranges whose ends are amounts or plain runs of digits.
        "the 2024-2025 work plan",
        "years 1999-2005 work history",
        "between 555 1234 and 555 9999 rows",
        "between 1733500000 and 1733600000",
        "between 10 000 000 and 20 000 000",
        "from 12 500 000 to 15 000 000 people",
        "from 1.250.000 to 1.500.000 euros",
        "I paid 1 234 567, 2 345 678 and 3 456 789",
        "increase to 3 500 000 and to 4 000 000",
        # Plural claim words, and a claim word before each number of a list.
        "ids 1234567890, 2345678901 and 3456789012",
        "items 12345678, 23456789 and 34567890",
        "versions 10.2.3.4567 and 10.2.3.4568",
        "tickets 4412-8890123 and 4412-8890124",
        "SKU 123-456-789, 234-567-890 or 345-678-901",
        "prices 1 234 567, 2 345 678 and 3 456 789",
        "from 1733500000 to 1733600000",
        # Codes, ids and references of other kinds.
        "ref: 123-4567890",
        "ID:1234567890",
        "Ref#12345678",
        "Invoice:2024-0012345",
        "dates 12/05/2020/13/05/2020",
        "coords 51.5074/0.1278",
        "ISBN:978-0306406157",
        "tracking 1Z999AA10123456784",
        "PIN:1234",
        "zip:10115",
        "license no. 071518203",
        "Passport:X1234567",
        "version 10.2.3/11.0.1",
        "from 9:00 to 17:30",
        "1999-2005 and 2010-2020",
        "case #2024-123456",
        "the package weighs 1 250 000 g",
        "in 2019 and 2020 and 2021",
        "Routing:021000021 Account:123456789",
        "serial:SN-2024-1234567",
        "Your order 4155550100 is ready",
        "Tax ID 12-3456789",
        "EIN: 12-3456789",
        "VAT:GB123456789",
        "postcode:1234-567",
        "batch 20241105/001234",
    ],
)
def test_amounts_codes_and_dates_are_not_phones(text: str) -> None:
    assert phones(text) == []


def test_cards_and_ibans_keep_their_numbers() -> None:
    text = "card 4111 1111 1111 1111 and IBAN DE89 3704 0044 0532 0130 00"
    assert found(text) == [("card", "4111 1111 1111 1111"), ("iban", "DE89 3704 0044 0532 0130 00")]
    text = "cards 4111 1111 1111 1111 and 5500 0000 0000 0004, IBAN GB82 WEST 1234 5698 7654 32"
    assert found(text) == [
        ("card", "4111 1111 1111 1111"),
        ("card", "5500 0000 0000 0004"),
        ("iban", "GB82 WEST 1234 5698 7654 32"),
    ]
