"""Domain errors: each has a stable, public `code` that never changes once released."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message, self.details = message, details


class FieldValidationError(DomainError):
    """Input that is well-formed but refers to something invalid: 422 on the named field."""

    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, fields=[{"loc": ["body", field], "msg": message}])


class EmailTakenError(DomainError):
    code = "email_taken"


class UsernameTakenError(DomainError):
    code = "username_taken"


class WeakPasswordError(DomainError):
    code = "weak_password"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("The password is too weak.", reasons=reasons)


class BreachedPasswordError(DomainError):
    code = "breached_password"

    def __init__(self) -> None:
        super().__init__("This password appears in a list of breached or common passwords.")


class InvalidVerificationCodeError(DomainError):
    code = "invalid_verification_code"


class VerificationExpiredError(DomainError):
    code = "verification_expired"


class ConflictError(DomainError):
    code = "conflict"


class CompanyNameTakenError(DomainError):
    code = "company_name_taken"


class CompanyHasUsersError(DomainError):
    code = "company_has_users"
