"""Account forms. Every field keeps what was typed on an error, except the passwords.

CSRF is checked for every POST by CSRFProtect, so these forms do not check it again.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from shop.accounts.services import (
    MAX_PASSWORD,
    email_problem,
    normalize_email,
    password_problem,
)
from shop.text import clean_text

EMAIL_HINT = "The address we send order confirmations and reset links to."
PASSWORD_HINT = "At least 10 characters, and not one of the most common passwords."  # noqa: S105 (a hint, not a password)


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _clean(value: str | None) -> str:
    return clean_text(value, 500)


class StoredEmail:
    """The address as it will be stored and looked up (``normalize_email``) must be valid as
    well: ``Email`` checks it as typed, and NFKC can turn a valid address into an invalid or
    longer one. Quiet when an earlier check of the field already failed."""

    def __call__(self, form: FlaskForm, field: EmailField) -> None:
        if field.errors or not field.data:
            return
        problem = email_problem(field.data)
        if problem:
            raise ValidationError(problem)


_email = [
    DataRequired("Enter your email address."),
    Length(max=254, message="An email address has at most 254 characters."),
    Email("Enter an email address like name@example.com.", check_deliverability=False),
    StoredEmail(),
]


class _Form(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect already guards every POST

    next = HiddenField()


class _NewPassword:
    """The new password: long enough, not common, not the email address."""

    def __call__(self, form: FlaskForm, field: PasswordField) -> None:
        email = form.email.data if hasattr(form, "email") else getattr(form, "user_email", "")
        problem = password_problem(field.data or "", email or "")
        if problem:
            raise ValidationError(problem)


class SignInForm(_Form):
    """Sign in with email and password."""

    email = EmailField("Email", filters=[_strip], validators=_email)
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Enter your password."),
            Length(max=MAX_PASSWORD, message="That email and password do not match."),
        ],
    )
    remember = BooleanField("Keep me signed in on this device")


class RegisterForm(_Form):
    """Create an account."""

    name = StringField(
        "Name",
        filters=[_clean],
        validators=[
            DataRequired("Enter your name."),
            Length(max=100, message="Use at most 100 characters."),
        ],
    )
    email = EmailField("Email", filters=[_strip], validators=_email, description=EMAIL_HINT)
    password = PasswordField(
        "Password",
        validators=[DataRequired("Choose a password."), _NewPassword()],
        description=PASSWORD_HINT,
    )
    confirm = PasswordField(
        "Password again",
        validators=[
            DataRequired("Type the password a second time."),
            EqualTo("password", "The two passwords are not the same."),
        ],
    )


class ResetRequestForm(_Form):
    """Ask for a password-reset link."""

    email = EmailField("Email", filters=[_strip], validators=_email)


class ResetPasswordForm(_Form):
    """Choose a new password from a reset link."""

    user_email = ""  # set by the view, for the "not your email address" check
    password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a new password."), _NewPassword()],
        description=PASSWORD_HINT,
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the new password a second time."),
            EqualTo("password", "The two passwords are not the same."),
        ],
    )


class ChangePasswordForm(ResetPasswordForm):
    """Change the password while signed in."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )


class SignOutForm(_Form):
    """Sign out: nothing to fill in."""


def normalized(form: SignInForm | RegisterForm | ResetRequestForm) -> str:
    """The form's email address as it is stored."""
    return normalize_email(form.email.data)
