//! The committed Terraform Registry pages (`docs/index.md`, `docs/resources/`, …) must be what
//! the provider's schema and `examples/` generate, and every resource, data source, ephemeral
//! resource and function must have a page and an example (resources also an `import.sh`).

use crate::support;
use support::provider_bin;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use terraform_provider_rdsiam::docs::{self, Kind};
use terraform_provider_rdsiam::provider::RdsIam;
use terraform_provider_rdsiam::tfplugin::Provider;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<docs::Page> {
    docs::render(&RdsIam::new(), &root().join("examples"))
        .unwrap_or_else(|missing| panic!("cannot generate the docs; missing:\n{missing:#?}"))
}

/// The first differing line, to say *how* a page differs.
fn first_difference(want: &str, have: &str) -> String {
    let (w, h): (Vec<_>, Vec<_>) = (want.lines().collect(), have.lines().collect());
    for i in 0..w.len().max(h.len()) {
        if w.get(i) != h.get(i) {
            return format!(
                "line {}:\n  generated: {:?}\n  committed: {:?}",
                i + 1,
                w.get(i).unwrap_or(&"<end of file>"),
                h.get(i).unwrap_or(&"<end of file>")
            );
        }
    }
    "only trailing whitespace differs".into()
}

#[test]
fn committed_docs_match_the_schema() {
    let pages = pages();
    let dir = root().join("docs");
    let diffs = docs::check(&pages, &dir);
    if diffs.is_empty() {
        return;
    }
    let mut msg =
        String::from("docs/ is out of date with the provider schema, templates/ or examples/:\n");
    for d in &diffs {
        msg.push_str(&format!("\n- {} {}\n", d.path.display(), d.problem));
        let rel = d.path.strip_prefix(&dir).unwrap_or(&d.path);
        if let (Some(p), Ok(have)) = (
            pages.iter().find(|p| Path::new(&p.path) == rel),
            fs::read_to_string(&d.path),
        ) {
            msg.push_str(&first_difference(&p.text, &have));
            msg.push('\n');
        }
    }
    msg.push_str("\nRegenerate with `make docs` (cargo run -- docs docs) and commit the result.");
    panic!("{msg}");
}

/// The kinds and names the provider serves, from the same values GetProviderSchema returns.
fn everything() -> Vec<(Kind, String)> {
    let p = RdsIam::new();
    let mut v = Vec::new();
    v.extend(
        p.resources()
            .iter()
            .map(|r| (Kind::Resource, r.type_name().to_string())),
    );
    v.extend(
        p.data_sources()
            .iter()
            .map(|d| (Kind::DataSource, d.type_name().to_string())),
    );
    v.extend(
        p.ephemeral_resources()
            .iter()
            .map(|e| (Kind::EphemeralResource, e.type_name().to_string())),
    );
    v.extend(
        p.functions()
            .iter()
            .map(|f| (Kind::Function, f.name().to_string())),
    );
    v
}

#[test]
fn everything_has_a_page_an_example_and_resources_an_import_script() {
    let all = everything();
    // Guards the test itself: an empty provider would pass everything below.
    assert!(all.iter().any(|(k, _)| *k == Kind::Resource), "{all:?}");
    assert!(all.iter().any(|(k, _)| *k == Kind::Function), "{all:?}");
    let examples = root().join("examples");
    let docs_dir = root().join("docs");
    let mut problems = Vec::new();
    for (kind, name) in &all {
        let page = docs_dir.join(docs::page_path(*kind, name));
        let body = if *kind == Kind::Function {
            "## Signature"
        } else {
            "## Schema"
        };
        match fs::read_to_string(&page) {
            Ok(text) if text.contains("## Example Usage") && text.contains(body) => {}
            Ok(_) => problems.push(format!("{}: no Example Usage or {body}", page.display())),
            Err(_) => problems.push(format!("{}: missing", page.display())),
        }
        let example = docs::example_path(&examples, *kind, name);
        // The example must actually use what it documents.
        let usage = match kind {
            Kind::Resource => format!("resource \"{name}\""),
            Kind::DataSource => format!("data \"{name}\""),
            Kind::EphemeralResource => format!("ephemeral \"{name}\""),
            Kind::Function => format!("provider::rdsiam::{name}("),
        };
        match fs::read_to_string(&example) {
            Ok(text) if text.contains(&usage) => {}
            Ok(_) => problems.push(format!("{}: does not contain {usage}", example.display())),
            Err(_) => problems.push(format!("{}: missing", example.display())),
        }
        if *kind == Kind::Resource {
            let import = examples.join("resources").join(name).join("import.sh");
            let wanted = format!("terraform import {name}.");
            match fs::read_to_string(&import) {
                Ok(text) if text.contains(&wanted) => {}
                Ok(_) => problems.push(format!("{}: no `{wanted}…` line", import.display())),
                Err(_) => problems.push(format!("{}: missing", import.display())),
            }
            let page = fs::read_to_string(&page).unwrap_or_default();
            if !page.contains("## Import") || !page.contains("The import ID is") {
                problems.push(format!(
                    "{name}: the page does not state the import ID format"
                ));
            }
        }
    }
    assert!(docs_dir.join("index.md").is_file(), "docs/index.md missing");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn pages_carry_the_schema() {
    // Spot checks that the generated text is the schema, not a copy of it: attributes land in
    // the right section with their type words and flags.
    let pages = pages();
    let by_path = docs::by_path(&pages);
    let user = by_path["resources/postgres_user.md"];
    let section = |page: &str, title: &str| -> String {
        let start = page
            .find(&format!("### {title}\n"))
            .unwrap_or_else(|| panic!("no {title} section in\n{page}"));
        let rest = &page[start + title.len() + 5..];
        rest[..rest.find("\n#").unwrap_or(rest.len())].to_string()
    };
    assert!(section(user, "Required").contains("- `name` (String)"));
    assert!(section(user, "Optional").contains("- `roles` (Set of String)"));
    assert!(section(user, "Read-Only").contains("- `id` (String)"));
    let token = by_path["ephemeral-resources/auth_token.md"];
    assert!(section(token, "Read-Only").contains("- `token` (String, Sensitive)"));
    let index = by_path["index.md"];
    assert!(index.contains("- `aws` (Block List, Max: 1)"));
    assert!(index.contains("### Nested Schema for `aws.assume_role`"));
    assert!(index.contains("- `password` (String, Sensitive)"));
    assert!(index.starts_with("---\n"));
    for p in &pages {
        assert!(
            p.text.contains("\npage_title: \"") && p.text.contains("\nsubcategory: \""),
            "{} lacks the registry front matter",
            p.path
        );
    }
}

#[test]
fn check_subcommand_names_stale_and_edited_pages() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("docs");
    // Write a fresh tree with the subcommand itself, then check it.
    let run = |args: &[&str]| {
        Command::new(provider_bin())
            .arg("docs")
            .args(args)
            .arg(&dir)
            .current_dir(root())
            .output()
            .expect("run the docs subcommand")
    };
    let out = run(&[]);
    assert!(out.status.success(), "{out:?}");
    let out = run(&["--check"]);
    assert!(
        out.status.success(),
        "freshly written docs must pass --check: {out:?}"
    );
    // Must match what the library renders (the test above compares the committed tree).
    for p in pages() {
        assert_eq!(
            fs::read_to_string(dir.join(&p.path)).ok().as_deref(),
            Some(p.text.as_str()),
            "{}",
            p.path
        );
    }

    let edited = dir.join("resources").join("postgres_user.md");
    let text = fs::read_to_string(&edited).expect("read page");
    fs::write(&edited, text.replace("(Set of String)", "(List of String)")).expect("edit");
    let stale = dir.join("data-sources").join("removed_thing.md");
    fs::write(&stale, "old").expect("write stale page");
    let out = run(&["--check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--check must fail: {stderr}");
    assert!(stderr.contains("postgres_user.md differs"), "{stderr}");
    assert!(
        stderr.contains("removed_thing.md is not generated"),
        "{stderr}"
    );
    assert!(stderr.contains("make docs"), "{stderr}");

    // Regenerating repairs both.
    assert!(run(&[]).status.success());
    assert!(!stale.exists(), "stale page not removed");
    assert!(run(&["--check"]).status.success());

    // A copy of the committed docs with an unrelated file outside the generated directories
    // (like docs/design.md) is not flagged.
    let copy = tmp.path().join("copy");
    support::copy_dir(&root().join("docs"), &copy, &|_| false);
    fs::write(copy.join("notes.md"), "hand-written").expect("write");
    let out = Command::new(provider_bin())
        .args(["docs", "--check"])
        .arg(&copy)
        .current_dir(root())
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
}
