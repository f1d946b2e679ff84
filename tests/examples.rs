//! Every directory under `examples/` that holds `.tf` files passes `terraform fmt -check` and
//! `terraform validate` (Terraform 1.15.5, the freshly built provider through dev_overrides).
//!
//! Decided per directory, and printed as a table so nothing is skipped silently:
//! - a directory that needs another provider or a module from the registry (e.g. hashicorp/aws)
//!   cannot be initialised here (no registry access): only `fmt -check` runs for it, and the
//!   table says so and why;
//! - the registry-layout examples (`provider/`, `resources/`, `data-sources/`,
//!   `ephemeral-resources/`, `functions/`) must be self-contained (they never get that skip) and
//!   are also validated with Terraform 1.0.3, unless they use a feature newer than 1.0
//!   (ephemeral resources: 1.10, provider functions: 1.8, … or a `required_version`), which
//!   the table names;
//! - snippets without a `required_providers` entry for rdsiam/rdsiam (registry pages show
//!   resources without the `terraform` block) get one added to the copy they are validated in.
//!
//! The examples are validated in a temporary copy of `examples/`, so `.terraform` directories
//! never appear in the tree and relative module sources keep working.

use crate::support;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use support::{REQUIRED_PROVIDERS, Workspace, provider_bin, terraform};

const REGISTRY_LAYOUT: &[&str] = &[
    "provider",
    "resources",
    "data-sources",
    "ephemeral-resources",
    "functions",
];

const INJECTED: &str = "zz_rdsiam_required_providers_test.tf";

/// Directories (relative to `examples/`) that contain `.tf` files, sorted.
fn example_dirs(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut has_tf = false;
        let mut subdirs = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') {
                    subdirs.push(p);
                }
            } else if name.ends_with(".tf") {
                has_tf = true;
            }
        }
        if has_tf && let Ok(rel) = dir.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
        for s in subdirs {
            walk(root, &s, out);
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn tf_text(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Code without comments (`#` and `//` line comments; block comments are not used here).
fn code_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') || t.starts_with("//") {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect()
}

fn quoted_after(line: &str, prefix: &str) -> Option<String> {
    let rest = line.strip_prefix(prefix)?.trim_start().strip_prefix('"')?;
    rest.split('"').next().map(str::to_string)
}

/// The string assigned to `key` anywhere in the line (`key = "value"`, also inline as in
/// `rdsiam = { source = "rdsiam/rdsiam" }`).
fn assigned(line: &str, key: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = line[from..].find(key) {
        let start = from + i;
        from = start + key.len();
        let before_ok = line[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c == ' ' || c == '{');
        let value = line[from..]
            .trim_start()
            .strip_prefix('=')
            .filter(|r| !r.starts_with('='))
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('"'))
            .and_then(|r| r.split('"').next());
        if before_ok && let Some(v) = value {
            return Some(v.to_string());
        }
    }
    None
}

fn is_rdsiam_source(s: &str) -> bool {
    matches!(s, "rdsiam/rdsiam" | "registry.terraform.io/rdsiam/rdsiam")
}

/// What a directory needs from outside: providers other than rdsiam and the built-in
/// `terraform`, and non-local modules. Local modules are followed.
fn external_needs(dir: &Path, seen: &mut Vec<PathBuf>, out: &mut Vec<String>) {
    let Ok(canon) = dir.canonicalize() else {
        out.push(format!("module directory {} (not found)", dir.display()));
        return;
    };
    if seen.contains(&canon) {
        return;
    }
    seen.push(canon);
    let add = |out: &mut Vec<String>, s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for line in code_lines(&tf_text(dir)) {
        for kw in ["resource ", "data ", "ephemeral ", "provider "] {
            if let Some(ty) = quoted_after(&line, kw) {
                let prefix = if kw == "provider " {
                    ty.as_str()
                } else {
                    ty.split('_').next().unwrap_or("")
                };
                if !matches!(prefix, "rdsiam" | "terraform") {
                    add(out, format!("provider {prefix:?} (from {kw}{ty:?})"));
                }
            }
        }
        if let Some(src) = assigned(&line, "source") {
            if src.starts_with("./") || src.starts_with("../") {
                external_needs(&dir.join(&src), seen, out);
            } else if !is_rdsiam_source(&src) && src != "terraform.io/builtin/terraform" {
                add(out, format!("{src:?} from the registry"));
            }
        }
        let mut rest = line.as_str();
        while let Some(i) = rest.find("provider::") {
            rest = &rest[i + "provider::".len()..];
            let name = rest.split("::").next().unwrap_or("");
            if name != "rdsiam" && name != "terraform" {
                add(out, format!("provider {name:?} (function call)"));
            }
        }
    }
}

fn declares_rdsiam(text: &str) -> bool {
    code_lines(text)
        .iter()
        .any(|l| assigned(l, "source").is_some_and(|s| is_rdsiam_source(&s)))
}

/// The oldest Terraform the directory can work with, and why (None: nothing newer than 1.0).
fn minimum_terraform(text: &str) -> Option<(u32, String)> {
    let code = code_lines(text).join("\n");
    let mut found: Vec<(u32, String)> = Vec::new();
    let features: &[(&str, u32, &str)] = &[
        ("ephemeral \"", 10, "ephemeral resources"),
        ("provider::", 8, "provider-defined functions"),
        ("removed {", 7, "removed blocks"),
        ("import {", 5, "import blocks"),
        ("check \"", 5, "check blocks"),
        ("terraform_data", 4, "terraform_data"),
        ("optional(", 3, "optional object attributes"),
        ("moved {", 1, "moved blocks"),
    ];
    for (needle, minor, what) in features {
        if code.contains(needle) {
            found.push((*minor, format!("{what} need Terraform >= 1.{minor}")));
        }
    }
    for line in code.lines() {
        if let Some(v) = assigned(line, "required_version") {
            let minor = v
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .split('.')
                .nth(1)
                .and_then(|m| m.parse::<u32>().ok());
            if let Some(m) = minor.filter(|m| *m > 0) {
                found.push((m, format!("required_version = {v:?}")));
            }
        }
    }
    // The first of the newest, so a feature is named before a required_version saying the same.
    found.into_iter().rev().max_by_key(|(m, _)| *m)
}

/// `validate` in `examples/<rel>` of the workspace, after `init -backend=false` when the
/// directory calls modules (Terraform must install them first). Otherwise init is skipped:
/// with dev_overrides it is not needed, and Terraform 1.0 would query the registry.
fn validate(ws: &Workspace, rel: &Path, has_modules: bool) -> Result<(), String> {
    let chdir = format!("-chdir=examples/{}", rel.display());
    if has_modules {
        let init = ws.run(&[
            &chdir,
            "init",
            "-backend=false",
            "-no-color",
            "-input=false",
        ]);
        if !init.success() {
            return Err(format!("terraform init failed:\n{init}"));
        }
    }
    let out = ws.run(&[&chdir, "validate", "-no-color"]);
    if out.success() {
        Ok(())
    } else {
        Err(format!("terraform validate failed:\n{out}"))
    }
}

#[test]
fn every_example_is_formatted_and_valid() {
    let examples = support::repo_root().join("examples");
    let dirs = example_dirs(&examples);
    // Guard the discovery itself: the registry layout must be found.
    for kind in REGISTRY_LAYOUT {
        assert!(
            dirs.iter().any(|d| d.starts_with(kind)),
            "no example found under examples/{kind}: {dirs:?}"
        );
    }

    let new = Workspace::new("1.15.5", provider_bin());
    let old = Workspace::new("1.0.3", provider_bin());
    for ws in [&new, &old] {
        copy_dir(&examples, &ws.path().join("examples"));
    }

    // One recursive fmt over the whole tree (also covers .tfvars); -list names the files.
    let fmt = new.run(&[
        "fmt",
        "-check",
        "-recursive",
        "-diff",
        "-no-color",
        "examples",
    ]);
    let unformatted: Vec<String> = fmt
        .stdout
        .lines()
        .filter(|l| {
            (l.ends_with(".tf") || l.ends_with(".tfvars") || l.ends_with(".hcl"))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .map(str::to_string)
        .collect();
    let mut failures = Vec::new();
    if !fmt.success() {
        failures.push(format!(
            "terraform fmt -check -recursive examples/ failed (run `{} fmt -recursive examples`):\n{fmt}",
            terraform("1.15.5").display()
        ));
    }

    let mut table = String::from("\nexample directory | fmt | validate 1.15.5 | validate 1.0.3\n");
    for rel in &dirs {
        let registry_layout = REGISTRY_LAYOUT.iter().any(|k| rel.starts_with(k));
        let text = tf_text(&examples.join(rel));
        let fmt_ok = !unformatted
            .iter()
            .any(|f| Path::new(f).parent() == Some(&Path::new("examples").join(rel)));
        let mut needs = Vec::new();
        external_needs(&examples.join(rel), &mut Vec::new(), &mut needs);
        let injected = !declares_rdsiam(&text);
        let has_modules = code_lines(&text).iter().any(|l| l.starts_with("module \""));

        let new_result = if needs.is_empty() {
            if injected {
                for ws in [&new, &old] {
                    ws.write(
                        &format!("examples/{}/{INJECTED}", rel.display()),
                        REQUIRED_PROVIDERS,
                    );
                }
            }
            match validate(&new, rel, has_modules) {
                Ok(()) if injected => "ok (required_providers for rdsiam added)".to_string(),
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    failures.push(format!("examples/{}: 1.15.5: {e}", rel.display()));
                    "FAILED".to_string()
                }
            }
        } else {
            if registry_layout {
                failures.push(format!(
                    "examples/{}: registry-layout examples must validate offline, but it needs {}",
                    rel.display(),
                    needs.join(", ")
                ));
            }
            format!(
                "SKIPPED: needs {} (no registry access here); fmt only",
                needs.join(", ")
            )
        };

        let old_result = if !registry_layout {
            "not run (only registry-layout examples target Terraform 1.0)".to_string()
        } else if !needs.is_empty() {
            "SKIPPED (see 1.15.5)".to_string()
        } else if let Some((_, why)) = minimum_terraform(&text) {
            format!("SKIPPED: {why}")
        } else {
            match validate(&old, rel, has_modules) {
                Ok(()) => "ok".to_string(),
                Err(e) => {
                    failures.push(format!("examples/{}: 1.0.3: {e}", rel.display()));
                    "FAILED".to_string()
                }
            }
        };
        let _ = writeln!(
            table,
            "examples/{} | {} | {new_result} | {old_result}",
            rel.display(),
            if fmt_ok { "ok" } else { "FAILED" }
        );
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n\n"));
}

/// Copies an example, without the local state of someone's manual run.
fn copy_dir(from: &Path, to: &Path) {
    support::copy_dir(from, to, &|name| {
        name == ".terraform" || name == ".terraform.lock.hcl" || name.ends_with(".tfstate")
    });
}

#[test]
fn detection_rules() {
    // The per-directory decisions above depend on these; a regression would silently change
    // what is validated.
    assert_eq!(
        minimum_terraform("ephemeral \"rdsiam_auth_token\" \"x\" {}").map(|m| m.0),
        Some(10)
    );
    assert_eq!(
        minimum_terraform("value = provider::rdsiam::dbuser_arn(\"a\")").map(|m| m.0),
        Some(8)
    );
    assert_eq!(
        minimum_terraform("terraform {\n  required_version = \">= 1.6.0\"\n}").map(|m| m.0),
        Some(6)
    );
    assert_eq!(
        minimum_terraform("# ephemeral \"x\" in a comment\ndata \"rdsiam_cluster\" \"c\" {}"),
        None
    );
    assert!(declares_rdsiam(
        "rdsiam = {\n  source = \"rdsiam/rdsiam\"\n}"
    ));
    assert!(declares_rdsiam("rdsiam = { source = \"rdsiam/rdsiam\" }"));
    assert!(!declares_rdsiam(
        "resource \"rdsiam_postgres_user\" \"u\" {}"
    ));
    assert!(!declares_rdsiam("# source = \"rdsiam/rdsiam\""));

    let tmp = tempfile::tempdir().expect("tempdir");
    let write = |rel: &str, text: &str| {
        let p = tmp.path().join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    };
    write(
        "root/main.tf",
        "module \"m\" {\n  source = \"../mod\"\n}\nresource \"terraform_data\" \"t\" {}\n",
    );
    write(
        "mod/main.tf",
        "terraform {\n  required_providers {\n    aws = { source = \"hashicorp/aws\" }\n  }\n}\nresource \"aws_iam_policy\" \"p\" {}\n",
    );
    write("plain/main.tf", "data \"rdsiam_cluster\" \"c\" {}\n");
    let needs = |d: &str| {
        let mut out = Vec::new();
        external_needs(&tmp.path().join(d), &mut Vec::new(), &mut out);
        out
    };
    let root = needs("root");
    assert!(
        root.iter().any(|n| n.contains("hashicorp/aws"))
            && root.iter().any(|n| n.contains("\"aws\"")),
        "{root:?}"
    );
    assert_eq!(needs("plain"), Vec::<String>::new());
}
