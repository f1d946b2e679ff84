//! AWS-side logic: ARNs and policy documents (pure), credentials and the lazily built SDK
//! configuration, IAM auth tokens, RDS lookups, and the PostgreSQL login read from Secrets
//! Manager. Nothing here knows Terraform's types: the provider and the data sources turn
//! [`AwsError`] into diagnostics.

pub mod arn;
pub mod credentials;
pub mod rds;
pub mod secrets;
pub mod token;

/// A failed AWS step as the user will read it: a short summary and a detail that says what was
/// tried and what to do. Never contains credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    pub summary: String,
    pub detail: String,
    /// The looked-up object does not exist: the caller can point at the attribute naming it.
    pub not_found: bool,
}

impl AwsError {
    pub fn new(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        AwsError {
            summary: summary.into(),
            detail: detail.into(),
            not_found: false,
        }
    }

    pub fn not_found(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        AwsError {
            not_found: true,
            ..AwsError::new(summary, detail)
        }
    }
}

/// What any AWS API call's error code means when it is about the caller, not the service:
/// rejected credentials or throttling (`attempts` made with backoff). None for the rest.
pub fn caller_trouble(code: &str, attempts: u32) -> Option<(&'static str, String)> {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled" => Some((
            "AWS is throttling requests",
            format!(
                "Gave up after {attempts} attempts with backoff. Retry later, run Terraform with \
                 lower -parallelism, or raise the account's API rate."
            ),
        )),
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignature" => Some((
            "AWS rejected the credentials",
            "The credentials are invalid or expired: refresh them (e.g. `aws sso login`) or \
             check AWS_PROFILE / the provider's `aws` block."
                .to_string(),
        )),
        _ => None,
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.summary, self.detail)
    }
}
