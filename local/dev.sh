#!/usr/bin/env bash
# dev.sh (make dev): the whole service on this machine. Installs the pinned tools, starts DynamoDB
# Local (:8000) and moto (:5000: KMS, Secrets Manager, SES), creates the table, the two signing
# keys (ES256 access tokens, RS256 ID tokens), the secrets and the email sender identity, builds
# the functions for this host and serves template.yaml's
# routes (each function under aws-lambda-rie, the Lambda Runtime Interface Emulator), the demo
# page and the local outbox (/local/outbox, the emails sent) on 127.0.0.1:3000. Tokens are issued for
# http://localhost:3000, the demo page's origin. LATCHKEY_RP_ORIGINS (comma separated, default
# http://localhost:3000) names the origins that may use passkeys and get CORS, e.g.
#   LATCHKEY_RP_ORIGINS=http://localhost:3000,http://localhost:5173 make dev
# One machine client, local-ci (scope echo:read), gets a secret in moto's Secrets Manager, printed
# in the banner; LATCHKEY_ROUTE_SCOPES='{"GET /local/echo":["echo:read"]}' make dev makes the
# authorizer require that scope at /local/echo.
# One OpenID client, local-rp (public, PKCE), may sign in through the provider with redirect URIs
# http://localhost:3000/local/rp/callback and http://localhost:5173/callback;
# LATCHKEY_OIDC_CLIENTS='[…]' make dev declares others instead (a confidential one gets a secret
# beside local-ci's).
# Ctrl-C stops everything it started.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/emulators.sh"
cd "$ROOT_DIR"

ADDR=127.0.0.1:3000
DDB_PORT=8000
MOTO_PORT=5000
mkdir -p "$STATE_DIR/bin"
if pid=$(cat "$STATE_DIR/dev.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
  die "make dev is already running (pid $pid); stop it first"
fi
port_open 127.0.0.1 3000 && die "$ADDR is taken by another program"

bash "$LOCAL_DIR/install.sh"

GATEWAY_PID=
cleanup() {
  trap - EXIT INT TERM
  echo
  say "stopping"
  if [ -n "$GATEWAY_PID" ]; then
    kill "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
  stop_emulators
  rm -f "$STATE_DIR/dev.pid" "$STATE_DIR/env"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo $$ >"$STATE_DIR/dev.pid"

start_emulators "$DDB_PORT" "$MOTO_PORT"
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$MOTO_PORT

say "building the local bootstrap and gateway"
go build -o "$STATE_DIR/bin/bootstrap" ./local/bootstrap
go build -o "$STATE_DIR/bin/gateway" ./local/gateway
say "creating the table, signing keys, secrets and email sender identity"
"$STATE_DIR/bin/bootstrap" -env-file "$STATE_DIR/env" -machine-secrets-file "$STATE_DIR/machine-clients" >/dev/null
# shellcheck source=/dev/null
. "$STATE_DIR/env"

arch=$(go env GOARCH)
say "building the functions (make build ARCH=$arch)"
if ! make --no-print-directory -s -k build ARCH="$arch"; then
  echo "warning: some functions did not build (errors above); their routes answer 500" >&2
fi

vendor_demo
"$STATE_DIR/bin/gateway" -addr "$ADDR" -template template.yaml -build-dir build -demo local/demo -vendor "$DEMO_VENDOR_DIR" \
  -rp local/rp -rie "$AWS_LAMBDA_RIE" &
GATEWAY_PID=$!
deadline=$((SECONDS + 30))
until http_answers 127.0.0.1 3000; do
  kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway exited; see its log above"
  [ "$SECONDS" -lt "$deadline" ] || die "the gateway did not answer on $ADDR within 30 s"
  sleep 0.1
done

cat <<BANNER

  Latchkey is running on http://$ADDR  (Ctrl-C stops everything)
    curl http://$ADDR/health/ready
    curl http://$ADDR/.well-known/jwks.json
    demo page: http://localhost:3000/  (issuer http://localhost:3000)
    example app signing in with OpenID Connect: http://localhost:3000/local/rp/
    origins allowed (passkeys, CORS): $LATCHKEY_RP_ORIGINS
    emails sent (from $LATCHKEY_EMAIL_FROM): http://localhost:3000/local/outbox
    second gateway: make gateway ADDR=127.0.0.1:3001
    OpenID clients (discovery http://localhost:3000/.well-known/openid-configuration): $(grep -o '"id":"[^"]*"' <<<"$LATCHKEY_OIDC_CLIENTS" | cut -d'"' -f4 | paste -sd' ' -)
    client secrets (machine clients, confidential OpenID clients; in local/.state/machine-clients):
$(while read -r id secret; do echo "      $id  $secret"; done <"$STATE_DIR/machine-clients")
  DynamoDB Local http://127.0.0.1:$DDB_PORT, moto http://127.0.0.1:$MOTO_PORT; env in local/.state/env

BANNER
wait "$GATEWAY_PID"
