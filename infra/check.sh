#!/usr/bin/env bash
# check.sh lints the deploy path offline; `make test` runs it.
#
#  1. cdk synth of the CDK app into infra/cdk.out, with -c placeholderCode=true so functions not
#     built yet get a stub package (the template does not depend on the code);
#  2. sam validate --lint on template.yaml;
#  3. cfn-lint on template.yaml and on the synthesized template;
#  4. the same for the functions not enabled yet: a synth with -c allFunctions=true, and
#     template.yaml with its BEGIN/END blocks uncommented (as infra/parity_test.go does).
#
# Suppressed finding, on the CDK template only: W3005 (a DependsOn already implied by a GetAtt).
# CDK itself adds DependsOn on each function's role and policy so the policy exists before the
# function; it is redundant for the role, harmless, and not ours to remove.
set -euo pipefail
# shellcheck source=tools.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

ensure_cdk
ensure_linters
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

say "cdk synth (offline)"
cd "$INFRA_DIR"
rm -rf cdk.out
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cdk synth --no-notices --quiet -c placeholderCode=true >"$log" 2>&1; then
  cat "$log" >&2
  die "cdk synth failed"
fi
templates=(cdk.out/*.template.json)
[ -f "${templates[0]}" ] || die "cdk synth wrote no template"

cd "$ROOT_DIR"
say "sam validate --lint template.yaml"
"$VENV_DIR/bin/sam" validate --lint --template template.yaml

say "cfn-lint template.yaml ${templates[*]/#/infra/}"
"$VENV_DIR/bin/cfn-lint" -- template.yaml
"$VENV_DIR/bin/cfn-lint" --ignore-checks W3005 -- "${templates[@]/#/infra/}"

say "the same with every function of infra/functions.go enabled"
scratch=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$scratch"' EXIT
(cd "$INFRA_DIR" && cdk synth --no-notices --quiet -c placeholderCode=true -c allFunctions=true \
  -o "$scratch/cdk.out" >"$log" 2>&1) || { cat "$log" >&2; die "cdk synth -c allFunctions=true failed"; }
# Uncomment each BEGIN/END block that is still commented, one level of "# ".
awk '/^[[:space:]]*# BEGIN /            { blk = 1; first = 1; print; next }
     blk && /^[[:space:]]*# END /       { blk = 0; print; next }
     blk && first                       { first = 0; commented = ($0 ~ /^[[:space:]]*#/) }
     blk && commented                   { sub(/# ?/, "") }
                                        { print }' template.yaml >"$scratch/template.yaml"
"$VENV_DIR/bin/sam" validate --lint --template "$scratch/template.yaml" >/dev/null
"$VENV_DIR/bin/cfn-lint" -- "$scratch/template.yaml"
"$VENV_DIR/bin/cfn-lint" --ignore-checks W3005 -- "$scratch"/cdk.out/*.template.json
say "deploy templates are clean"
