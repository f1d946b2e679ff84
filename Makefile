# The two commands a fresh machine needs: `make demo` and `make test`.
.PHONY: demo test tools lint unit

demo:
	scripts/demo.sh

tools:
	scripts/install-tools.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

# Installs the tools (idempotent), checks formatting and lints, then runs every test,
# including the acceptance tests against real Terraform 1.15.5 and 1.0.3.
test: tools lint
	cargo test --all-targets
