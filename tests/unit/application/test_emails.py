from datetime import UTC, datetime

from auth_service.application.emails import (
    invitation_email,
    reset_email,
    security_alert_email,
    verification_email,
)

FRONTEND = "https://app.example.com"
TOKEN = "tok_abc-DEF_123"
EXPIRES = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def lines(body: str) -> list[str]:
    return body.splitlines()


def test_the_verification_email_carries_the_code_and_the_link_on_their_own_lines() -> None:
    message = verification_email("ada@example.com", TOKEN, "123456", FRONTEND, EXPIRES)

    assert message.to == "ada@example.com"
    assert message.subject == "Verify your email"
    assert "Verification code: 123456" in lines(message.body)
    assert f"{FRONTEND}/verify-email#token={TOKEN}" in lines(message.body)
    assert "2026-11-23 16:00 UTC" in message.body


def test_the_reset_email_links_to_the_reset_page() -> None:
    message = reset_email("ada@example.com", TOKEN, FRONTEND)

    assert message.subject == "Reset your password"
    assert f"{FRONTEND}/reset-password#token={TOKEN}" in lines(message.body)


def test_the_invitation_email_links_to_the_reset_page() -> None:
    message = invitation_email("ada@example.com", TOKEN, FRONTEND)

    assert message.subject == "You have been invited"
    assert f"{FRONTEND}/reset-password#token={TOKEN}" in lines(message.body)


def test_links_carry_the_token_in_the_fragment_never_in_a_query_string() -> None:
    messages = [
        verification_email("ada@example.com", TOKEN, "123456", FRONTEND, EXPIRES),
        reset_email("ada@example.com", TOKEN, FRONTEND),
        invitation_email("ada@example.com", TOKEN, FRONTEND),
    ]

    for message in messages:
        link = next(line for line in lines(message.body) if line.startswith(FRONTEND))
        assert "?" not in link
        assert link.endswith(f"#token={TOKEN}")
        assert message.body.count(TOKEN) == 1


def test_a_trailing_slash_on_the_frontend_url_does_not_double_the_slash() -> None:
    message = reset_email("ada@example.com", TOKEN, FRONTEND + "/")

    assert f"{FRONTEND}/reset-password#token={TOKEN}" in lines(message.body)


def test_a_security_alert_says_what_happened_and_whom_to_contact() -> None:
    message = security_alert_email("ada@example.com", "Your password was changed.")

    assert message.subject == "Security alert"
    assert "Your password was changed." in lines(message.body)
    assert "contact support" in message.body


def test_bodies_are_plain_text() -> None:
    message = verification_email("ada@example.com", TOKEN, "123456", FRONTEND, EXPIRES)

    assert "<" not in message.body
