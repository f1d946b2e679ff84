#!/usr/bin/env bash
# Builds the provider and applies examples/quickstart with real Terraform, then destroys it.
# Set KEEP=1 to keep the working directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "Installing test tools (Terraform) into .tools/ (first run only)"
scripts/install-tools.sh >/dev/null
tf="$root/.tools/bin/terraform-1.15.5"

step "Building terraform-provider-rdsiam (release)"
cargo build --release --quiet
bin_dir="$root/target/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/rdsiam-demo.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
cp examples/quickstart/*.tf "$work/"
cat > "$work/cli.tfrc" <<HCL
provider_installation {
  dev_overrides {
    "registry.terraform.io/rdsiam/rdsiam" = "$bin_dir"
  }
  direct {}
}
HCL
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_INPUT=0
cd "$work"

step "terraform apply examples/quickstart (Terraform $("$tf" version | head -n1 | awk '{print $2}'))"
"$tf" apply -auto-approve -no-color 2>&1 | grep -v -e '^│' -e '^╷' -e '^╵' -e '^$' || true
test -f terraform.tfstate

step "Outputs"
"$tf" output -no-color arns
echo "policy_json ="
"$tf" output -raw policy_json
echo
echo "reporting_arn = $("$tf" output -raw reporting_arn)"

step "Re-plan (expect no changes)"
set +e
"$tf" plan -detailed-exitcode -no-color >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 0 ] && echo "no changes" || { echo "unexpected plan exit code $rc"; exit 1; }

step "terraform destroy"
"$tf" destroy -auto-approve -no-color >/dev/null 2>&1 && echo "destroyed"
