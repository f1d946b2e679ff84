//! Errors and warnings for Terraform, optionally pointing at an attribute so that
//! Terraform can underline the offending line of configuration.

use std::fmt;

/// One step of an attribute path: `.name`, `["key"]` or `[3]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathStep {
    Attr(String),
    Key(String),
    Index(i64),
}

/// Where in a configuration object a diagnostic belongs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    pub fn root(name: &str) -> Self {
        AttributePath(vec![PathStep::Attr(name.to_string())])
    }

    pub fn attr(mut self, name: &str) -> Self {
        self.0.push(PathStep::Attr(name.to_string()));
        self
    }

    pub fn index(mut self, i: usize) -> Self {
        self.0
            .push(PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX)));
        self
    }

    pub fn key(mut self, k: &str) -> Self {
        self.0.push(PathStep::Key(k.to_string()));
        self
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attr(n) if i == 0 => write!(f, "{n}")?,
                PathStep::Attr(n) => write!(f, ".{n}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    pub attribute: Option<AttributePath>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            detail: detail.into(),
            attribute: None,
        }
    }

    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary, detail)
        }
    }

    pub fn at(mut self, path: AttributePath) -> Self {
        self.attribute = Some(path);
        self
    }
}

/// A list of diagnostics; "has errors" decides whether an operation failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Diagnostic::error(summary, detail));
    }

    pub fn error_at(
        &mut self,
        path: AttributePath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Diagnostic::error(summary, detail).at(path));
    }

    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Diagnostic::warning(summary, detail));
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_display() {
        let p = AttributePath::root("db_users").index(2);
        assert_eq!(p.to_string(), "db_users[2]");
        let p = AttributePath::root("aws").attr("assume_role").key("k");
        assert_eq!(p.to_string(), "aws.assume_role[\"k\"]");
    }

    #[test]
    fn errors_decide_failure() {
        let mut d = Diagnostics::new();
        d.warning("w", "");
        assert!(!d.has_errors());
        d.error_at(AttributePath::root("x"), "e", "");
        assert!(d.has_errors());
    }
}
