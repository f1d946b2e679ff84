//! Every integration and acceptance suite in one test binary: each `tests/<suite>.rs` is a
//! module here, so the large library and the support code are compiled and linked once instead
//! of once per suite. Run one suite with `cargo test --test integration <suite>::`.
//!
//! Suites run in parallel threads of this one process, so none may change process-wide state
//! (environment, current directory); PostgreSQL clusters from `support::postgres::shared` are
//! per suite file, as they were when each suite was its own binary.
//! `tests/fuzz_corpus.rs` stays a binary of its own: `make fuzz` runs it by name.

mod support;

mod acceptance_aws;
mod acceptance_default_privileges;
mod acceptance_grant;
mod acceptance_policy;
mod acceptance_role;
mod acceptance_token;
mod acceptance_user;
mod bad_input;
mod docs;
mod examples;
mod grant_catalog;
mod harness_selftest;
mod identity;
mod logging;
mod pg_env_selftest;
mod pool;
mod process;
mod release;
mod reliability;
mod secrets;
mod stop;
mod tls;
mod token_botocore;
mod walkthroughs;
