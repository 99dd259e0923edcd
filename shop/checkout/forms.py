"""The checkout form: contact, the context of the buyer's system, and the hidden tokens.

Every limit is shown to the person (a hint and ``maxlength``) and checked here again.
"""

from __future__ import annotations

import re

from flask import current_app
from flask_wtf import FlaskForm
from stdnum.eu import vat
from stdnum.exceptions import ValidationError as InvalidVatNumber
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from shop.accounts.forms import StoredEmail
from shop.accounts.services import normalize_email
from shop.orders.choices import CLOUDFLARE, COMPLIANCE, HOSTING, TRAFFIC_UNITS
from shop.text import clean_block, clean_text

# Largest length of each text field, shown in its hint.
LIMITS = {
    "name": 100,
    "email": 254,
    "company": 100,
    "role": 100,
    "hosting_other": 100,
    "traffic_amount": 13,
    "stateful": 2000,
    "files": 2000,
    "compliance_notes": 1000,
    "notes": 4000,
    "billing_name": 200,
    "billing_address": 500,
    "vat_id": 20,
    "po_number": 40,
}
MULTI = ("compliance", "cloudflare")
# Text areas: line breaks kept.
BLOCKS = ("stateful", "files", "compliance_notes", "notes", "billing_address")
# Asked only when the order is paid by invoice (Stripe not configured).
INVOICE_FIELDS = ("billing_name", "billing_address", "vat_id", "po_number")
# The fields a draft keeps (not the hidden tokens).
DRAFT_FIELDS = (
    "name",
    "email",
    "company",
    "role",
    "hosting",
    "hosting_other",
    "traffic_amount",
    "traffic_unit",
    "stateful",
    "files",
    "compliance",
    "compliance_notes",
    "cloudflare",
    "notes",
    *INVOICE_FIELDS,
)
FORM_EXPIRED = "This form has expired. Check it and send it again."
_CHECKOUT_ID_FORMAT = r"^[A-Za-z0-9_-]{16,64}$"  # secrets.token_urlsafe(24)


def _line(value: str | None) -> str:
    """One line of text: control characters and runs of white space become one space."""
    return clean_text(value, 10_000)


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _length(name: str):
    return Length(max=LIMITS[name], message=f"Use at most {LIMITS[name]:,} characters.")


class _Exclusive:
    """ "None" goes alone: it cannot be chosen together with anything else."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form: FlaskForm, field: SelectMultipleField) -> None:
        if "none" in (field.data or []) and len(field.data) > 1:
            raise ValidationError(self.message)


class _RequiredIfOther:
    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if form.hosting.data == "other" and not field.data:
            raise ValidationError("Say where the system runs today.")


def invoice_mode() -> bool:
    """Whether orders are paid by invoice: Stripe is not configured."""
    return not current_app.config.get("STRIPE_SECRET_KEY")


class _RequiredForInvoice:
    """Required when the order is paid by invoice; not asked otherwise."""

    field_flags = {"required": True}

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        if invoice_mode() and not field.data:
            raise StopValidation(self.message)


# The EU's VAT numbers start with their country's code (Greece's is EL).
EU_VAT_COUNTRIES = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "CY": "Cyprus", "CZ": "Czechia",
    "DE": "Germany", "DK": "Denmark", "EE": "Estonia", "EL": "Greece", "ES": "Spain",
    "FI": "Finland", "FR": "France", "HR": "Croatia", "HU": "Hungary", "IE": "Ireland",
    "IT": "Italy", "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MT": "Malta",
    "NL": "Netherlands", "PL": "Poland", "PT": "Portugal", "RO": "Romania", "SE": "Sweden",
    "SI": "Slovenia", "SK": "Slovakia", "XI": "Northern Ireland",
}  # fmt: skip


def _vat_compact(value: str | None) -> str:
    """A VAT ID as written on invoices: upper case, without spaces, dots or dashes."""
    return re.sub(r"[\s.\-/]", "", value or "").upper()


class _VatId:
    """An EU VAT number must have its country's shape and check digits (python-stdnum);
    another country's tax number is taken as letters and digits."""

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        value = field.data or ""
        if not value:
            return
        country = EU_VAT_COUNTRIES.get(value[:2])
        if country is None:
            if not re.fullmatch(r"[A-Z]{2}[A-Z0-9]{2,18}", value):
                raise ValidationError(
                    "Start with the country code, then letters and digits, such as DE123456789."
                )
            return
        try:
            vat.validate(value)
        except InvalidVatNumber:
            raise ValidationError(
                f"That is not a valid VAT ID of {country}: check it, or leave the field empty."
            ) from None


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes; an unknown choice gets a clear message (WTForms' default is terse)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        known = {choice.value for choice in self.choices}
        if any(value not in known for value in self.data or []):
            raise ValidationError("Choose from the options shown.")


class ChoiceField(SelectField):
    """A select whose unknown choice gets a clear message."""

    def pre_validate(self, form: FlaskForm) -> None:
        if self.data and self.data not in {choice.value for choice in self.choices}:
            raise ValidationError("Choose from the options shown.")


class CheckoutForm(FlaskForm):
    """What the checkout asks for. CSRFProtect guards the POST, so no second CSRF check."""

    class Meta:
        csrf = False

    # Contact
    name = StringField(
        "Name", filters=[_line], validators=[DataRequired("Enter your name."), _length("name")]
    )
    email = EmailField(
        "Email",
        filters=[_line],
        validators=[
            DataRequired("Enter your email address."),
            _length("email"),
            Email("Enter an email address like name@example.com.", check_deliverability=False),
            StoredEmail(),
        ],
        description="The confirmation and the call's details go here.",
    )
    company = StringField("Company", filters=[_line], validators=[Optional(), _length("company")])
    role = StringField("Role", filters=[_line], validators=[Optional(), _length("role")])

    # The system
    hosting = ChoiceField(
        "Current hosting",
        choices=_choices([("", "Choose one"), *HOSTING]),
        validators=[DataRequired("Choose where the system runs today.")],
    )
    hosting_other = StringField(
        "Other hosting",
        filters=[_line],
        validators=[_RequiredIfOther(), _length("hosting_other")],
        description="Only if you chose Other.",
    )
    traffic_amount = StringField(
        "Expected traffic",
        filters=[lambda value: (value or "").strip().replace(",", "").replace("_", "")],
        validators=[
            InputRequired("Enter the number of requests you expect, such as 200."),
            Regexp(r"^[0-9]{1,13}$", message="Enter a whole number of requests, such as 200."),
        ],
        description="A whole number, with its unit beside it.",
    )
    traffic_unit = ChoiceField(
        "Unit",
        choices=_choices(TRAFFIC_UNITS),
        default="per_second",
        validators=[DataRequired("Choose requests per second or per month.")],
    )
    stateful = TextAreaField(
        "Stateful workflows",
        filters=[clean_block],
        validators=[_length("stateful")],
        description="Sessions, carts, collaborative documents, queues of work…",
    )
    files = TextAreaField(
        "File handling",
        filters=[clean_block],
        validators=[_length("files")],
        description="Uploads, media, exports, their sizes and who may read them.",
    )
    compliance = MultiCheckboxField(
        "Compliance constraints",
        choices=_choices(COMPLIANCE),
        validators=[_Exclusive("Choose None alone, or the constraints that apply.")],
    )
    compliance_notes = TextAreaField(
        "More about compliance",
        filters=[clean_block],
        validators=[_length("compliance_notes")],
    )
    cloudflare = MultiCheckboxField(
        "Cloudflare parts already in use",
        choices=_choices(CLOUDFLARE),
        validators=[_Exclusive("Choose None yet alone, or the parts in use.")],
    )
    notes = TextAreaField("Anything else", filters=[clean_block], validators=[_length("notes")])

    # The invoice (invoice mode only)
    billing_name = StringField(
        "Billing name",
        filters=[_line],
        validators=[_RequiredForInvoice("Enter who the invoice is for."), _length("billing_name")],
        description="The person or company the invoice is made out to.",
    )
    billing_address = TextAreaField(
        "Billing address",
        filters=[clean_block],
        validators=[
            _RequiredForInvoice("Enter the address for the invoice."),
            _length("billing_address"),
        ],
        description="Street and number, postcode and town, country.",
    )
    vat_id = StringField(
        "VAT ID",
        filters=[_vat_compact],
        validators=[Optional(), _length("vat_id"), _VatId()],
        description="For a business: its VAT number with the country code, such as DE123456789.",
    )
    po_number = StringField(
        "Purchase order number",
        filters=[_line],
        validators=[Optional(), _length("po_number")],
        description="If your company needs one on the invoice.",
    )

    # Hidden: the page's own token (a replay finds the same order), the bag it showed.
    checkout_token = HiddenField(
        validators=[
            DataRequired(FORM_EXPIRED),
            Regexp(_CHECKOUT_ID_FORMAT, message=FORM_EXPIRED),
        ]
    )
    bag_fingerprint = HiddenField(
        validators=[Regexp(r"^[0-9a-f]{0,64}$", message="Check your bag and send it again.")]
    )
    confirm_prices = BooleanField("I accept the new prices")

    def context(self) -> dict:
        """The cleaned values that an order stores."""
        return {
            "name": self.name.data,
            "email": normalize_email(self.email.data),
            "company": self.company.data or "",
            "role": self.role.data or "",
            "hosting": self.hosting.data,
            "hosting_other": self.hosting_other.data if self.hosting.data == "other" else "",
            "traffic_amount": int(self.traffic_amount.data),
            "traffic_unit": self.traffic_unit.data,
            "stateful": self.stateful.data or "",
            "files": self.files.data or "",
            "compliance": list(self.compliance.data or []),
            "compliance_notes": self.compliance_notes.data or "",
            "cloudflare": list(self.cloudflare.data or []),
            "notes": self.notes.data or "",
            **{name: (self[name].data or "") if invoice_mode() else "" for name in INVOICE_FIELDS},
        }
