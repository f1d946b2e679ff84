# The two commands a fresh machine needs: `make demo` and `make test`.
.PHONY: demo test tools lint unit bench docs fuzz

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

.PHONY: release install

# The optimized, stripped binary: target/release/terraform-provider-rdsiam.
release:
	cargo build --release --locked --bin terraform-provider-rdsiam

# Installs the release binary into the local filesystem mirror Terraform searches by itself
# (~/.terraform.d/plugins/…), so `terraform init` works without dev_overrides. Options (a
# different mirror directory, host, namespace) via scripts/install-mirror.sh's variables,
# e.g. `make install RDSIAM_MIRROR_DIR=/srv/mirror`.
install: release
	scripts/install-mirror.sh --binary target/release/terraform-provider-rdsiam

# Every benchmark (not part of `test`; ~15 min on 2 cores): regenerates docs/benchmarks.md.
bench: tools
	scripts/bench.sh

# Regenerates the Terraform Registry pages (docs/index.md, docs/resources/, …) from the
# provider schema, templates/ and examples/; tests/docs.rs fails when they are out of date.
docs:
	cargo run --quiet -- docs docs

# Coverage-guided fuzzing (cargo-fuzz / libFuzzer; stable toolchain via RUSTC_BOOTSTRAP) of the
# value codecs, validators and import-ID parsers: seeds the corpus, runs each target for
# FUZZ_SECONDS on one core, then minimises fuzz/corpus/<target>, which is kept in the repository
# and replayed by tests/fuzz_corpus.rs. Not part of `test`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = msgpack json flatmap validate import_id identifiers
FUZZ = PATH="$(CURDIR)/.tools/cargo/bin:$$PATH" RUSTC_BOOTSTRAP=1 cargo fuzz
FUZZ_FLAGS = -O --debug-assertions --sanitizer none
fuzz:
	cargo install --quiet --root .tools/cargo --locked cargo-fuzz
	cargo test --test fuzz_corpus -- --ignored write_seed_corpus
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		$(FUZZ) run $(FUZZ_FLAGS) $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
		$(FUZZ) cmin $(FUZZ_FLAGS) $$t || exit 1; \
	done
