"""The token service (符号): issues and translates agency-specific tokens; holds no content.

See ``token_service/README.md``. The crypto (`KeyRing`) is pure; `TokenService` answers
requests with it, and `LinkServer` serves those to the hub's processes over TCP.
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
from token_service.link import LinkServer
from token_service.secrets import Secret, create_master_secret, load_master_secret
from token_service.service import TokenService, service_keys

__all__ = [
    "LINK_BYTES",
    "TOKEN_CHARS",
    "BadResidentCode",
    "ForgedToken",
    "InvalidLink",
    "InvalidOffice",
    "KeyConfigError",
    "KeyRing",
    "LinkServer",
    "MalformedToken",
    "Secret",
    "SecretFileError",
    "TokenError",
    "TokenService",
    "UnknownKeyVersion",
    "UnreadableResidentCode",
    "create_master_secret",
    "load_master_secret",
    "service_keys",
]
