#!/usr/bin/env bash
# cdk.sh synth|deploy|diff [extra cdk arguments]
#
# Builds the binaries of the functions the stack deploys for linux/arm64, then runs the pinned cdk
# CLI in infra/. synth writes infra/cdk.out and needs no AWS account; deploy and diff use your
# usual AWS credentials and region. Set in the environment (or on the make command line:
# make deploy ISSUER=https://auth.example.com):
#
#   STACK       stack name (default Latchkey)
#   ISSUER      the Issuer parameter (on the first deploy ISSUER or DOMAIN_NAME is required)
#   DOMAIN_NAME the DomainName parameter: a custom domain mapped to the API; the issuer is then
#               https://DOMAIN_NAME unless ISSUER says otherwise
#   CERTIFICATE_ARN the CertificateArn parameter (the ACM certificate of DOMAIN_NAME)
#   ALARM_TOPIC_ARN the AlarmTopicArn parameter (an SNS topic every alarm notifies)
#   PARAMETERS  any other parameters, "Name=value" separated by spaces
#               (PARAMETERS="AccessTtl=15m LimitTokenByIp=240/1m"; docs/deploy.md lists them)
#   AUDIENCE    the Audience parameter (default latchkey)
#   RP_ID       the RpId parameter (WebAuthn relying party id; required on the first deploy)
#   RP_ORIGINS  the RpOrigins parameter (comma-separated origins, no spaces; required on the
#               first deploy; also the API's CORS origins)
#   ATTESTATION the Attestation parameter (none, indirect, direct or enterprise; default none)
#   EMAIL_FROM  the EmailFrom parameter (the From address of the emails; required on the first
#               deploy, an address of a verified SES identity)
#   EMAIL_IDENTITY the EmailIdentity parameter (the verified SES identity, a domain or an
#               address, EMAIL_FROM belongs to; default EMAIL_FROM itself)
#
# Unset parameters keep their previous value on update. Version is always `git describe`.
# See docs/deploy.md.
set -euo pipefail
# shellcheck source=tools.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

cmd=${1:-}
case "$cmd" in
  synth | deploy | diff) shift ;;
  *) die "usage: infra/cdk.sh synth|deploy|diff [cdk arguments]" ;;
esac

ensure_cdk
# Build the functions the stack deploys (infra/functions.go), not every directory in functions/.
mapfile -t functions < <(cd "$INFRA_DIR" && go run . functions)
[ "${#functions[@]}" -gt 0 ] || die "the stack deploys no function"
say "building ${functions[*]} for linux/arm64"
targets=()
for fn in "${functions[@]}"; do targets+=("build/linux_arm64/$fn/bootstrap"); done
make -s -C "$ROOT_DIR" ARCH=arm64 "${targets[@]}"

args=(--no-notices)
if [ -n "${STACK:-}" ]; then args+=(-c "stackName=$STACK"); fi
if [ "$cmd" = synth ]; then
  args+=(--quiet)
else
  version=$(git -C "$ROOT_DIR" describe --tags --always --dirty 2>/dev/null || echo dev)
  args+=(--parameters "Version=$version")
  if [ -n "${ISSUER:-}" ]; then args+=(--parameters "Issuer=$ISSUER"); fi
  if [ -n "${AUDIENCE:-}" ]; then args+=(--parameters "Audience=$AUDIENCE"); fi
  if [ -n "${RP_ID:-}" ]; then args+=(--parameters "RpId=$RP_ID"); fi
  if [ -n "${RP_ORIGINS:-}" ]; then args+=(--parameters "RpOrigins=$RP_ORIGINS"); fi
  if [ -n "${ATTESTATION:-}" ]; then args+=(--parameters "Attestation=$ATTESTATION"); fi
  if [ -n "${DOMAIN_NAME:-}" ]; then args+=(--parameters "DomainName=$DOMAIN_NAME"); fi
  if [ -n "${CERTIFICATE_ARN:-}" ]; then args+=(--parameters "CertificateArn=$CERTIFICATE_ARN"); fi
  if [ -n "${ALARM_TOPIC_ARN:-}" ]; then args+=(--parameters "AlarmTopicArn=$ALARM_TOPIC_ARN"); fi
  if [ -n "${EMAIL_FROM:-}" ]; then args+=(--parameters "EmailFrom=$EMAIL_FROM"); fi
  if [ -n "${EMAIL_IDENTITY:-}" ]; then args+=(--parameters "EmailIdentity=$EMAIL_IDENTITY"); fi
  for p in ${PARAMETERS:-}; do
    case "$p" in *=*) args+=(--parameters "$p") ;; *) die "PARAMETERS: $p is not Name=value" ;; esac
  done
fi

cd "$INFRA_DIR"
# jsii prints "Runtime process exited abnormally: waitid: no child processes" when the Go app
# closes its Node child at exit after a successful synth (the child has already been reaped);
# that line alone is dropped, everything else on stderr passes, and cdk's exit status stays.
cdk "$cmd" "${args[@]}" "$@" 2> >(grep -v --line-buffered '^Runtime process exited abnormally: waitid: no child processes$' >&2)
if [ "$cmd" = synth ]; then say "synthesized into infra/cdk.out"; fi
