"""`python -m auth_service` is the same as the `auth-service` command."""

from auth_service.interfaces.cli.main import main

main()
