"""One e-mail rule: edits, the report's links, the mailer and the parser agree on every value."""
from __future__ import annotations

import pytest

from cardscan.contacts.edit import validate_email
from cardscan.contacts.validate import check_email, check_recipient
from cardscan.errors import ValidationError
from cardscan.outputs.report import mailto_href
from cardscan.parsing.emails import check_email as parser_check_email

GOOD = ["kim@gadgets.example", "Kim.Other+expo@widgets.example.com", "josé@exämple.org"]
BAD = ["kim@", "kim at gadgets.example", "kim@gadgets.example\u200b", "kim@gadgets.example\r\nBcc: x@y",
       "=?utf-8?q?kim?=@gadgets.example", "kim@@gadgets.example", "", "\u202ekim@gadgets.example"]


def _accepts(check, value: str) -> bool:  # noqa: ANN001
    try:
        check(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("value", GOOD + BAD)
def test_every_place_agrees_on_an_address(value: str) -> None:
    verdicts = {
        "check_email": _accepts(check_email, value),
        "edit": _accepts(validate_email, value),
        "mailer": _accepts(check_recipient, value),
        "report link": mailto_href(value) is not None,
    }
    assert set(verdicts.values()) == {value in GOOD}, verdicts
    if value in GOOD:
        assert check_email(value) == parser_check_email(value).normalized == validate_email(value)


def test_the_reason_is_said() -> None:
    with pytest.raises(ValidationError, match="not a valid e-mail address: it contains a space"):
        validate_email("kim at gadgets.example")
    with pytest.raises(ValidationError, match="line break"):
        check_recipient("kim@gadgets.example\nBcc: x@y")
