//! The fuzz corpus on the stable toolchain: every file kept in `fuzz/corpus/<target>/` is
//! replayed through the same entry points the cargo-fuzz targets use (`fuzz/src/lib.rs`:
//! msgpack / JSON / flatmap decoding with round trips, decode-with-schema + validation for
//! every real schema, import-ID parsing, identifier validators), then a proptest run feeds them
//! random and mutated inputs. `make fuzz` runs the coverage-guided fuzzer itself.

#[path = "../fuzz/src/lib.rs"]
mod entry;

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every corpus file, by target.
fn corpus() -> &'static Vec<(&'static str, Vec<u8>)> {
    static ALL: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out = Vec::new();
        for &target in entry::TARGETS {
            let dir = corpus_dir(target);
            let entries =
                fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
            for e in entries {
                let path = e
                    .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
                    .path();
                let bytes =
                    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.push((target, bytes));
            }
        }
        out
    })
}

#[test]
fn every_corpus_file_replays_cleanly() {
    let mut per_target = std::collections::BTreeMap::new();
    for (target, bytes) in corpus() {
        // A panic names the input, so a failure can be reproduced with `cargo fuzz run`.
        let r = std::panic::catch_unwind(|| entry::run(target, bytes));
        if r.is_err() {
            panic!("{target}: corpus input {bytes:02x?} panicked");
        }
        *per_target.entry(*target).or_insert(0usize) += 1;
    }
    // The corpus is part of the repository: an empty or missing target means it was lost.
    for &target in entry::TARGETS {
        let n = per_target.get(target).copied().unwrap_or(0);
        assert!(n >= 5, "fuzz/corpus/{target} holds only {n} inputs");
    }
    eprintln!("replayed {per_target:?}");
}

#[test]
fn seeds_replay_cleanly() {
    let seeds = entry::seeds();
    for &target in entry::TARGETS {
        assert!(
            seeds.iter().any(|(t, _)| *t == target),
            "no seed for {target}"
        );
    }
    for (target, bytes) in &seeds {
        entry::run(target, bytes);
    }
}

/// Writes the seeds into `fuzz/corpus/<target>/seed-<n>`; `make fuzz` runs it before fuzzing.
#[test]
#[ignore = "writes files; run by `make fuzz`"]
fn write_seed_corpus() {
    for (n, (target, bytes)) in entry::seeds().iter().enumerate() {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let path = dir.join(format!("seed-{n:03}"));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// A corpus input with a few random byte edits (overwrite, insert, delete, truncate).
fn mutated() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    static BASES: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    let bases = BASES.get_or_init(|| {
        let mut b = corpus().clone();
        b.extend(entry::seeds());
        b
    });
    (
        0..bases.len().max(1),
        prop::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 0..6),
    )
        .prop_map(|(i, edits)| {
            let (target, base) = corpus().get(i).cloned().unwrap_or(("msgpack", Vec::new()));
            let mut b = base;
            for (op, at, byte) in edits {
                let at = usize::from(at) % (b.len() + 1);
                match op % 4 {
                    0 if at < b.len() => b[at] = byte,
                    1 => b.insert(at, byte),
                    2 if at < b.len() => {
                        b.remove(at);
                    }
                    _ => b.truncate(at),
                }
            }
            (target, b)
        })
}

fn random() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (
        prop::sample::select(entry::TARGETS),
        prop::collection::vec(any::<u8>(), 0..256),
    )
}

#[test]
fn proptest_random_and_mutated_inputs() {
    const CASES: u32 = 20_000;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    let result = runner.run(
        &prop_oneof![3 => mutated(), 1 => random()],
        |(target, bytes)| {
            entry::run(target, &bytes);
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let took = started.elapsed();
    eprintln!("{CASES} proptest cases in {took:?}");
    // Bounded: the suite's time budget is shared; a slow entry point is a bug in itself.
    assert!(
        took < Duration::from_secs(60),
        "{CASES} cases took {took:?}"
    );
}
