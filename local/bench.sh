#!/usr/bin/env bash
# bench.sh (make bench): what each request costs in CPU, against the local stack, as
# docs/performance.md describes. Installs what is missing (install.sh), reuses the emulators of
# this checkout's running `make dev` when they answer or starts its own on :8900 (DynamoDB
# Local) and :5900 (moto), which collide with neither make dev nor make test, creates a fresh
# table, key and secret, builds the functions for this host as make build does, runs the
# stubbed-store Go benchmarks, builds the deployed binaries (make build ARCH=arm64) for their
# sizes, and runs local/bench, whose last line is
#   bench: authorizer=<ratio>x refresh=<ratio>x login=<ratio>x
# N (default 300) is the number of requests of each kind; PROFILE=1 also records a perf
# profile of each function under load (binaries with symbols; reports in local/.state/bench/profile).
# Not part of make test: nothing here asserts a time.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$LOCAL_DIR/emulators.sh"
cd "$ROOT_DIR"

N=${N:-300}
PROFILE=${PROFILE:-}
BENCH_DIR=$STATE_DIR/bench
mkdir -p "$BENCH_DIR"

bash "$LOCAL_DIR/install.sh" >/dev/null || die "installing the tools failed"

dev_pid=$(cat "$STATE_DIR/dev.pid" 2>/dev/null) || true
if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null && [ -f "$STATE_DIR/env" ] &&
  http_answers 127.0.0.1 8000 && http_answers 127.0.0.1 5000; then
  say "reusing the emulators of the running make dev (:8000, :5000)"
  DDB_PORT=8000 MOTO_PORT=5000
else
  trap stop_emulators EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  DDB_PORT=8900 MOTO_PORT=5900
  start_emulators "$DDB_PORT" "$MOTO_PORT"
fi
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$MOTO_PORT
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local

arch=$(go env GOARCH)
ldflags="-s -w"
[ -n "$PROFILE" ] && ldflags="" # perf needs the symbol table
say "building the gateway, bootstrap, bench and the functions (linux/$arch)"
go build -o "$BENCH_DIR/gateway" ./local/gateway
go build -o "$BENCH_DIR/bootstrap" ./local/bootstrap
go build -o "$BENCH_DIR/bench" ./local/bench
rm -rf "$BENCH_DIR/build"
for dir in functions/*/; do
  fn=$(basename "$dir")
  [ "$fn" = internal ] && continue
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags lambda.norpc -trimpath -ldflags "$ldflags" \
    -o "$BENCH_DIR/build/linux_$arch/$fn/bootstrap" "./functions/$fn"
done
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -tags lambda.norpc -trimpath -ldflags "$ldflags" \
  -o "$BENCH_DIR/hello" ./local/bench/hello

name=latchkey-bench-$(date +%s)-$$
"$BENCH_DIR/bootstrap" -table "$name" -key-alias "alias/$name" -secret "$name" -env-file "$BENCH_DIR/env" >/dev/null
# shellcheck source=/dev/null
. "$BENCH_DIR/env"

say "go test -bench (stubbed stores)"
go test -run '^$' -bench . -benchmem ./core/... ./functions/... >"$BENCH_DIR/gobench.txt" 2>&1 ||
  { cat "$BENCH_DIR/gobench.txt" >&2; die "go test -bench failed"; }

say "make build ARCH=arm64 (the deployed binaries, for their sizes)"
make --no-print-directory -s build ARCH=arm64

profile_args=()
[ -n "$PROFILE" ] && profile_args=(-profile "$BENCH_DIR/profile")
say "sending $N requests of each kind"
"$BENCH_DIR/bench" -n "$N" -build-dir "$BENCH_DIR/build" -gateway "$BENCH_DIR/gateway" -rie "$AWS_LAMBDA_RIE" \
  -hello "$BENCH_DIR/hello" -gobench "$BENCH_DIR/gobench.txt" -sizes build/linux_arm64 "${profile_args[@]}"
