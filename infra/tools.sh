# shellcheck shell=bash
# tools.sh is sourced by infra/cdk.sh and infra/check.sh. It finds (or installs) the pinned cdk
# CLI and the Python linters, and sets an environment in which cdk, jsii, sam and cfn-lint make
# no network calls of their own (no version check, notices or telemetry).

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(dirname "$INFRA_DIR")
# The same tool locations and pins as local/install.sh (local/versions.env); override the
# locations with LATCHKEY_NODE_PREFIX and LATCHKEY_VENV.
NODE_PREFIX=${LATCHKEY_NODE_PREFIX:-$ROOT_DIR/local/.tools/node}
VENV_DIR=${LATCHKEY_VENV:-$ROOT_DIR/local/.tools/venv}
AWS_CDK_VERSION=2.1148.1
if [ -f "$ROOT_DIR/local/versions.env" ]; then
  # shellcheck source=/dev/null
  . "$ROOT_DIR/local/versions.env"
fi
export PATH="$NODE_PREFIX/node_modules/.bin:$PATH"

export CDK_DISABLE_VERSION_CHECK=true    # no npm registry lookup for a newer CLI
export CDK_DISABLE_CLI_TELEMETRY=true    # no telemetry upload
# jsii's banner about Node 20's end of life is noise here: the CDK CLI works on Node 20.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20}
export SAM_CLI_TELEMETRY=0

say() { printf '%s %s\n' "--" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_cdk installs the pinned cdk CLI into NODE_PREFIX unless it is there.
ensure_cdk() {
  command -v node >/dev/null || die "node is not installed (the CDK Go app runs on jsii, which needs Node 20+)"
  local have=""
  if [ -f "$NODE_PREFIX/node_modules/aws-cdk/package.json" ]; then
    have=$(node -p "require('$NODE_PREFIX/node_modules/aws-cdk/package.json').version")
  fi
  if [ "$have" != "$AWS_CDK_VERSION" ]; then
    say "aws-cdk $AWS_CDK_VERSION: installing (npm)"
    npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error \
      --save-exact "aws-cdk@$AWS_CDK_VERSION" >/dev/null
  fi
}

# ensure_linters makes sure sam and cfn-lint are in VENV_DIR, running local/install.sh (which
# pins them) when they are not.
ensure_linters() {
  if [ ! -x "$VENV_DIR/bin/sam" ] || [ ! -x "$VENV_DIR/bin/cfn-lint" ]; then
    [ -f "$ROOT_DIR/local/install.sh" ] || die "no sam/cfn-lint in $VENV_DIR and no local/install.sh"
    bash "$ROOT_DIR/local/install.sh"
  fi
}
