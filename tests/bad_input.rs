//! The bad-input corpus (`tests/bad_input/corpus.json`) through real Terraform: every bad
//! value of every attribute of the provider block, the resources, data sources, the ephemeral
//! resource and the function must give its own error diagnostic at `terraform validate` (so at
//! plan time), on the line of the attribute, and the provider must never crash. Unknown values
//! must not give false errors.
//!
//! Many cases share one configuration, so a whole corpus costs two Terraform runs per version:
//! one for provider blocks (an invalid provider configuration stops validation of everything
//! using it) and one for the rest. Each case sits in its own block with the bad attribute on a
//! line of its own; `validate -json` gives each diagnostic's range, which ties it to its case.

use crate::support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value as Json;
use support::{REQUIRED_PROVIDERS, Workspace, provider_bin};

const UNKNOWN_1_15: &str = "terraform_data.unknown.output";
/// Terraform 1.0 has no terraform_data; input variables are unknown during validate.
const UNKNOWN_1_0: &str = "var.unknown";
/// A password in the corpus: it must never appear in a diagnostic.
const SECRET: &str = "s3cret-never-shown";

struct Case {
    target: String,
    attr: String,
    value: String,
    expect: Option<String>,
    extra: BTreeMap<String, Option<String>>,
}

struct Corpus {
    targets: serde_json::Map<String, Json>,
    cases: Vec<Case>,
}

fn corpus() -> Corpus {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input/corpus.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let json: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("corpus.json: {e}"));
    let targets = json["targets"]
        .as_object()
        .cloned()
        .unwrap_or_else(|| panic!("corpus.json has no targets"));
    let str_of = |c: &Json, k: &str| {
        c[k].as_str()
            .unwrap_or_else(|| panic!("case {c} lacks {k}"))
            .to_string()
    };
    let cases = json["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("corpus.json has no cases"))
        .iter()
        .map(|c| {
            let target = str_of(c, "target");
            assert!(targets.contains_key(&target), "unknown target in {c}");
            Case {
                target,
                attr: str_of(c, "attr"),
                value: str_of(c, "value"),
                expect: c["expect"].as_str().map(str::to_string),
                extra: c["extra"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    Corpus { targets, cases }
}

/// A configuration under construction that knows its current line number.
struct Config {
    text: String,
    line: usize,
}

impl Config {
    fn new() -> Self {
        Config {
            text: String::new(),
            line: 1,
        }
    }

    /// Appends one line and returns its (1-based) number.
    fn line(&mut self, s: &str) -> usize {
        let n = self.line;
        let _ = writeln!(self.text, "{s}");
        self.line += 1;
        n
    }
}

/// The attributes of a case's block in order: base (minus overrides), `extra`, then the case's
/// own attribute last.
fn attributes(base: &Json, case: &Case) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = base
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| **k != case.attr && !case.extra.contains_key(*k))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    for (k, v) in &case.extra {
        if let Some(v) = v {
            out.push((k.clone(), v.clone()));
        }
    }
    out.push((case.attr.clone(), case.value.clone()));
    out
}

/// Renders one case; returns the line of its attribute (or function argument).
fn render(cfg: &mut Config, i: usize, case: &Case, target: &Json, unknown: &str) -> usize {
    let attrs: Vec<(String, String)> = attributes(&target["base"], case)
        .into_iter()
        .map(|(k, v)| (k, v.replace(UNKNOWN_1_15, unknown)))
        .collect();
    let mut case_line = 0;
    let mut body = |cfg: &mut Config, indent: &str| {
        for (k, v) in &attrs {
            let n = cfg.line(&format!("{indent}{k} = {v}"));
            if *k == case.attr {
                case_line = n;
            }
        }
    };
    let parts: Vec<&str> = case.target.split('.').collect();
    match parts.as_slice() {
        ["provider", blocks @ ..] => {
            cfg.line("provider \"rdsiam\" {");
            cfg.line(&format!("  alias = \"c{i}\""));
            let mut indent = String::from("  ");
            for b in blocks {
                cfg.line(&format!("{indent}{b} {{"));
                indent.push_str("  ");
            }
            body(cfg, &indent);
            for _ in blocks {
                indent.truncate(indent.len() - 2);
                cfg.line(&format!("{indent}}}"));
            }
            cfg.line("}");
            // A provider configuration nothing uses may be pruned before validation.
            cfg.line(&format!("data \"rdsiam_policy_document\" \"use_c{i}\" {{"));
            cfg.line(&format!("  provider    = rdsiam.c{i}"));
            cfg.line("  region      = \"eu-west-1\"");
            cfg.line("  account_id  = \"123456789012\"");
            cfg.line("  resource_id = \"cluster-ABC\"");
            cfg.line("  db_users    = [\"app\"]");
            cfg.line("}");
        }
        ["function", name] => {
            cfg.line(&format!("output \"c{i}\" {{"));
            cfg.line(&format!("  value = provider::rdsiam::{name}("));
            let args = target["args"].as_array().cloned().unwrap_or_default();
            for (j, a) in args.iter().enumerate() {
                let a = a.as_str().unwrap_or_default();
                let v = attrs
                    .iter()
                    .find(|(k, _)| k == a)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("null");
                let comma = if j + 1 < args.len() { "," } else { "" };
                let n = cfg.line(&format!("    {v}{comma}"));
                if a == case.attr {
                    case_line = n;
                }
            }
            cfg.line("  )");
            cfg.line("}");
        }
        [kind, ty] => {
            cfg.line(&format!("{kind} \"{ty}\" \"c{i}\" {{"));
            body(cfg, "  ");
            cfg.line("}");
        }
        _ => panic!("bad target {:?}", case.target),
    }
    assert!(case_line > 0, "case {i} rendered no attribute line");
    case_line
}

/// What a run found wrong, one line per problem.
fn check_run(
    label: &str,
    out: &support::Output,
    cases: &[(usize, &Case, usize)],
    problems: &mut Vec<String>,
) {
    let combined = out.combined();
    let lower = combined.to_lowercase();
    for crash in [
        "panic",
        "plugin crashed",
        "plugin did not respond",
        "transport is closing",
    ] {
        if lower.contains(crash) {
            problems.push(format!("{label}: output mentions {crash:?}:\n{out}"));
        }
    }
    let json: Json = match serde_json::from_str(&out.stdout) {
        Ok(j) => j,
        Err(e) => {
            problems.push(format!(
                "{label}: validate -json printed no JSON ({e}):\n{out}"
            ));
            return;
        }
    };
    let diags = json["diagnostics"].as_array().cloned().unwrap_or_default();
    let errors: Vec<&Json> = diags.iter().filter(|d| d["severity"] == "error").collect();
    for d in &errors {
        let text = format!("{} {}", d["summary"], d["detail"]);
        if text.contains(SECRET) {
            problems.push(format!("{label}: a diagnostic shows the password: {text}"));
        }
    }
    let line_of = |d: &Json| -> Option<u64> {
        (d["range"]["filename"] == "main.tf")
            .then(|| d["range"]["start"]["line"].as_u64())
            .flatten()
    };
    let mut matched = vec![false; errors.len()];
    for &(i, case, line) in cases {
        let here: Vec<usize> = (0..errors.len())
            .filter(|&k| line_of(errors[k]) == Some(line as u64))
            .collect();
        for &k in &here {
            matched[k] = true;
        }
        let what = format!(
            "{label}: case {i} ({} {} = {})",
            case.target, case.attr, case.value
        );
        match &case.expect {
            None => {
                for &k in &here {
                    problems.push(format!(
                        "{what}: expected no diagnostic, got {} / {}",
                        errors[k]["summary"], errors[k]["detail"]
                    ));
                }
            }
            Some(expect) => {
                let hit = here.iter().find(|&&k| {
                    let d = errors[k];
                    let text = format!(
                        "{} {}",
                        d["summary"].as_str().unwrap_or(""),
                        d["detail"].as_str().unwrap_or("")
                    );
                    text.contains(expect.as_str())
                });
                match hit {
                    None => problems.push(format!(
                        "{what}: no error containing {expect:?} on line {line}"
                    )),
                    Some(&k) => {
                        let d = errors[k];
                        let code = d["snippet"]["code"].as_str().unwrap_or("");
                        if !case.target.starts_with("function.") && !code.contains(&case.attr) {
                            problems.push(format!(
                                "{what}: the diagnostic's snippet {code:?} does not show the attribute"
                            ));
                        }
                        if case.target.starts_with("provider.")
                            && let Some(addr) = d["address"].as_str()
                            && !addr.ends_with(&format!(".c{i}"))
                        {
                            problems.push(format!("{what}: diagnostic for {addr}"));
                        }
                    }
                }
            }
        }
    }
    for (k, d) in errors.iter().enumerate() {
        if !matched[k] {
            problems.push(format!(
                "{label}: diagnostic not on any case's line (no attribute path?): {d}"
            ));
        }
    }
}

/// Runs the corpus (cases `filter` keeps) through `terraform validate -json` of `version`.
fn run_corpus(version: &str, filter: impl Fn(&Case) -> bool) -> (usize, Vec<String>) {
    let corpus = corpus();
    let unknown = if version == "1.0.3" {
        UNKNOWN_1_0
    } else {
        UNKNOWN_1_15
    };
    let header = format!(
        "{REQUIRED_PROVIDERS}{}",
        if version == "1.0.3" {
            "variable \"unknown\" {\n  type = string\n}\n"
        } else {
            "resource \"terraform_data\" \"unknown\" {\n  input = \"x\"\n}\n"
        }
    );
    let mut problems = Vec::new();
    let mut count = 0;
    for providers in [true, false] {
        let mut cfg = Config::new();
        for l in header.lines() {
            cfg.line(l);
        }
        if !providers {
            cfg.line("provider \"rdsiam\" {}");
        }
        let mut rendered = Vec::new();
        for (i, case) in corpus.cases.iter().enumerate() {
            if case.target.starts_with("provider.") != providers || !filter(case) {
                continue;
            }
            let line = render(&mut cfg, i, case, &corpus.targets[&case.target], unknown);
            rendered.push((i, case, line));
        }
        count += rendered.len();
        let ws = Workspace::new(version, provider_bin());
        ws.write("main.tf", &cfg.text);
        let out = ws.tf(&["validate", "-json"]);
        let label = format!(
            "terraform {version} {}",
            if providers { "providers" } else { "resources" }
        );
        if out.success() {
            problems.push(format!("{label}: validate succeeded on a bad corpus"));
        }
        check_run(&label, &out, &rendered, &mut problems);
        if !problems.is_empty() && std::env::var("RDSIAM_KEEP_TMP").is_ok() {
            eprintln!("{label} configuration:\n{}", cfg.text);
        }
    }
    (count, problems)
}

fn report(version: &str, (count, problems): (usize, Vec<String>)) {
    assert!(count > 0, "no cases ran on {version}");
    if !problems.is_empty() {
        panic!(
            "{} problem(s) with the bad-input corpus on Terraform {version}:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    eprintln!(
        "terraform {version}: all {count} bad-input cases behaved (diagnostic on their line, or none where expected)"
    );
}

#[test]
fn every_bad_input_gets_its_own_diagnostic_on_terraform_1_15() {
    report("1.15.5", run_corpus("1.15.5", |_| true));
}

/// Terraform 1.0 sends the older requests (no functions, no ephemeral resources).
#[test]
fn every_bad_input_gets_its_own_diagnostic_on_terraform_1_0() {
    report(
        "1.0.3",
        run_corpus("1.0.3", |c| {
            !c.target.starts_with("function.") && !c.target.starts_with("ephemeral.")
        }),
    );
}

#[test]
fn corpus_covers_every_attribute() {
    // Each attribute of every schema appears in at least one case (computed-only ones aside).
    use terraform_provider_rdsiam::provider::RdsIam;
    use terraform_provider_rdsiam::tfplugin::{Block, Provider};
    let corpus = corpus();
    let covered = |target: &str, attr: &str| {
        corpus
            .cases
            .iter()
            .any(|c| c.target == target && c.attr == attr)
    };
    let mut missing = Vec::new();
    let mut check = |target: String, b: &Block| {
        for a in &b.attributes {
            if (a.required || a.optional) && !covered(&target, &a.name) {
                missing.push(format!("{target}.{}", a.name));
            }
        }
    };
    let p = RdsIam::new();
    let schema = p.schema();
    fn walk(prefix: &str, b: &Block, out: &mut Vec<(String, Block)>) {
        for nb in &b.blocks {
            let name = format!("{prefix}.{}", nb.name);
            out.push((name.clone(), nb.block.clone()));
            walk(&name, &nb.block, out);
        }
    }
    let mut blocks = Vec::new();
    walk("provider", &schema.block, &mut blocks);
    for (name, b) in &blocks {
        check(name.clone(), b);
    }
    for r in p.resources() {
        check(format!("resource.{}", r.type_name()), &r.schema().block);
    }
    for d in p.data_sources() {
        check(format!("data.{}", d.type_name()), &d.schema().block);
    }
    for e in p.ephemeral_resources() {
        check(format!("ephemeral.{}", e.type_name()), &e.schema().block);
    }
    for f in p.functions() {
        for param in f.definition().parameters {
            if !covered(&format!("function.{}", f.name()), &param.name) {
                missing.push(format!("function.{}({})", f.name(), param.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "attributes without a bad-input case: {missing:?}"
    );
}
