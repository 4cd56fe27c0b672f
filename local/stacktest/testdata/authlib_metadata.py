"""Validates the authorization server metadata on stdin with Authlib's RFC 8414 validator.

Prints a JSON object: "validate" is the message of AuthorizationServerMetadata(doc).validate()
(null when it passes), and "checks" maps every member Authlib validates to the message its own
validate_<member>() raises, or null when it passes, so the caller sees each verdict.
"""
import json
import sys

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

doc = json.load(sys.stdin)
meta = AuthorizationServerMetadata(doc)
checks = {}
for key in meta.REGISTRY_KEYS:
    try:
        getattr(meta, "validate_" + key)()
        checks[key] = None
    except ValueError as e:
        checks[key] = str(e)
try:
    meta.validate()
    whole = None
except ValueError as e:
    whole = str(e)
print(json.dumps({"validate": whole, "checks": checks}))
