"""Sign in, register, sign out, reset a password, the account page, the administrators' page.

Plain forms: each POST answers 303 to the next page, or the same form again with its errors
and a 4xx status, every field kept but the passwords. Sign-in issues a new session id and
joins the visit's bag and wishlist to the customer's; sign-out ends the session; a changed
password ends the customer's other sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from shop import deploy, mail
from shop.accounts import services, throttle
from shop.accounts.forms import (
    ChangePasswordForm,
    RegisterForm,
    ResetPasswordForm,
    ResetRequestForm,
    SignInForm,
    SignOutForm,
    normalized,
)
from shop.accounts.models import User
from shop.accounts.services import AccountError
from shop.extensions import limiter, login_manager
from shop.orders.services import orders_of_user
from shop.sessions import end, end_sessions_of, regenerate
from shop.urls import absolute_url
from shop.web import go_to, limit_retry_text, retry_in_words, safe_next

bp = Blueprint("accounts", __name__)

FORM_EXPIRED = "This form had expired, so nothing was done. Check it and send it again."


# ---------------------------------------------------------------- Flask-Login


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in customer of a session (Flask-Login stores the id as text)."""
    if g.get("database_unavailable"):  # the 503 page asks nothing of the database
        return None
    return services.get_user(int(user_id)) if user_id.isdigit() else None


@login_manager.unauthorized_handler
def ask_to_sign_in() -> Response:
    """A page that needs an account sends the visitor to sign in, and back afterwards."""
    target = url_for("accounts.sign_in", next=request.full_path.rstrip("?"))
    flash("Sign in to see that page.", "info")
    return go_to(target)


# ---------------------------------------------------------------- rate limits


def _config_limit(key: str) -> Callable[[], str]:
    return lambda: current_app.config[key]


def _email_key() -> str:
    # Counted per address whatever the case or spaces, so varying them does not help.
    return "email:" + services.normalize_email(request.form.get("email"))[:254]


def limited(name: str, template: str, form_class: type[FlaskForm]) -> Callable:
    """Limit POSTs to this view per client address and per email address typed
    (RATELIMIT_<NAME> and RATELIMIT_<NAME>_EMAIL). Past a limit the form comes back as
    typed (passwords aside), with when to try again, and a 429."""

    def keep_form(_limit: Any) -> Response:
        form = form_class()
        _form_error(form, limit_retry_text())
        return _render(template, 429, form=form)

    def decorate(view: Callable) -> Callable:
        by_email = limiter.limit(
            _config_limit(f"RATELIMIT_{name}_EMAIL"),
            key_func=_email_key,
            methods=["POST"],
            scope=f"{name.lower()}-email",
            on_breach=keep_form,
        )
        by_address = limiter.limit(
            _config_limit(f"RATELIMIT_{name}"),
            methods=["POST"],
            scope=name.lower(),
            on_breach=keep_form,
        )
        return by_address(by_email(view))

    return decorate


# ---------------------------------------------------------------- helpers


def _render(template: str, status: int = 200, **context: Any) -> Response:
    if request.endpoint and not request.view_args:  # not for pages of a reset link
        context.setdefault("canonical", absolute_url(request.endpoint))
    response = make_response(render_template(template, **context), status)
    # Pages with forms about passwords are never kept by a cache or the back button's copy.
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_error(form: FlaskForm, message: str, field: str | None = None) -> None:
    """Attach ``message`` to ``field`` of the form, or to the form as a whole."""
    if field and field in form:
        form[field].errors = [*form[field].errors, message]
    else:
        form.form_errors.append(message)


def _expired(form: FlaskForm) -> bool:
    """Whether CSRFProtect refused this POST (see :func:`form_expired`): the view shows the
    form again, filled in as sent, with the message."""
    if g.get("form_expired"):
        form.validate()  # fill in the errors of the fields too, so nothing is hidden
        form.form_errors.insert(0, FORM_EXPIRED)
        return True
    return False


def _next(default: str | None = None) -> str:
    return safe_next(request.values.get("next"), default or url_for("accounts.account"))


def _sign_in(user: User, remember: bool) -> None:
    """Sign ``user`` in on a new session id. Flask-Login's ``user_logged_in`` signal tells the
    domains that keep a visit's things (bag, checkout), which join them to the customer's."""
    regenerate(session)
    login_user(user)
    session.permanent = remember


@bp.errorhandler(CSRFError)
def form_expired(error: CSRFError) -> Response:
    """A form of these pages sent without a valid CSRF token (an old tab, a double submit
    after the session id changed, another site): nothing is done, and the person gets the
    form back as they sent it instead of an error page."""
    if current_user.is_authenticated and request.endpoint in {
        "accounts.sign_in",
        "accounts.register",
    }:
        return redirect(_next(), 303)  # already signed in: the first submit did it
    if not current_user.is_authenticated and request.endpoint in {
        "accounts.sign_out",
        "accounts.change_password",
    }:
        return redirect(url_for("accounts.sign_in"), 303)
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        raise error
    g.form_expired = True
    try:
        return view(**(request.view_args or {}))
    except HTTPException as refused:  # a rate limit, say: its own error page, not a 500
        return current_app.handle_http_exception(refused)


# ---------------------------------------------------------------- sign in and out


@bp.route("/account/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
    """Sign in with email and password. Failures are counted (``throttle``); past a limit
    the form comes back as typed, with when to try again, and a 429."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_next(), 303)
    form = SignInForm()
    if request.method == "GET":
        form.next.data = _next("")
        return _render("accounts/sign_in.html", form=form)
    email, client = _email_key().removeprefix("email:"), get_remote_address()
    seconds = throttle.begin(email, client)
    if seconds:
        _form_error(form, retry_in_words(seconds))
        response = _render("accounts/sign_in.html", 429, form=form)
        response.headers["Retry-After"] = str(seconds)
        return response
    if _expired(form) or not form.validate():
        throttle.end(email, client, failed=False)  # no password was checked
        return _render("accounts/sign_in.html", 400, form=form)
    user = services.authenticate(form.email.data, form.password.data)
    throttle.end(email, client, failed=user is None)
    if user is None:
        _form_error(form, "That email and password do not match an account.")
        return _render("accounts/sign_in.html", 400, form=form)
    _sign_in(user, bool(form.remember.data))
    flash(f"Welcome back, {user.name}.", "success")
    return redirect(_next(), 303)


@bp.post("/account/sign-out")
def sign_out() -> Response:
    """Sign out: the session row goes, and the browser gets a new, empty session."""
    form = SignOutForm()
    if _expired(form) and current_user.is_authenticated:
        return _account_page(sign_out_form=form, status=400)
    logout_user()
    end(session)
    flash("You are signed out.", "success")
    return redirect(url_for("catalog.home"), 303)


@bp.route("/account/register", methods=["GET", "POST"])
@limited("REGISTER", "accounts/register.html", RegisterForm)
def register() -> Response:
    """Create an account; the visit's bag and wishlist become the new customer's."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_next(), 303)
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = _next("")
        return _render("accounts/register.html", form=form)
    if _expired(form) or not form.validate():
        return _render("accounts/register.html", 400, form=form)
    try:
        user = services.register(form.name.data, form.email.data, form.password.data)
    except AccountError as error:
        _form_error(form, error.message, error.field)
        return _render("accounts/register.html", 400, form=form)
    _sign_in(user, remember=True)
    flash(f"Welcome, {user.name}: your account is ready.", "success")
    return redirect(_next(), 303)


# ---------------------------------------------------------------- the account page


def _account_page(status: int = 200, **forms: FlaskForm) -> Response:
    forms.setdefault("password_form", ChangePasswordForm(formdata=None))
    forms.setdefault("sign_out_form", SignOutForm(formdata=None))
    return _render(
        "accounts/account.html",
        status,
        user=current_user,
        orders=orders_of_user(current_user.id),
        **forms,
    )


@bp.get("/account")
@login_required
def account() -> Response:
    """The customer's name, email and password; orders once there are any."""
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> Response:
    """Change the password; every other session of the customer ends."""
    form = ChangePasswordForm()
    form.user_email = current_user.email
    if _expired(form) or not form.validate():
        return _account_page(password_form=form, status=400)
    try:
        services.change_password(current_user, form.current_password.data, form.password.data)
    except AccountError as error:
        _form_error(form, error.message, error.field)
        return _account_page(password_form=form, status=400)
    end_sessions_of(current_user.id, keep=session)
    regenerate(session)  # and this one goes on under a new id
    flash("Your password is changed. You were signed out everywhere else.", "success")
    return redirect(url_for("accounts.account"), 303)


# ---------------------------------------------------------------- password reset


@bp.route("/account/reset", methods=["GET", "POST"])
@limited("RESET", "accounts/reset_request.html", ResetRequestForm)
def request_reset() -> Response:
    """Ask for a reset link. The answer is the same whether the address has an account."""
    form = ResetRequestForm()
    if request.method == "GET":
        return _render("accounts/reset_request.html", form=form)
    if _expired(form) or not form.validate():
        return _render("accounts/reset_request.html", 400, form=form)
    email = normalized(form)
    user = services.find_user(email)
    # The message is built for an unknown address too and only its delivery differs, on a
    # background thread: the answer takes the same time either way.
    token = services.make_reset_token(user) if user else services.dummy_reset_token()
    message = mail.compose(
        email,
        "Reset your Edge goods password",
        "password_reset",
        name=user.name if user else "",
        link=absolute_url("accounts.reset_password", token=token),
        minutes=services.RESET_MAX_AGE // 60,
    )
    if user is not None:
        mail.send_later(message)
    flash(
        f"If an account uses {email}, a link to choose a new password is on its way. "
        "It works for one hour.",
        "success",
    )
    return redirect(url_for("accounts.request_reset"), 303)


def _reset_user(token: str) -> User:
    if len(token) > 300:
        raise AccountError("This link is not valid. Ask for a new one.")
    return services.read_reset_token(token)


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_config_limit("RATELIMIT_RESET"), methods=["POST"], scope="reset-password")
def reset_password(token: str) -> Response:
    """Choose a new password from an emailed link: signed, one hour, used once."""
    try:
        user = _reset_user(token)
    except AccountError as error:
        return _render("accounts/reset_invalid.html", 400, message=error.message)
    form = ResetPasswordForm()
    form.user_email = user.email
    if request.method == "GET":
        return _render("accounts/reset_password.html", form=form, user=user, token=token)
    if _expired(form) or not form.validate():
        return _render("accounts/reset_password.html", 400, form=form, user=user, token=token)
    services.set_password(user, form.password.data)  # the link is spent from here on
    end_sessions_of(user.id)
    if current_user.is_authenticated:
        logout_user()
    _sign_in(user, remember=False)
    flash("Your password is changed and you are signed in.", "success")
    return redirect(url_for("accounts.account"), 303)


# ---------------------------------------------------------------- administrators


def admin_required(view: Callable) -> Callable:
    """Only administrators; others signed in get 403, visitors are asked to sign in."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403, description="This page is for the shop's administrators.")
        return view(*args, **kwargs)

    return wrapped


@bp.get("/admin")
@admin_required
def admin() -> Response:
    """The administrators' page: the accounts (orders join them with checkout)."""
    return _render(
        "accounts/admin.html",
        users=services.list_users(),
        total=services.count_users(),
        setup=deploy.owner_warnings(current_app.config),
    )
