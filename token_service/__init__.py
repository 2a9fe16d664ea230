"""The token service (符号): issues and translates agency-specific tokens; holds no content.

See ``token_service/README.md``. The crypto (`KeyRing`) is pure; `TokenService` wires it to
the bus.
"""

from token_service.crypto import LINK_BYTES, TOKEN_CHARS, KeyRing
from token_service.exceptions import (
    BadResidentCode,
    ForgedToken,
    InvalidLink,
    InvalidOffice,
    KeyConfigError,
    MalformedToken,
    SecretFileError,
    TokenError,
    UnknownKeyVersion,
    UnreadableResidentCode,
)
from token_service.secrets import Secret, create_master_secret, load_master_secret
from token_service.service import TOKEN_QUEUE, Server, Subscription, TokenService, run, service_keys

__all__ = [
    "LINK_BYTES",
    "TOKEN_CHARS",
    "TOKEN_QUEUE",
    "BadResidentCode",
    "ForgedToken",
    "InvalidLink",
    "InvalidOffice",
    "KeyConfigError",
    "KeyRing",
    "MalformedToken",
    "Secret",
    "SecretFileError",
    "Server",
    "Subscription",
    "TokenError",
    "TokenService",
    "UnknownKeyVersion",
    "UnreadableResidentCode",
    "create_master_secret",
    "load_master_secret",
    "run",
    "service_keys",
]
