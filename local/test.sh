#!/usr/bin/env bash
# test.sh (make test): every check, on emulators of its own so it never collides with a running
# `make dev`: go vet, go test (with DynamoDB Local on :8100 and moto on :5100, the functions
# under the aws-lambda-rie that install.sh puts in local/.tools/bin, and headless Chromium,
# installed with apt when missing, for the demo page), infra/check.sh, and the deployed
# binaries' size and dependency checks. Exits non-zero if anything failed.
set -uo pipefail
started=$SECONDS
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/emulators.sh"
cd "$ROOT_DIR"

bash "$LOCAL_DIR/install.sh" || die "installing the tools failed"

# The browser tests (local/stacktest) drive Debian's chromium over CDP; install it when missing.
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  command -v apt-get >/dev/null || die "$CHROMIUM is missing and there is no apt-get: install Chromium there"
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || die "$CHROMIUM is missing: run  sudo apt-get install -y chromium  (or make test as root)"
    as_root=(sudo -n)
  fi
  say "chromium: installing (apt)"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
    die "apt-get install chromium failed"
fi
# Debian's wrapper script prints a harmless shell warning on stderr; the version is on stdout.
say "browser tests use $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM (no version)")"
rm -f "$STATE_DIR/go-test.counts"

trap stop_emulators EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_emulators 8100 5100
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8100
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:5100
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:5100
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:5100
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export LATCHKEY_TEST_STACK=1

failed=()
# step NAME CMD... runs one check and records its failure.
step() {
  local name=$1
  shift
  echo
  say "$name"
  if "$@"; then
    return 0
  fi
  echo "FAILED: $name" >&2
  failed+=("$name")
}

go_test() {
  go test -count=1 -json ./... 2>&1 | python3 "$LOCAL_DIR/gotest.py" "$STATE_DIR/go-test.counts"
}

# binary_sizes builds every function as deployed (linux/arm64, stripped) and fails when one is
# over its budget: 11 MB for passkeys (it alone links go-webauthn), 9 MB for every other.
binary_sizes() {
  make --no-print-directory -s build ARCH=arm64 || return 1
  local status=0 bin fn size limit
  for bin in build/linux_arm64/*/bootstrap; do
    [ -f "$bin" ] || continue
    fn=$(basename "$(dirname "$bin")")
    limit=9
    [ "$fn" = passkeys ] && limit=11
    size=$(stat -c %s "$bin")
    printf '  %-40s %6.2f MB (budget %s MB)\n' "$bin" "$(echo "$size" | awk '{print $1 / 1048576}')" "$limit"
    if [ "$size" -gt $((limit * 1024 * 1024)) ]; then
      echo "  $bin is over $limit MB" >&2
      status=1
    fi
  done
  return $status
}

# function_dependencies fails unless each function links exactly the libraries it needs:
# go-webauthn only in passkeys, Secrets Manager only in the functions that read the HMAC secret,
# SES only in the functions that send email (email, and passkeys for its notices).
function_dependencies() {
  local status=0 fn deps webauthn secrets ses want
  for dir in functions/*/; do
    fn=$(basename "$dir")
    [ "$fn" = internal ] && continue
    deps=$(go list -deps "./functions/$fn") || return 1
    webauthn=no secrets=no ses=no
    grep -q '^github.com/go-webauthn/webauthn' <<<"$deps" && webauthn=yes
    grep -q '^github.com/aws/aws-sdk-go-v2/service/secretsmanager' <<<"$deps" && secrets=yes
    grep -q '^github.com/aws/aws-sdk-go-v2/service/sesv2' <<<"$deps" && ses=yes
    case $fn in
      passkeys) want="yes yes yes" ;;
      sessions) want="no yes no" ;;
      email) want="no yes yes" ;;
      *) want="no no no" ;;
    esac
    printf '  %-12s go-webauthn=%-3s secretsmanager=%-3s sesv2=%s\n' "$fn" "$webauthn" "$secrets" "$ses"
    if [ "$webauthn $secrets $ses" != "$want" ]; then
      echo "  functions/$fn: want go-webauthn, secretsmanager and sesv2 = $want" >&2
      status=1
    fi
  done
  return $status
}

# no_cdk_in_functions fails when a function binary would link the CDK or jsii.
no_cdk_in_functions() {
  local deps
  deps=$(go list -deps ./functions/...) || return 1
  if grep -E 'aws-cdk-go|jsii-runtime' <<<"$deps"; then
    echo "  functions depend on the CDK or jsii (above)" >&2
    return 1
  fi
  echo "  no aws-cdk-go or jsii-runtime in go list -deps ./functions/..."
}

step "go vet ./..." go vet ./...
step "go test ./..." go_test
if [ -f infra/check.sh ]; then
  step "infra/check.sh" bash infra/check.sh
fi
step "function binaries for linux/arm64 within their size budgets" binary_sizes
step "each function links only the libraries it uses" function_dependencies
step "function binaries free of CDK and jsii" no_cdk_in_functions

elapsed=$((SECONDS - started))
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "make test FAILED after ${elapsed}s: ${failed[*]}"
else
  echo "make test passed in ${elapsed}s"
fi
# The last line is go test's count, for whoever reads only the end.
[ -f "$STATE_DIR/go-test.counts" ] && echo "tests: $(cat "$STATE_DIR/go-test.counts")"
[ ${#failed[@]} -eq 0 ]
