"""The messages the service sends, as plain text (SPEC §8 E-mail).

Links point at the front end and carry the token in the fragment, which browsers never send to a
server nor put in a Referer; the page there POSTs the token back to this API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from auth_service.application.ports import EmailMessage

_SIGNATURE = "\n-- \nThis message was sent automatically; replies are not read.\n"


def verification_email(to: str, token: str, code: str, frontend_base: str,
                       expires_at: datetime) -> EmailMessage:
    expires = expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        "Welcome!\n"
        "\n"
        "Please confirm your email address by opening this link:\n"
        "\n"
        f"{_base(frontend_base)}/verify-email#token={token}\n"
        "\n"
        "or by entering this code in the app:\n"
        "\n"
        f"Verification code: {code}\n"
        "\n"
        f"The link and the code are valid until {expires}.\n"
        "If you did not create an account, you can ignore this message.\n"
    )
    return EmailMessage(to=to, subject="Verify your email", body=body + _SIGNATURE)


def reset_email(to: str, token: str, frontend_base: str) -> EmailMessage:
    body = (
        "Hello,\n"
        "\n"
        "We received a request to reset the password of your account. To choose a new one, open:\n"
        "\n"
        f"{_base(frontend_base)}/reset-password#token={token}\n"
        "\n"
        "The link can be used once and expires soon.\n"
        "If you did not ask for this, you can ignore this message: your password stays the same.\n"
    )
    return EmailMessage(to=to, subject="Reset your password", body=body + _SIGNATURE)


def invitation_email(to: str, token: str, frontend_base: str) -> EmailMessage:
    body = (
        "Hello,\n"
        "\n"
        "An account has been created for you. To choose your password and sign in, open:\n"
        "\n"
        f"{_base(frontend_base)}/reset-password#token={token}\n"
        "\n"
        "The link can be used once and expires soon.\n"
        "If you were not expecting this invitation, you can ignore this message.\n"
    )
    return EmailMessage(to=to, subject="You have been invited", body=body + _SIGNATURE)


def security_alert_email(to: str, what: str) -> EmailMessage:
    """`what` is one sentence saying what happened, e.g. "Your password was changed."."""
    body = (
        "Hello,\n"
        "\n"
        f"{what}\n"
        "\n"
        "If this was you, there is nothing to do.\n"
        "If it was not, reset your password right away and contact support.\n"
    )
    return EmailMessage(to=to, subject="Security alert", body=body + _SIGNATURE)


def _base(frontend_base: str) -> str:
    return frontend_base.rstrip("/")
