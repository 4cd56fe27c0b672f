#!/usr/bin/env bash
# gateway.sh ADDR (make gateway ADDR=…): a second local gateway on ADDR serving the same
# functions against the emulators of the running `make dev` (another node, for trying
# revocation and rate limits across nodes). Ctrl-C stops it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/emulators.sh"
cd "$ROOT_DIR"

ADDR=${1:?usage: local/gateway.sh HOST:PORT}
pid=$(cat "$STATE_DIR/dev.pid" 2>/dev/null) || true
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null || [ ! -f "$STATE_DIR/env" ]; then
  die "make dev is not running: start it in another terminal first"
fi
# shellcheck source=/dev/null
. "$STATE_DIR/env"
for url in "$AWS_ENDPOINT_URL_DYNAMODB" "$AWS_ENDPOINT_URL_KMS"; do
  hostport=${url#http://}
  http_answers "${hostport%:*}" "${hostport##*:}" || die "emulator $url does not answer; restart make dev"
done
[ -x "$STATE_DIR/bin/gateway" ] || die "no gateway binary in local/.state/bin; restart make dev"
[ -x "$AWS_LAMBDA_RIE" ] || die "aws-lambda-rie is not installed in local/.tools/bin; restart make dev"
say "second gateway on http://$ADDR (Ctrl-C stops it)"
vendor_demo
exec "$STATE_DIR/bin/gateway" -addr "$ADDR" -template template.yaml -build-dir build -demo local/demo -vendor "$DEMO_VENDOR_DIR" \
  -rp local/rp -rie "$AWS_LAMBDA_RIE"
