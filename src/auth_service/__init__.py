"""auth-service: authentication and authorization microservice."""

__version__ = "0.1.0"
