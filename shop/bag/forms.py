"""Forms of the bag and wishlist actions.

CSRF is checked for every POST by CSRFProtect (form field or the X-CSRFToken header that
htmx sends), so these forms do not check it a second time.
"""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

from shop.bag.models import MAX_QUANTITY

_DIGITS = re.compile(r"^[0-9]{1,3}$")  # ASCII digits only: "１" or "1e1" are not quantities
QUANTITY_MESSAGE = f"Choose a quantity from 1 to {MAX_QUANTITY}."


class QuantityField(IntegerField):
    """A whole number; anything else ("1.5", "abc", "") gets the one clear message."""

    def process_formdata(self, valuelist):
        if valuelist and _DIGITS.match(valuelist[0].strip()):
            self.data = int(valuelist[0].strip())
        else:
            self.data = None
            raise ValueError(QUANTITY_MESSAGE)


class _Form(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect already guards every POST

    next = HiddenField()


_quantity = [InputRequired(QUANTITY_MESSAGE), NumberRange(1, MAX_QUANTITY, QUANTITY_MESSAGE)]
_token = [
    DataRequired("This form has expired. Reload the page and try again."),
    Length(16, 64, "This form has expired. Reload the page and try again."),
    Regexp(r"^[A-Za-z0-9_-]+$", message="This form has expired. Reload the page and try again."),
]
_offer = [DataRequired("Choose an offer."), Length(max=80, message="Choose an offer.")]


class AddToBagForm(_Form):
    """Add an offer to the bag."""

    offer = StringField(validators=_offer)
    quantity = QuantityField(validators=_quantity)
    token = StringField(validators=_token)


class QuantityForm(_Form):
    """Set a bag line's quantity."""

    quantity = QuantityField(validators=_quantity)


class WishlistForm(_Form):
    """Save an offer to the wishlist (saved=1) or take it out (saved=0)."""

    offer = StringField(validators=_offer)
    saved = StringField(validators=[Regexp(r"^[01]$", message="Say whether to save the offer.")])


class MoveToBagForm(_Form):
    """Move a wishlist item to the bag."""

    offer = StringField(validators=_offer)
    token = StringField(validators=_token)


class PlainForm(_Form):
    """Remove a line, clear the bag: nothing to fill in but where to go back to."""


def first_error(form: FlaskForm) -> str:
    """The first validation message of the form."""
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "Check the form and try again."
