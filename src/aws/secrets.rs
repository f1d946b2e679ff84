//! The PostgreSQL login held in an AWS Secrets Manager secret (`postgres.password_secret`): the
//! JSON object of an RDS-managed master user secret (`{"username": …, "password": …}`, other
//! keys such as `engine`, `host` or `port` ignored) or a plain string, the password itself.
//!
//! The password is registered with the log redactor as soon as it is parsed, before anything
//! could log it; no error here ever contains it (errors name the secret, never its value).

use std::error::Error as StdError;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::aws::AwsError;
use crate::aws::credentials::{Aws, RDS_MAX_ATTEMPTS, error_chain};
use crate::aws::rds::parse_arn;
use crate::tfplugin::log;

/// What a secret holds for logging in. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbCredentials {
    /// The JSON's `username`; `None` for a plain-string secret.
    pub username: Option<String>,
    pub password: String,
}

impl std::fmt::Debug for DbCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Marks `password` (and the forms it takes escaped in JSON) as secret for every later log line.
fn register(password: &str) {
    log::register_secret(password);
    if let Ok(quoted) = serde_json::to_string(password) {
        let inner = &quoted[1..quoted.len() - 1];
        if inner != password {
            log::register_secret(inner);
        }
    }
}

/// Parses a secret's text: a JSON object with a string `password` (and optionally a string
/// `username`), or else the password as plain text. Errors never quote the text.
pub fn parse(text: &str) -> Result<DbCredentials, String> {
    let json = text
        .trim_start()
        .starts_with('{')
        .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
        .flatten();
    let Some(serde_json::Value::Object(map)) = json else {
        if text.is_empty() {
            return Err("the secret is empty".into());
        }
        register(text);
        return Ok(DbCredentials {
            username: None,
            password: text.to_string(),
        });
    };
    let password = match map.get("password") {
        Some(serde_json::Value::String(p)) if !p.is_empty() => p.clone(),
        Some(serde_json::Value::String(_)) => {
            return Err("the secret's \"password\" is empty".into());
        }
        Some(_) => return Err("the secret's \"password\" is not a string".into()),
        None => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(format!(
                "the secret is a JSON object without a \"password\" key (its keys: {}); \
                 store {{\"username\": …, \"password\": …}} as RDS does, or the password alone \
                 as plain text",
                keys.join(", ")
            ));
        }
    };
    register(&password);
    let username = match map.get("username") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(u)) if !u.is_empty() => Some(u.clone()),
        Some(_) => return Err("the secret's \"username\" is not a non-empty string".into()),
    };
    Ok(DbCredentials { username, password })
}

/// The region of a secret given by ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`).
pub fn arn_region(secret_id: &str) -> Option<&str> {
    parse_arn(secret_id)
        .filter(|a| a.service == "secretsmanager" && !a.region.is_empty())
        .map(|a| a.region)
}

/// Checks the shape of a secret id at plan time: an ARN of a Secrets Manager secret, or a name
/// of 1 to 512 letters, digits and `/_+=.@-` (and `!`, which RDS-managed secrets' names hold:
/// `rds!cluster-…`).
pub fn validate_secret_id(s: &str) -> Result<(), String> {
    if s.starts_with("arn:") {
        return match parse_arn(s) {
            Some(a)
                if a.service == "secretsmanager"
                    && !a.region.is_empty()
                    && a.resource
                        .strip_prefix("secret:")
                        .is_some_and(|n| !n.is_empty()) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "{s:?} is not a Secrets Manager secret ARN like \
                 arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"
            )),
        };
    }
    let ok = (1..=512).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a secret name or ARN: a name is 1 to 512 letters, digits and /_+=.@-!"
        ))
    }
}

/// Reads the current version (`AWSCURRENT`) of `secret_id` and parses it.
pub async fn read_db_credentials(aws: &Aws, secret_id: &str) -> Result<DbCredentials, AwsError> {
    let client = aws.secretsmanager_in(arn_region(secret_id)).await?;
    let region = client
        .config()
        .region()
        .map_or_else(|| "(unknown)".to_string(), ToString::to_string);
    log::debug(
        "Reading Secrets Manager secret",
        &[
            ("secret_id", secret_id.into()),
            ("region", region.as_str().into()),
        ],
    );
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| sdk_error(secret_id, &region, &e))?;
    let text = match (out.secret_string(), out.secret_binary()) {
        (Some(s), _) => s.to_string(),
        (None, Some(b)) => String::from_utf8(b.as_ref().to_vec()).map_err(|_| {
            unusable(
                secret_id,
                "it holds binary data that is not UTF-8 text".into(),
            )
        })?,
        (None, None) => return Err(unusable(secret_id, "it holds no value".into())),
    };
    let creds = parse(&text).map_err(|why| unusable(secret_id, why))?;
    log::debug(
        "Secrets Manager secret read",
        &[
            ("secret_id", secret_id.into()),
            ("version_id", out.version_id().unwrap_or_default().into()),
            ("has_username", creds.username.is_some().into()),
        ],
    );
    Ok(creds)
}

fn unusable(secret_id: &str, why: String) -> AwsError {
    AwsError::new(
        "Unusable PostgreSQL secret",
        format!(
            "Secrets Manager secret {secret_id:?} cannot be used as the PostgreSQL login: {why}."
        ),
    )
}

/// An SDK error as a diagnostic that names the secret and what to do.
fn sdk_error<E, R>(secret_id: &str, region: &str, err: &SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    const OP: &str = "secretsmanager:GetSecretValue";
    let cause = error_chain(err);
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let message = e.message().unwrap_or("");
            let (summary, advice) = match code {
                "ResourceNotFoundException" => {
                    return AwsError::not_found(
                        "Secret not found",
                        format!(
                            "No Secrets Manager secret {secret_id:?} exists in region {region} \
                             of this account ({code}: {message}). Check `password_secret`, the \
                             region (a secret ARN names its own; else the provider's `aws` \
                             block or AWS_REGION) and the account of the credentials in use."
                        ),
                    );
                }
                "AccessDeniedException" | "AccessDenied" => (
                    "Access denied to the secret",
                    format!(
                        "Grant `{OP}` on the secret to the identity in use (and `kms:Decrypt` \
                         on its key, if it is a customer managed key)."
                    ),
                ),
                "DecryptionFailure" => (
                    "Cannot decrypt the secret",
                    "Grant `kms:Decrypt` on the secret's KMS key to the identity in use."
                        .to_string(),
                ),
                "InvalidRequestException" => (
                    "Secret not readable",
                    "The secret may be scheduled for deletion or disabled.".to_string(),
                ),
                _ => super::caller_trouble(code, RDS_MAX_ATTEMPTS)
                    .unwrap_or(("Secrets Manager request failed", String::new())),
            };
            AwsError::new(
                summary,
                format!("{OP} for secret {secret_id:?} failed with {code}: {message}\n\n{advice}")
                    .trim_end()
                    .to_string(),
            )
        }
        SdkError::DispatchFailure(_) => AwsError::new(
            "Cannot reach Secrets Manager",
            format!(
                "{OP} for secret {secret_id:?} could not be sent: {cause}. Check network access \
                 to the Secrets Manager endpoint (or `endpoints.secretsmanager` in the \
                 provider's `aws` block)."
            ),
        ),
        SdkError::TimeoutError(_) => AwsError::new(
            "Secrets Manager request timed out",
            format!("{OP} for secret {secret_id:?} timed out: {cause}."),
        ),
        _ => AwsError::new(
            "Secrets Manager request failed",
            format!("{OP} for secret {secret_id:?} failed: {cause}."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_managed_json_and_plain_text() {
        let rds = r#"{"username":"postgres","password":"p{w\"x","engine":"postgres","host":"db.example","port":5432,"dbClusterIdentifier":"c"}"#;
        assert_eq!(
            parse(rds),
            Ok(DbCredentials {
                username: Some("postgres".into()),
                password: "p{w\"x".into()
            })
        );
        // The JSON-escaped form is masked too.
        assert_eq!(log::redact(r#"p{w\"x"#), log::REDACTED);
        let only_pw = parse(r#"{"password":"just-this"}"#);
        assert_eq!(only_pw.map(|c| c.username), Ok(None));
        for plain in [
            "plain-pw",
            "{not json",
            "  {\"a\": 1",
            "[1,2]",
            "\"quoted\"",
        ] {
            assert_eq!(
                parse(plain).map(|c| c.password),
                Ok(plain.to_string()),
                "{plain}"
            );
        }
    }

    #[test]
    fn unusable_secrets_say_why_without_the_value() {
        for (text, why) in [
            ("", "empty"),
            (r#"{"user":"a","pass":"hunter2-value"}"#, "keys: user, pass"),
            (r#"{"password":""}"#, "empty"),
            (r#"{"password":42}"#, "not a string"),
            (r#"{"password":"hunter2-value","username":7}"#, "username"),
        ] {
            let e = parse(text).err().unwrap_or_default();
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let c = parse(r#"{"username":"u","password":"hunter2-value"}"#);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn secret_ids() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1a2b-AbCdEf";
        assert!(validate_secret_id(arn).is_ok());
        assert_eq!(arn_region(arn), Some("eu-west-1"));
        assert_eq!(arn_region("prod/db-admin"), None);
        for ok in ["prod/db-admin", "a", "x_y+z=w.v@u-t", "rds!db-0a1b2c3d"] {
            assert!(validate_secret_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "arn:aws:rds:eu-west-1:123456789012:db:x",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:",
            "arn:aws:secretsmanager::123456789012:secret:x",
        ] {
            assert!(validate_secret_id(bad).is_err(), "{bad}");
        }
        assert!(validate_secret_id(&"a".repeat(513)).is_err());
    }
}
