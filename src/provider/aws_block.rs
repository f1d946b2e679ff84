//! The provider's `aws { … }` block: its schema and the conversion of its Terraform value into
//! [`AwsSettings`], with the checks that need no network. What the settings mean (precedence,
//! the lazily built SDK configuration) is `aws::credentials`.

use crate::aws::arn;
use crate::aws::credentials::{AssumeRole, AwsSettings, parse_duration};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostics, NestedBlock, Nesting, Type, Value,
};

/// The `aws` block of the provider schema.
pub fn aws_block() -> NestedBlock {
    let assume_role = Block::new(
        "Assume this IAM role (`sts:AssumeRole`) with the credentials found as described above; \
         the temporary credentials are refreshed automatically.",
    )
    .attr(
        Attribute::string("role_arn").required().description(
            "ARN of the role to assume, e.g. `arn:aws:iam::123456789012:role/db-admin`.",
        ),
    )
    .attr(Attribute::string("session_name").optional().description(
        "Role session name (2–64 of `A-Z a-z 0-9 + = , . @ _ -`), visible in CloudTrail. \
         Default: chosen by the AWS SDK (`aws-sdk-rust-<timestamp>`).",
    ))
    .attr(Attribute::string("external_id").optional().description(
        "External id required by the role's trust policy, if any (2–1224 characters).",
    ))
    .attr(Attribute::string("duration").optional().description(
        "Session length as a Go-style duration string: whole numbers with `h`, `m` or `s`, \
         e.g. `\"1h\"`, `\"15m\"`, `\"1h30m\"`, `\"3600s\"`. Between 15m and 12h (the role's \
         `MaxSessionDuration` also applies). Default: 1h.",
    ));
    let endpoints = Block::new(
        "Custom service endpoints, e.g. for VPC endpoints or a local emulator. Each beats \
         `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL` and the profile's `endpoint_url`.",
    )
    .attr(Attribute::string("rds").optional().description(
        "RDS API endpoint URL (`http://` or `https://`), used by the lookup data sources.",
    ))
    .attr(
        Attribute::string("sts")
            .optional()
            .description("STS endpoint URL (`http://` or `https://`), used for `assume_role`."),
    )
    .attr(Attribute::string("secretsmanager").optional().description(
        "Secrets Manager endpoint URL (`http://` or `https://`), used for \
         `postgres.password_secret` (`AWS_ENDPOINT_URL_SECRETS_MANAGER`).",
    ));
    let block = Block::new(
        "AWS settings, all optional. Nothing here is used — and no credentials are looked \
         up — until something needs AWS: the RDS lookups, IAM auth tokens, or a PostgreSQL \
         connection with `postgres.iam_auth` or `postgres.password_secret`; \
         `rdsiam_policy_document` never does.\n\n\
         Without settings the AWS SDK's default chain applies: environment variables \
         (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the shared profile \
         (static keys, SSO, `credential_process`, `role_arn`/`source_profile`), web identity \
         (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, e.g. EKS IRSA), container credentials \
         (EKS Pod Identity, ECS) and EC2 instance metadata. An explicit setting here always beats \
         the corresponding environment variable.",
    )
    .attr(Attribute::string("region").optional().description(
        "Default AWS region, e.g. `eu-west-1`. Order: a data source's own `region`, then this, \
         then `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, instance metadata.",
    ))
    .attr(
        Attribute::string("profile")
            .optional()
            .description("Shared config profile. Order: this, then `AWS_PROFILE`, then `default`."),
    )
    .attr(
        Attribute::list_of("shared_config_files", Type::String)
            .optional()
            .description(
                "Shared config files to read instead of `AWS_CONFIG_FILE` / `~/.aws/config`. \
                 Each must exist; `~/` is expanded.",
            ),
    )
    .attr(
        Attribute::list_of("shared_credentials_files", Type::String)
            .optional()
            .description(
                "Shared credentials files to read instead of `AWS_SHARED_CREDENTIALS_FILE` / \
                 `~/.aws/credentials`. Each must exist; `~/` is expanded.",
            ),
    )
    .block(NestedBlock::new("assume_role", Nesting::List, assume_role).max_items(1))
    .block(NestedBlock::new("endpoints", Nesting::List, endpoints).max_items(1));
    NestedBlock::new("aws", Nesting::List, block).max_items(1)
}

/// Parses `aws` from the provider configuration object. Errors carry paths such as
/// `aws[0].assume_role[0].role_arn`; unknown values are recorded in
/// [`AwsSettings::unknown`] rather than rejected.
pub fn parse_settings(config: &Value) -> (AwsSettings, Diagnostics) {
    let mut p = Parser {
        settings: AwsSettings::default(),
        diags: Diagnostics::new(),
    };
    let aws_path = AttributePath::root("aws");
    let Some(aws) = p.single_block(config.get("aws"), &aws_path) else {
        return (p.settings, p.diags);
    };
    let aws_path = aws_path.index(0);
    p.settings.region = p.text(aws, &aws_path, "region", arn::validate_region);
    p.settings.profile = p.text(aws, &aws_path, "profile", |s| {
        if s.trim() != s || s.is_empty() {
            Err("a profile name must be non-empty, without leading or trailing spaces".into())
        } else {
            Ok(())
        }
    });
    p.settings.shared_config_files = p.files(aws, &aws_path, "shared_config_files");
    p.settings.shared_credentials_files = p.files(aws, &aws_path, "shared_credentials_files");

    let ar_path = aws_path.clone().attr("assume_role");
    if let Some(ar) = p.single_block(aws.get("assume_role"), &ar_path) {
        let ar_path = ar_path.index(0);
        let role_arn = p.text(ar, &ar_path, "role_arn", validate_role_arn);
        let session_name = p.text(ar, &ar_path, "session_name", validate_session_name);
        let external_id = p.text(ar, &ar_path, "external_id", validate_external_id);
        let duration = p
            .text(ar, &ar_path, "duration", |s| parse_duration(s).map(|_| ()))
            .and_then(|s| parse_duration(&s).ok());
        // role_arn is required: absent only when unknown or invalid, both already reported.
        if let Some(role_arn) = role_arn {
            p.settings.assume_role = Some(AssumeRole {
                role_arn,
                session_name,
                external_id,
                duration,
            });
        }
    }
    let ep_path = aws_path.clone().attr("endpoints");
    if let Some(ep) = p.single_block(aws.get("endpoints"), &ep_path) {
        let ep_path = ep_path.index(0);
        p.settings.endpoints.rds = p.text(ep, &ep_path, "rds", validate_endpoint);
        p.settings.endpoints.sts = p.text(ep, &ep_path, "sts", validate_endpoint);
        p.settings.endpoints.secretsmanager =
            p.text(ep, &ep_path, "secretsmanager", validate_endpoint);
    }
    (p.settings, p.diags)
}

struct Parser {
    settings: AwsSettings,
    diags: Diagnostics,
}

impl Parser {
    /// The single element of a `max_items = 1` list block, if present and known.
    fn single_block<'a>(&mut self, v: &'a Value, path: &AttributePath) -> Option<&'a Value> {
        if v.is_unknown() {
            self.settings.unknown.push(path.to_string());
            return None;
        }
        let list = v.as_list()?;
        if list.len() > 1 {
            self.diags.error_at(
                path.clone(),
                "Too many blocks",
                format!("At most one `{path}` block is allowed."),
            );
        }
        let first = list.first()?;
        if first.is_unknown() {
            self.settings
                .unknown
                .push(path.clone().index(0).to_string());
            return None;
        }
        Some(first)
    }

    fn text(
        &mut self,
        obj: &Value,
        parent: &AttributePath,
        name: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let v = obj.get(name);
        let path = parent.clone().attr(name);
        if v.is_unknown() {
            self.settings.unknown.push(path.to_string());
            return None;
        }
        let s = v.as_str()?;
        match check(s) {
            Ok(()) => Some(s.to_string()),
            Err(msg) => {
                self.diags.error_at(
                    path,
                    format!("Invalid {name}"),
                    format!("{msg} (got {s:?})."),
                );
                None
            }
        }
    }

    fn files(&mut self, obj: &Value, parent: &AttributePath, name: &str) -> Option<Vec<String>> {
        let v = obj.get(name);
        let path = parent.clone().attr(name);
        if v.is_unknown() {
            self.settings.unknown.push(path.to_string());
            return None;
        }
        let list = v.as_list()?;
        if list.is_empty() {
            self.diags.error_at(
                path,
                format!("Invalid {name}"),
                "List at least one file, or leave the attribute out to use the default.",
            );
            return None;
        }
        let mut out = Vec::new();
        for (i, el) in list.iter().enumerate() {
            if el.is_unknown() {
                self.settings
                    .unknown
                    .push(path.clone().index(i).to_string());
                return None;
            }
            match el.as_str() {
                Some(s) if !s.is_empty() => out.push(s.to_string()),
                _ => self.diags.error_at(
                    path.clone().index(i),
                    format!("Invalid {name}"),
                    "A file path must be a non-empty string.",
                ),
            }
        }
        (out.len() == list.len()).then_some(out)
    }
}

fn validate_role_arn(s: &str) -> Result<(), String> {
    // arn:PARTITION:iam::ACCOUNT:role/NAME
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && arn::validate_account_id(parts[4]).is_ok()
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    if ok {
        Ok(())
    } else {
        Err("expected an IAM role ARN like `arn:aws:iam::123456789012:role/NAME`".into())
    }
}

fn sts_chars(s: &str, extra: &[char]) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) || extra.contains(&c))
}

fn validate_session_name(s: &str) -> Result<(), String> {
    if (2..=64).contains(&s.len()) && sts_chars(s, &[]) {
        Ok(())
    } else {
        Err("a session name is 2 to 64 characters of letters, digits and `+=,.@_-`".into())
    }
}

fn validate_external_id(s: &str) -> Result<(), String> {
    if (2..=1224).contains(&s.len()) && sts_chars(s, &[':', '/']) {
        Ok(())
    } else {
        Err("an external id is 2 to 1224 characters of letters, digits and `+=,.@:/_-`".into())
    }
}

fn validate_endpoint(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err("expected an `http://` or `https://` URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn provider_config(aws: Value) -> Value {
        Value::object([("aws", aws)])
    }

    fn aws_obj(pairs: Vec<(&str, Value)>) -> Value {
        let mut m = vec![
            ("region", Value::Null),
            ("profile", Value::Null),
            ("shared_config_files", Value::Null),
            ("shared_credentials_files", Value::Null),
            ("assume_role", Value::List(vec![])),
            ("endpoints", Value::List(vec![])),
        ];
        for (k, v) in pairs {
            if let Some(slot) = m.iter_mut().find(|(n, _)| *n == k) {
                slot.1 = v;
            }
        }
        Value::List(vec![Value::object(m)])
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter()
            .filter_map(|d| d.attribute.as_ref().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn parses_every_setting() {
        let cfg = provider_config(aws_obj(vec![
            ("region", Value::string("eu-west-1")),
            ("profile", Value::string("dev")),
            (
                "shared_config_files",
                Value::list_of_strings(["/tmp/config"]),
            ),
            (
                "assume_role",
                Value::List(vec![Value::object([
                    (
                        "role_arn",
                        Value::string("arn:aws:iam::123456789012:role/db-admin"),
                    ),
                    ("session_name", Value::string("terraform")),
                    ("external_id", Value::Null),
                    ("duration", Value::string("1h30m")),
                ])]),
            ),
            (
                "endpoints",
                Value::List(vec![Value::object([
                    ("rds", Value::string("http://127.0.0.1:5000")),
                    ("sts", Value::Null),
                ])]),
            ),
        ]));
        let (s, d) = parse_settings(&cfg);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.profile.as_deref(), Some("dev"));
        assert_eq!(s.shared_config_files, Some(vec!["/tmp/config".to_string()]));
        assert_eq!(s.shared_credentials_files, None);
        let ar = s.assume_role.unwrap_or_default();
        assert_eq!(ar.duration, Some(Duration::from_secs(5400)));
        assert_eq!(ar.session_name.as_deref(), Some("terraform"));
        assert_eq!(s.endpoints.rds.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(s.unknown.is_empty());
    }

    #[test]
    fn no_block_means_defaults() {
        let (s, d) = parse_settings(&provider_config(Value::List(vec![])));
        assert!(d.is_empty());
        assert_eq!(s, AwsSettings::default());
        let (s, d) = parse_settings(&Value::Null);
        assert!(d.is_empty());
        assert_eq!(s, AwsSettings::default());
    }

    #[test]
    fn errors_point_at_nested_attributes() {
        let cfg = provider_config(aws_obj(vec![
            ("region", Value::string("moon-1")),
            ("shared_credentials_files", Value::List(vec![])),
            (
                "assume_role",
                Value::List(vec![Value::object([
                    ("role_arn", Value::string("arn:aws:iam::123:user/x")),
                    ("session_name", Value::string("a b")),
                    ("external_id", Value::string("x")),
                    ("duration", Value::string("5m")),
                ])]),
            ),
            (
                "endpoints",
                Value::List(vec![Value::object([
                    ("rds", Value::string("localhost:5000")),
                    ("sts", Value::Null),
                ])]),
            ),
        ]));
        let (_, d) = parse_settings(&cfg);
        assert_eq!(
            paths(&d),
            vec![
                "aws[0].region",
                "aws[0].shared_credentials_files",
                "aws[0].assume_role[0].role_arn",
                "aws[0].assume_role[0].session_name",
                "aws[0].assume_role[0].external_id",
                "aws[0].assume_role[0].duration",
                "aws[0].endpoints[0].rds",
            ]
        );
    }

    #[test]
    fn unknowns_are_recorded_not_rejected() {
        let cfg = provider_config(aws_obj(vec![
            ("region", Value::Unknown),
            ("endpoints", Value::Unknown),
        ]));
        let (s, d) = parse_settings(&cfg);
        assert!(d.is_empty());
        assert_eq!(
            s.unknown
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["aws[0].region", "aws[0].endpoints"]
        );
    }
}
