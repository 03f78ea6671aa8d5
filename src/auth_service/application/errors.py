"""Use-case outcomes. One class per (meaning, status): `invalid_credentials` is 401 at login
but 400 at change-password, so those are two classes sharing one code."""

from __future__ import annotations

from auth_service.domain.errors import DomainError


class UnauthenticatedError(DomainError):
    code = "unauthenticated"

    def __init__(self, message: str = "Authentication is required.") -> None:
        super().__init__(message)


class ClientAuthenticationError(UnauthenticatedError):
    """A client (not a user) failed HTTP Basic authentication, e.g. at introspection."""


class InvalidCredentialsError(DomainError):
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("Email or password is incorrect.")


class WrongCurrentPasswordError(DomainError):
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("The current password is incorrect.")


class InvalidTokenError(DomainError):
    """A bearer, refresh or MFA token that fails a check (401)."""

    code = "invalid_token"

    def __init__(self, message: str = "The token is invalid.") -> None:
        super().__init__(message)


class UnknownSigningKeyError(InvalidTokenError):
    """A token signed by a key not (yet) in the key set: worth one reload of the keys."""


class InvalidOneTimeTokenError(DomainError):
    """A verification, reset or invitation token that is unknown, used or expired (400)."""

    code = "invalid_token"

    def __init__(self, message: str = "The token is invalid or has expired.") -> None:
        super().__init__(message)


class TokenExpiredError(DomainError):
    code = "token_expired"

    def __init__(self) -> None:
        super().__init__("The token has expired.")


class TokenRevokedError(DomainError):
    code = "token_revoked"

    def __init__(self) -> None:
        super().__init__("The session of this token has been revoked.")


class RefreshTokenReusedError(DomainError):
    code = "refresh_token_reused"

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; the session has been revoked.")


class EmailNotVerifiedError(DomainError):
    code = "email_not_verified"

    def __init__(self) -> None:
        super().__init__("The email address has not been verified.")


class AccountDisabledError(DomainError):
    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__("This account is disabled.")


class MfaRequiredError(DomainError):
    code = "mfa_required"

    def __init__(self) -> None:
        super().__init__("This account uses MFA: sign in with /api/v1/auth/login.")


class ForbiddenError(DomainError):
    code = "forbidden"

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)


class NotFoundError(DomainError):
    code = "not_found"

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class BadRequestError(DomainError):
    code = "bad_request"


class RetryLaterError(DomainError):
    """Base of the 429 answers: each carries `retry_after` seconds for the Retry-After header."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(0, int(retry_after))


class RateLimitedError(RetryLaterError):
    code = "rate_limited"

    def __init__(self, retry_after: int, limit: int | None = None) -> None:
        super().__init__("Too many requests; try again later.", retry_after)
        self.limit = limit


class AccountLockedError(RetryLaterError):
    code = "account_locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts; try again later.", retry_after)


class TooManyAttemptsError(RetryLaterError):
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many wrong codes; request a new one.", retry_after)


class ServiceUnavailableError(DomainError):
    code = "service_unavailable"

    def __init__(self, message: str = "The service is temporarily unavailable.") -> None:
        super().__init__(message)


class LastAdminError(DomainError):
    code = "last_admin"


class InvalidMfaCodeError(DomainError):
    """A wrong code at the MFA settings endpoints (400)."""

    code = "invalid_mfa_code"

    def __init__(self) -> None:
        super().__init__("The code is incorrect.")


class MfaChallengeFailedError(DomainError):
    """A wrong code answering a login challenge (401)."""

    code = "invalid_mfa_code"

    def __init__(self) -> None:
        super().__init__("The code is incorrect.")
