"""Validates the metadata on stdin with Authlib's validators.

Prints a JSON object with one entry per validator: "rfc8414" is Authlib's RFC 8414
AuthorizationServerMetadata, "oidc" its OpenID Connect Discovery OpenIDProviderMetadata together
with the RP-Initiated Logout metadata (end_session_endpoint). In each, "validate" is the message of
the whole validate() (null when it passes), and "checks" maps every member the validator knows to
the message its own validate_<member>() raises, or null when it passes, so the caller sees each
verdict.
"""
import json
import sys

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc import discovery, rpinitiated


def verdicts(meta, classes):
    checks = {}
    for cls in [type(meta)] + classes:
        instance = meta if cls is type(meta) else cls(meta)
        for key in cls.REGISTRY_KEYS:
            try:
                object.__getattribute__(instance, "validate_" + key)()
                checks[key] = None
            except ValueError as e:
                checks[key] = str(e)
    try:
        meta.validate(metadata_classes=classes or None)
        whole = None
    except ValueError as e:
        whole = str(e)
    return {"validate": whole, "checks": checks}


doc = json.load(sys.stdin)
print(json.dumps({
    "rfc8414": verdicts(AuthorizationServerMetadata(doc), []),
    "oidc": verdicts(discovery.OpenIDProviderMetadata(doc), [rpinitiated.OpenIDProviderMetadata]),
}))
