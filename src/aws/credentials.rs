//! The AWS settings of the provider's `aws { … }` block (parsed from Terraform's value by
//! `provider::aws_block`) and the lazily built AWS SDK configuration shared by every data source
//! of one provider process.
//!
//! # Precedence
//!
//! Each setting is taken from the first source that has it:
//!
//! | setting | order |
//! | --- | --- |
//! | region | data source `region` → `aws.region` → `AWS_REGION` → `AWS_DEFAULT_REGION` → the profile's `region` → EC2 instance metadata (IMDS) |
//! | profile | `aws.profile` → `AWS_PROFILE` → `default` |
//! | config files | `aws.shared_config_files` (replace the default) → `AWS_CONFIG_FILE` → `~/.aws/config` |
//! | credentials files | `aws.shared_credentials_files` (replace the default) → `AWS_SHARED_CREDENTIALS_FILE` → `~/.aws/credentials` |
//! | credentials | aws-config's default chain: environment (`AWS_ACCESS_KEY_ID`…) → the profile (static keys, SSO, `credential_process`, `role_arn`/`source_profile`) → web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, EKS IRSA) → container credentials (EKS Pod Identity, ECS) → IMDS. With `aws.assume_role` those become the *source* credentials for `sts:AssumeRole`. |
//! | RDS endpoint | `aws.endpoints.rds` → `AWS_ENDPOINT_URL_RDS` → `AWS_ENDPOINT_URL` → the profile's `endpoint_url` → AWS |
//! | STS endpoint (assume_role) | `aws.endpoints.sts` → `AWS_ENDPOINT_URL_STS` → `AWS_ENDPOINT_URL` → the profile → AWS |
//! | Secrets Manager endpoint (`postgres.password_secret`) | `aws.endpoints.secretsmanager` → `AWS_ENDPOINT_URL_SECRETS_MANAGER` → `AWS_ENDPOINT_URL` → the profile → AWS |
//!
//! # Laziness
//!
//! `ConfigureProvider` only parses the block into [`AwsSettings`]. Nothing reads profile files,
//! resolves credentials or touches the network (IMDS included) until a data source calls
//! [`Aws::sdk_config`] (directly or through [`Aws::credentials`] / [`Aws::rds`]), so a plan that
//! only builds policy documents needs no AWS access at all.

use std::path::PathBuf;
use std::time::Duration;

// The non-deprecated names live in aws-runtime, which is not a direct dependency; these
// aliases are the same types.
#[allow(deprecated)]
use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::OnceCell;

use crate::aws::AwsError;
use crate::tfplugin::log;

/// `aws.assume_role`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
}

/// `aws.endpoints`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub rds: Option<String>,
    pub sts: Option<String>,
    pub secretsmanager: Option<String>,
}

/// The provider's `aws` block, parsed and checked (by `provider::aws_block`) but not acted upon.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub shared_config_files: Option<Vec<String>>,
    pub shared_credentials_files: Option<Vec<String>>,
    pub assume_role: Option<AssumeRole>,
    pub endpoints: Endpoints,
    /// Settings whose value was unknown at configure time (they depend on resources not yet
    /// created), as attribute paths like `aws[0].region`. Not an error by itself: only using
    /// AWS with them is.
    pub unknown: Vec<String>,
}

/// Where an effective setting came from, for diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An attribute, e.g. `aws.region` or the data source's `region`.
    Attribute(String),
    /// An environment variable.
    Env(&'static str),
    /// The SDK's built-in default (e.g. profile `default`, `~/.aws/config`).
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Attribute(a) => write!(f, "`{a}`"),
            Origin::Env(v) => write!(f, "{v}"),
            Origin::Default => write!(f, "default"),
        }
    }
}

/// The effective profile name: `aws.profile` → `AWS_PROFILE` → `default`.
pub fn effective_profile(
    settings: &AwsSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> (String, Origin) {
    if let Some(p) = &settings.profile {
        return (p.clone(), Origin::Attribute("aws.profile".into()));
    }
    match non_empty(env("AWS_PROFILE")) {
        Some(p) => (p, Origin::Env("AWS_PROFILE")),
        None => ("default".into(), Origin::Default),
    }
}

/// The region as far as it can be known without reading profile files or IMDS: data source
/// `region` → `aws.region` → `AWS_REGION` → `AWS_DEFAULT_REGION`. `None` means aws-config will
/// look at the profile and then IMDS.
pub fn explicit_region(
    data_source_region: Option<&str>,
    settings: &AwsSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, Origin)> {
    if let Some(r) = data_source_region {
        return Some((r.to_string(), Origin::Attribute("region".into())));
    }
    if let Some(r) = &settings.region {
        return Some((r.clone(), Origin::Attribute("aws.region".into())));
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(r) = non_empty(env(var)) {
            return Some((r, Origin::Env(var)));
        }
    }
    None
}

/// Which kind of shared file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Config,
    Credentials,
}

/// The shared files read for `kind`: the provider's list replaces the default, which is the
/// environment variable's path or `~/.aws/…`.
pub fn effective_files(
    settings: &AwsSettings,
    kind: FileKind,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<String>, Origin) {
    let (list, attr, var, default) = match kind {
        FileKind::Config => (
            &settings.shared_config_files,
            "aws.shared_config_files",
            "AWS_CONFIG_FILE",
            "~/.aws/config",
        ),
        FileKind::Credentials => (
            &settings.shared_credentials_files,
            "aws.shared_credentials_files",
            "AWS_SHARED_CREDENTIALS_FILE",
            "~/.aws/credentials",
        ),
    };
    if let Some(l) = list {
        return (l.clone(), Origin::Attribute(attr.into()));
    }
    match non_empty(env(var)) {
        Some(p) => (vec![p], Origin::Env(var)),
        None => (vec![default.to_string()], Origin::Default),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses a Go-style duration made of whole `h`, `m` and `s` parts (`"1h30m"`, `"900s"`) and
/// checks the STS range of 15 minutes to 12 hours.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const FORMAT: &str = "expected a duration such as \"1h\", \"15m\", \"1h30m\" or \"3600s\"";
    let mut total: u64 = 0;
    let mut digits = String::new();
    if s.is_empty() {
        return Err(FORMAT.into());
    }
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(FORMAT.into()),
        };
        let n: u64 = digits.parse().map_err(|_| FORMAT.to_string())?;
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(|| FORMAT.to_string())?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(FORMAT.into());
    }
    if !(900..=43_200).contains(&total) {
        return Err("an assumed-role session lasts between 15m and 12h".into());
    }
    Ok(Duration::from_secs(total))
}

// ---- the lazily configured SDK ----

/// How many attempts RDS calls get (throttling and transient errors are retried with jittered
/// exponential backoff by the SDK's standard retry strategy).
pub const RDS_MAX_ATTEMPTS: u32 = 5;

/// The SDK's standard strategy (throttling and transient errors, jittered exponential backoff),
/// bounded at [`RDS_MAX_ATTEMPTS`].
pub fn rds_retry_config(initial_backoff: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(RDS_MAX_ATTEMPTS)
        .with_initial_backoff(initial_backoff)
        .with_max_backoff(Duration::from_secs(10))
}

/// AWS access for one provider process, built on first use and shared by every data source.
pub struct Aws {
    settings: AwsSettings,
    cell: OnceCell<SdkConfig>,
    /// Set once credentials resolved successfully, so RDS calls fail early with our message
    /// instead of the SDK's, without resolving again on every lookup.
    creds_checked: OnceCell<()>,
    /// Last resolved credentials: every IAM token (one per PostgreSQL connection) would
    /// otherwise re-run the chain — an STS call per connection with assume_role.
    cached: tokio::sync::Mutex<Option<Credentials>>,
    retry: RetryConfig,
}

impl Aws {
    pub fn new(settings: AwsSettings) -> Self {
        Aws {
            settings,
            cell: OnceCell::new(),
            creds_checked: OnceCell::new(),
            cached: tokio::sync::Mutex::new(None),
            retry: rds_retry_config(Duration::from_millis(500)),
        }
    }

    /// Replaces the RDS retry policy (tests use short backoffs).
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The SDK configuration, loaded on first call (profile files are read here; credentials
    /// are only resolved when a request or [`Aws::credentials`] needs them).
    pub async fn sdk_config(&self) -> Result<&SdkConfig, AwsError> {
        self.cell
            .get_or_try_init(|| load_sdk_config(&self.settings))
            .await
    }

    /// Resolves credentials through the configuration's provider (default chain, or the
    /// assumed role). Errors name the sources tried and how to fix it; never any secret.
    pub async fn credentials(&self) -> Result<Credentials, AwsError> {
        // Held across resolution so concurrent callers wait for one resolution.
        let mut cached = self.cached.lock().await;
        let fresh_until = std::time::SystemTime::now() + Duration::from_secs(300);
        if let Some(c) = cached.as_ref()
            && c.expiry().is_none_or(|exp| exp > fresh_until)
        {
            return Ok(c.clone());
        }
        let resolved = self.resolve_credentials().await?;
        // Registered before anything could log them: masked in every later log line.
        log::register_secret(resolved.secret_access_key());
        if let Some(t) = resolved.session_token() {
            log::register_secret(t);
        }
        log::debug(
            "AWS credentials resolved",
            &[("temporary", resolved.session_token().is_some().into())],
        );
        *cached = Some(resolved.clone());
        Ok(resolved)
    }

    async fn resolve_credentials(&self) -> Result<Credentials, AwsError> {
        let conf = self.sdk_config().await?;
        let Some(provider) = conf.credentials_provider() else {
            return Err(AwsError::new(
                "No AWS credentials provider",
                "The AWS configuration has no credentials provider.",
            ));
        };
        provider
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(&self.settings, &e, &process_env))
    }

    /// The provider-level region (`aws.region`, env, profile or IMDS), if any.
    pub async fn region(&self) -> Option<String> {
        let conf = self.sdk_config().await.ok()?;
        conf.region().map(ToString::to_string)
    }

    /// An RDS client in the provider's region, honouring `endpoints.rds`.
    pub async fn rds(&self) -> Result<aws_sdk_rds::Client, AwsError> {
        self.rds_in(None).await
    }

    /// What every service client starts from: the SDK configuration, the region (`region`, else
    /// the provider's), and credentials checked once.
    async fn client_config(&self, region: Option<&str>) -> Result<(&SdkConfig, String), AwsError> {
        let conf = self.sdk_config().await?;
        let region = match region {
            Some(r) => r.to_string(),
            None => match conf.region() {
                Some(r) => r.to_string(),
                None => return Err(no_region_error(&self.settings, &process_env)),
            },
        };
        self.creds_checked
            .get_or_try_init(|| async { self.credentials().await.map(|_| ()) })
            .await?;
        Ok((conf, region))
    }

    /// An RDS client in `region` (a data source's override) or the provider's region.
    pub async fn rds_in(&self, region: Option<&str>) -> Result<aws_sdk_rds::Client, AwsError> {
        let (conf, region) = self.client_config(region).await?;
        let mut b = aws_sdk_rds::config::Builder::from(conf)
            .region(Region::new(region))
            .retry_config(self.retry.clone());
        if let Some(url) = &self.settings.endpoints.rds {
            b = b.endpoint_url(url);
        }
        Ok(aws_sdk_rds::Client::from_conf(b.build()))
    }

    /// A Secrets Manager client in `region` (a secret ARN's) or the provider's region,
    /// honouring `endpoints.secretsmanager`.
    pub async fn secretsmanager_in(
        &self,
        region: Option<&str>,
    ) -> Result<aws_sdk_secretsmanager::Client, AwsError> {
        let (conf, region) = self.client_config(region).await?;
        let mut b = aws_sdk_secretsmanager::config::Builder::from(conf)
            .region(Region::new(region))
            .retry_config(self.retry.clone());
        if let Some(url) = &self.settings.endpoints.secretsmanager {
            b = b.endpoint_url(url);
        }
        Ok(aws_sdk_secretsmanager::Client::from_conf(b.build()))
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Each listed file with its attribute path, e.g. `aws[0].shared_config_files[1]`.
fn file_paths(settings: &AwsSettings) -> Vec<(String, &String)> {
    let mut out = Vec::new();
    for (name, list) in [
        ("shared_config_files", &settings.shared_config_files),
        (
            "shared_credentials_files",
            &settings.shared_credentials_files,
        ),
    ] {
        for (i, f) in list.iter().flatten().enumerate() {
            out.push((format!("aws[0].{name}[{i}]"), f));
        }
    }
    out
}

#[allow(deprecated)] // ProfileFiles / ProfileFileKind: see the import
// These errors surface on the data source that needed AWS, so provider attribute paths go in
// the text: as diagnostic paths Terraform would resolve them against the data source.
async fn load_sdk_config(s: &AwsSettings) -> Result<SdkConfig, AwsError> {
    if let Some(path) = s.unknown.first() {
        return Err(AwsError::new(
            "AWS setting not known yet",
            format!(
                "`{path}` in the provider's `aws` block depends on a value that is only known \
                 after apply, but this data source needs AWS now. Use a value known at plan \
                 time, or apply the resources it depends on first (`-target`)."
            ),
        ));
    }
    // aws-config would fail later with a vaguer error: check the files the user listed.
    for (path, f) in file_paths(s) {
        if !expand_home(f).is_file() {
            return Err(AwsError::new(
                "Shared AWS file not found",
                format!(
                    "{f:?} (`{path}` in the provider's `aws` block) does not exist or is not \
                     a file."
                ),
            ));
        }
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(120))
            .build(),
    );
    if let Some(r) = &s.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &s.profile {
        loader = loader.profile_name(p);
    }
    if s.shared_config_files.is_some() || s.shared_credentials_files.is_some() {
        let mut files = ProfileFiles::builder();
        match &s.shared_config_files {
            Some(l) => {
                for f in l {
                    files = files.with_file(ProfileFileKind::Config, expand_home(f));
                }
            }
            None => files = files.include_default_config_file(true),
        }
        match &s.shared_credentials_files {
            Some(l) => {
                for f in l {
                    files = files.with_file(ProfileFileKind::Credentials, expand_home(f));
                }
            }
            None => files = files.include_default_credentials_file(true),
        }
        loader = loader.profile_files(files.build());
    }
    let base = loader.load().await;
    let Some(ar) = &s.assume_role else {
        return Ok(base);
    };
    let sts_conf = match &s.endpoints.sts {
        Some(url) => base.to_builder().endpoint_url(url).build(),
        None => base.clone(),
    };
    let mut b = AssumeRoleProvider::builder(ar.role_arn.clone()).configure(&sts_conf);
    if let Some(n) = &ar.session_name {
        b = b.session_name(n);
    }
    if let Some(x) = &ar.external_id {
        b = b.external_id(x);
    }
    if let Some(d) = ar.duration {
        b = b.session_length(d);
    }
    let provider = b.build().await;
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

const CHAIN: &str = "Sources tried, in order: environment variables (AWS_ACCESS_KEY_ID, \
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the shared config and credentials files for the \
profile (static keys, SSO, credential_process, role_arn/source_profile); web identity \
(AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, e.g. EKS IRSA); container credentials \
(AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: EKS Pod \
Identity, ECS); EC2 instance metadata (IMDS, skipped when AWS_EC2_METADATA_DISABLED=true).";

/// An error and its sources as one line, `outer: inner: …`, skipping a source whose text the
/// previous message already includes (the SDK often repeats them).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// A credentials failure as a diagnostic: where we looked, what failed, how to fix it.
pub fn credentials_error(
    settings: &AwsSettings,
    e: &CredentialsError,
    env: &dyn Fn(&str) -> Option<String>,
) -> AwsError {
    let (profile, origin) = effective_profile(settings, env);
    let (config_files, _) = effective_files(settings, FileKind::Config, env);
    let (cred_files, _) = effective_files(settings, FileKind::Credentials, env);
    let cause = error_chain(e);
    if let Some(ar) = &settings.assume_role {
        return AwsError::new(
            "Cannot assume the configured IAM role",
            format!(
                "Assuming {} (`aws.assume_role`) failed: {cause}\n\nThe source credentials come \
                 from the default chain with profile {profile:?} ({origin}). Check that they are \
                 valid, that the role's trust policy allows them (and the external id, if \
                 required), and that `duration` does not exceed the role's maximum session.",
                ar.role_arn
            ),
        );
    }
    let summary = match e {
        CredentialsError::CredentialsNotLoaded(_) => "No AWS credentials found",
        CredentialsError::ProviderTimedOut(_) => "Timed out loading AWS credentials",
        CredentialsError::InvalidConfiguration(_) => "Invalid AWS credentials configuration",
        _ => "Cannot load AWS credentials",
    };
    AwsError::new(
        summary,
        format!(
            "{CHAIN}\n\nProfile: {profile:?} (from {origin}); config files: {}; credentials \
             files: {}.\n\nTo fix: export AWS_PROFILE=<profile> (or set `profile` in the \
             provider's `aws` block), run `aws sso login --profile <profile>` if it uses SSO, \
             or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.\n\nCause: {cause}",
            config_files.join(", "),
            cred_files.join(", ")
        ),
    )
}

/// No region anywhere: what was looked at and how to set one.
pub fn no_region_error(settings: &AwsSettings, env: &dyn Fn(&str) -> Option<String>) -> AwsError {
    let (profile, origin) = effective_profile(settings, env);
    AwsError::new(
        "No AWS region",
        format!(
            "No region was found in the data source's `region`, the provider's `aws.region`, \
             AWS_REGION, AWS_DEFAULT_REGION, profile {profile:?} (from {origin}) or instance \
             metadata. Set `region` in the provider's `aws` block or export AWS_REGION."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn explicit_region_beats_environment() {
        let s = AwsSettings {
            region: Some("eu-west-1".into()),
            ..AwsSettings::default()
        };
        let env = env_of(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
        ]);
        assert_eq!(
            explicit_region(None, &s, &env),
            Some(("eu-west-1".into(), Origin::Attribute("aws.region".into())))
        );
        // A data source's own region beats the provider's.
        assert_eq!(
            explicit_region(Some("ap-south-1"), &s, &env).map(|r| r.0),
            Some("ap-south-1".into())
        );
        let none = AwsSettings::default();
        assert_eq!(
            explicit_region(None, &none, &env),
            Some(("us-east-1".into(), Origin::Env("AWS_REGION")))
        );
        let env = env_of(&[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-west-2")]);
        assert_eq!(
            explicit_region(None, &none, &env),
            Some(("us-west-2".into(), Origin::Env("AWS_DEFAULT_REGION")))
        );
        assert_eq!(explicit_region(None, &none, &env_of(&[])), None);
    }

    #[test]
    fn explicit_profile_beats_aws_profile() {
        let env = env_of(&[("AWS_PROFILE", "from-env")]);
        let s = AwsSettings {
            profile: Some("explicit".into()),
            ..AwsSettings::default()
        };
        assert_eq!(effective_profile(&s, &env).0, "explicit");
        assert_eq!(
            effective_profile(&AwsSettings::default(), &env),
            ("from-env".into(), Origin::Env("AWS_PROFILE"))
        );
        assert_eq!(
            effective_profile(&AwsSettings::default(), &env_of(&[])),
            ("default".into(), Origin::Default)
        );
    }

    #[test]
    fn explicit_files_replace_environment_files() {
        let env = env_of(&[("AWS_CONFIG_FILE", "/env/config")]);
        let s = AwsSettings {
            shared_config_files: Some(vec!["/a".into(), "/b".into()]),
            ..AwsSettings::default()
        };
        assert_eq!(
            effective_files(&s, FileKind::Config, &env).0,
            vec!["/a", "/b"]
        );
        assert_eq!(
            effective_files(&AwsSettings::default(), FileKind::Config, &env),
            (
                vec!["/env/config".to_string()],
                Origin::Env("AWS_CONFIG_FILE")
            )
        );
        assert_eq!(
            effective_files(&s, FileKind::Credentials, &env).0,
            vec!["~/.aws/credentials"]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("3600s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        for bad in ["", "1", "h", "1.5h", "1d", "14m", "13h", "-1h", "1h 2m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn unknown_setting_fails_only_when_aws_is_used() {
        let s = AwsSettings {
            unknown: vec!["aws[0].region".to_string()],
            ..AwsSettings::default()
        };
        let aws = Aws::new(s);
        let err = aws.sdk_config().await.err().map(|e| e.detail);
        assert!(err.unwrap_or_default().contains("`aws[0].region`"));
    }

    #[tokio::test]
    async fn missing_shared_file_names_its_attribute() {
        let s = AwsSettings {
            shared_credentials_files: Some(vec!["/nonexistent/rdsiam/credentials".into()]),
            ..AwsSettings::default()
        };
        let err = Aws::new(s).sdk_config().await.err().map(|e| e.detail);
        assert!(
            err.unwrap_or_default()
                .contains("`aws[0].shared_credentials_files[0]`")
        );
    }

    /// Explicit profile and files are what aws-config reads: region and static keys come from
    /// the named profile in our temp files, not from `default`. (The process environment can
    /// still add AWS_* values, so only assert what explicit settings decide.)
    #[tokio::test]
    async fn explicit_profile_and_files_drive_the_sdk() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let config = dir.path().join("config");
        let creds = dir.path().join("credentials");
        let written = std::fs::write(
            &config,
            "[default]\nregion = us-west-2\n[profile team]\nregion = eu-central-1\n",
        )
        .and_then(|_| {
            std::fs::write(
                &creds,
                "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\
                 [team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = s2\n",
            )
        });
        assert!(written.is_ok());
        let s = AwsSettings {
            profile: Some("team".into()),
            shared_config_files: Some(vec![config.to_string_lossy().into_owned()]),
            shared_credentials_files: Some(vec![creds.to_string_lossy().into_owned()]),
            // An explicit region would win over the profile; leave it out to see the profile.
            ..AwsSettings::default()
        };
        let aws = Aws::new(s);
        let env_region = explicit_region(None, aws.settings(), &process_env);
        if env_region.is_none() {
            assert_eq!(aws.region().await.as_deref(), Some("eu-central-1"));
        }
        let has_env_keys = process_env("AWS_ACCESS_KEY_ID").is_some();
        if !has_env_keys {
            let c = aws
                .credentials()
                .await
                .map(|c| c.access_key_id().to_string());
            assert_eq!(c.ok().as_deref(), Some("AKIDTEAM"));
        }
        // An explicit region beats both the profile and AWS_REGION.
        let aws = Aws::new(AwsSettings {
            region: Some("ap-southeast-2".into()),
            ..aws.settings().clone()
        });
        assert_eq!(aws.region().await.as_deref(), Some("ap-southeast-2"));
    }

    #[test]
    fn credential_errors_explain_without_secrets() {
        let s = AwsSettings::default();
        let env = env_of(&[("AWS_PROFILE", "ops"), ("AWS_SECRET_ACCESS_KEY", "SHHH")]);
        let e = CredentialsError::not_loaded("no providers in chain provided credentials");
        let d = credentials_error(&s, &e, &env);
        assert_eq!(d.summary, "No AWS credentials found");
        assert!(
            d.detail.contains("\"ops\" (from AWS_PROFILE)"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("AWS_WEB_IDENTITY_TOKEN_FILE"));
        assert!(d.detail.contains("export AWS_PROFILE"));
        assert!(!d.detail.contains("SHHH"));
    }
}
