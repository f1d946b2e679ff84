//! `rds-db:connect` resource ARNs and the IAM policy documents that grant them.
//!
//! Everything here is pure and deterministic: the same input always yields byte-identical
//! output, so Terraform plans never show spurious diffs. Every input comes from a Terraform
//! user, so nothing here panics on bad input; validators return human-readable messages
//! instead.
//!
//! ARN shape: `arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE-ID/DBUSER`.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

/// The `db_users` element meaning "every database user" of the resource.
pub const ALL_DB_USERS: &str = "*";

/// PostgreSQL truncates identifiers to NAMEDATALEN-1 bytes, so a longer name could never
/// match the role the client actually logs in as.
pub const MAX_DB_USER_BYTES: usize = 63;

/// Policy language version; `2012-10-17` is the only one that supports policy variables,
/// which the `${*}` escapes rely on.
pub const POLICY_VERSION: &str = "2012-10-17";

/// The only IAM action that RDS IAM authentication checks.
pub const CONNECT_ACTION: &str = "rds-db:connect";

/// Resource id prefixes: Aurora cluster (DbClusterResourceId), DB instance (DbiResourceId),
/// RDS Proxy.
const RESOURCE_ID_PREFIXES: [&str; 3] = ["cluster-", "db-", "prx-"];

/// Region prefix → partition. Every prefix ends in `-`, so `us-iso-` cannot match
/// `us-isob-…`; the more specific entries still come first so the table stays correct if
/// someone drops a trailing dash.
const PARTITIONS: [(&str, &str); 7] = [
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("us-gov-", "aws-us-gov"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
    ("cn-", "aws-cn"),
];

/// The ARN partition of `region`; anything unrecognised is the commercial `aws` partition
/// (new commercial regions appear regularly and must not need a provider release).
pub fn partition_for_region(region: &str) -> &'static str {
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |&(_, partition)| partition)
}

/// Checks the shape of an AWS region name: `xx(-word)+-N`, e.g. `eu-west-1`,
/// `us-gov-west-1`, `eusc-de-east-1`.
///
/// Only the shape is checked, not a list of known regions, so new regions work without a
/// provider release while typos such as `eu-west1` or `moon-1` are still caught at plan time.
pub fn validate_region(s: &str) -> Result<(), String> {
    if is_region_shaped(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an AWS region name (expected something like eu-west-1)"
        ))
    }
}

/// Hand-written equivalent of `^[a-z]{2,4}(-[a-z]+)+-[0-9]+$` (the first segment allows up
/// to four letters for `eusc-`).
fn is_region_shaped(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    (2..=4).contains(&first.len())
        && lower(first)
        && !middle.is_empty()
        && middle.iter().all(|p| lower(p))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// Checks that `s` is a 12-digit AWS account id (leading zeros are significant, which is
/// why account ids must be strings, not numbers).
pub fn validate_account_id(s: &str) -> Result<(), String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an AWS account id (expected exactly 12 digits, e.g. 123456789012)"
        ))
    }
}

/// Checks that `s` is an RDS resource id: `cluster-`, `db-` or `prx-` followed by one or
/// more ASCII letters or digits.
///
/// IAM matches `rds-db:connect` against the immutable resource id, not the cluster or
/// instance name, and people mix the two up constantly; a name would silently produce a
/// policy that grants nothing, so it is rejected with a pointer to the right attribute.
/// A bare `*` (all resources in the account) is deliberately not accepted: it is far wider
/// than anyone managing one database means to grant.
pub fn validate_resource_id(s: &str) -> Result<(), String> {
    const HINT: &str = "use the cluster's cluster_resource_id / DbClusterResourceId \
        (e.g. cluster-ABCDEFGHIJKL0123456789ABCD), the instance's resource_id / \
        DbiResourceId (db-…), or the RDS Proxy id (prx-…)";
    let Some(rest) = RESOURCE_ID_PREFIXES
        .iter()
        .find_map(|prefix| s.strip_prefix(prefix))
    else {
        return Err(format!(
            "{s:?} is not an RDS resource id; this looks like a cluster or instance \
             identifier, but IAM needs the resource id: {HINT}"
        ));
    };
    if rest.is_empty() {
        return Err(format!(
            "{s:?} is not an RDS resource id: nothing follows the prefix; {HINT}"
        ));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{s:?} is not an RDS resource id: only letters and digits may follow the \
             prefix (a name such as cluster-my-db is an identifier, not a resource id); {HINT}"
        ));
    }
    Ok(())
}

/// Checks a PostgreSQL role name as used after `dbuser:RESOURCE-ID/`.
///
/// Any character except NUL is allowed because quoted PostgreSQL identifiers can contain
/// anything (e.g. `mario.rossi@example.com`). The name is matched case-sensitively and is
/// not case-folded here: the role `Mixed.Case` (created quoted) is a different IAM resource
/// from `mixed.case`. `*` alone is valid and means every user.
pub fn validate_db_user(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("database user name must not be empty".to_owned());
    }
    if s.len() > MAX_DB_USER_BYTES {
        return Err(format!(
            "database user name {s:?} is {} bytes long; PostgreSQL role names are at most \
             {MAX_DB_USER_BYTES} bytes",
            s.len()
        ));
    }
    if s.contains('\0') {
        return Err(format!(
            "database user name {s:?} contains a NUL character, which PostgreSQL does not allow"
        ));
    }
    Ok(())
}

/// Checks a policy statement id: IAM accepts only ASCII letters and digits in `Sid` and
/// otherwise rejects the whole policy at apply time, so catch it at plan time.
pub fn validate_sid(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("sid must not be empty (omit it instead)".to_owned());
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "sid {s:?} may contain only ASCII letters and digits (A-Z, a-z, 0-9)"
        ));
    }
    Ok(())
}

/// Escapes IAM wildcard and policy-variable characters so `s` matches literally inside a
/// resource ARN: `*` → `${*}`, `?` → `${?}`, `$` → `${$}`.
///
/// Without this, a role named `a*` would grant access to every role starting with `a`.
/// The mapping is injective, so distinct names stay distinct after escaping.
pub fn escape_iam_resource_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' | '?' | '$' => {
                out.push_str("${");
                out.push(c);
                out.push('}');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Statement effect. Parsing is exact-case because IAM itself is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

impl Effect {
    /// The spelling IAM expects in `Effect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Allow" => Ok(Effect::Allow),
            "Deny" => Ok(Effect::Deny),
            _ => Err(format!(
                "effect {s:?} is not valid; expected \"Allow\" or \"Deny\" (exact case)"
            )),
        }
    }
}

/// The `rds-db:connect` ARN for one database user.
///
/// Assumes validated inputs (use [`checked_dbuser_arn`] otherwise). `*` alone means every
/// user; any other name is escaped with [`escape_iam_resource_part`] so it matches literally.
pub fn dbuser_arn(region: &str, account_id: &str, resource_id: &str, db_user: &str) -> String {
    let user = if db_user == ALL_DB_USERS {
        ALL_DB_USERS.to_owned()
    } else {
        escape_iam_resource_part(db_user)
    };
    format!(
        "arn:{}:rds-db:{region}:{account_id}:dbuser:{resource_id}/{user}",
        partition_for_region(region)
    )
}

/// Which input was bad, for attribute paths in diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Region,
    AccountId,
    ResourceId,
    /// Index into `db_users` (0 for the single user of [`checked_dbuser_arn`]).
    DbUser(usize),
    /// The `db_users` list as a whole (e.g. empty).
    DbUsers,
    Sid,
    Effect,
}

/// A validation failure tied to the input it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnError {
    pub field: Field,
    pub message: String,
}

impl ArnError {
    fn new(field: Field, message: String) -> Self {
        ArnError { field, message }
    }
}

impl fmt::Display for ArnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ArnError {}

/// Validates the parts shared by single ARNs and policies, collecting every failure.
fn validate_target(region: &str, account_id: &str, resource_id: &str, errors: &mut Vec<ArnError>) {
    let checks: [(Field, Result<(), String>); 3] = [
        (Field::Region, validate_region(region)),
        (Field::AccountId, validate_account_id(account_id)),
        (Field::ResourceId, validate_resource_id(resource_id)),
    ];
    for (field, result) in checks {
        if let Err(message) = result {
            errors.push(ArnError::new(field, message));
        }
    }
}

/// [`dbuser_arn`] after validating every input; reports the first problem found (region,
/// account id, resource id, then user). User errors carry `Field::DbUser(0)`.
pub fn checked_dbuser_arn(
    region: &str,
    account_id: &str,
    resource_id: &str,
    db_user: &str,
) -> Result<String, ArnError> {
    let mut errors = Vec::new();
    validate_target(region, account_id, resource_id, &mut errors);
    if let Err(message) = validate_db_user(db_user) {
        errors.push(ArnError::new(Field::DbUser(0), message));
    }
    match errors.into_iter().next() {
        Some(err) => Err(err),
        None => Ok(dbuser_arn(region, account_id, resource_id, db_user)),
    }
}

/// Everything needed to build a `rds-db:connect` policy for one RDS resource.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    pub resource_id: &'a str,
    pub db_users: &'a [String],
    /// Optional statement id; letters and digits only.
    pub sid: Option<&'a str>,
    pub effect: Effect,
}

/// A generated policy: the resource ARNs (input order, de-duplicated) and the policy
/// document as JSON for `aws_iam_policy.policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub arns: Vec<String>,
    pub json: String,
}

/// Builds a single-statement `rds-db:connect` policy document.
///
/// All problems are collected (each tagged with its field) so the user sees them in one
/// plan. `Resource` is always a list, in input order with duplicates dropped (first one
/// wins), and the JSON has a fixed key order, 2-space indentation and no trailing newline,
/// so the output is stable across runs. `*` next to explicit names is allowed: it is
/// redundant but harmless, and rejecting it would make toggling between the two forms
/// needlessly fiddly.
pub fn policy_document(input: &PolicyInput) -> Result<Policy, Vec<ArnError>> {
    let mut errors = Vec::new();
    validate_target(
        input.region,
        input.account_id,
        input.resource_id,
        &mut errors,
    );
    if let Some(sid) = input.sid
        && let Err(message) = validate_sid(sid)
    {
        errors.push(ArnError::new(Field::Sid, message));
    }
    if input.db_users.is_empty() {
        errors.push(ArnError::new(
            Field::DbUsers,
            "at least one database user name is required".to_owned(),
        ));
    }
    for (i, user) in input.db_users.iter().enumerate() {
        if let Err(message) = validate_db_user(user) {
            errors.push(ArnError::new(Field::DbUser(i), message));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Escaping is injective, so de-duplicating ARNs is the same as de-duplicating names.
    let mut arns: Vec<String> = Vec::with_capacity(input.db_users.len());
    for user in input.db_users {
        let arn = dbuser_arn(input.region, input.account_id, input.resource_id, user);
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }

    let mut statement = Map::new();
    if let Some(sid) = input.sid {
        statement.insert("Sid".to_owned(), Value::from(sid));
    }
    statement.insert("Effect".to_owned(), Value::from(input.effect.as_str()));
    statement.insert("Action".to_owned(), Value::from(CONNECT_ACTION));
    statement.insert(
        "Resource".to_owned(),
        Value::Array(arns.iter().map(|a| Value::from(a.as_str())).collect()),
    );
    let mut document = Map::new();
    document.insert("Version".to_owned(), Value::from(POLICY_VERSION));
    document.insert(
        "Statement".to_owned(),
        Value::Array(vec![Value::Object(statement)]),
    );
    // `{:#}` is serde_json's infallible pretty printer (2-space indent, no trailing newline);
    // key order is insertion order thanks to the `preserve_order` feature.
    let json = format!("{:#}", Value::Object(document));
    Ok(Policy { arns, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: &str = "eu-west-1";
    const ACCOUNT: &str = "123456789012";
    const CLUSTER: &str = "cluster-ABC123";

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn input<'a>(db_users: &'a [String]) -> PolicyInput<'a> {
        PolicyInput {
            region: REGION,
            account_id: ACCOUNT,
            resource_id: CLUSTER,
            db_users,
            sid: None,
            effect: Effect::Allow,
        }
    }

    #[test]
    fn arn_for_email_like_user() {
        assert_eq!(
            checked_dbuser_arn(REGION, ACCOUNT, CLUSTER, "mario.rossi@example.com"),
            Ok("arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/mario.rossi@example.com".to_owned())
        );
    }

    #[test]
    fn arn_uses_region_partition() {
        assert_eq!(
            dbuser_arn("cn-north-1", ACCOUNT, "db-ABC", "app"),
            "arn:aws-cn:rds-db:cn-north-1:123456789012:dbuser:db-ABC/app"
        );
        assert_eq!(
            dbuser_arn("us-gov-west-1", ACCOUNT, "prx-0abc", "app"),
            "arn:aws-us-gov:rds-db:us-gov-west-1:123456789012:dbuser:prx-0abc/app"
        );
    }

    #[test]
    fn partitions() {
        let cases = [
            ("us-east-1", "aws"),
            ("eu-west-1", "aws"),
            ("ap-southeast-5", "aws"),
            ("mx-central-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("eusc-de-east-1", "aws-eusc"),
        ];
        for (region, partition) in cases {
            assert_eq!(partition_for_region(region), partition, "{region}");
            assert_eq!(validate_region(region), Ok(()), "{region}");
        }
    }

    #[test]
    fn bad_regions() {
        for region in [
            "moon-1",
            "",
            "eu-west",
            "eu-west1",
            "EU-WEST-1",
            "e-west-1",
            "europe-west-1",
            "eu--1",
            "eu-west-1-",
            "-eu-west-1",
            "eu-west-1a",
            "eu-wést-1",
        ] {
            assert!(validate_region(region).is_err(), "{region:?} accepted");
        }
        assert_eq!(
            validate_region("moon-1"),
            Err("\"moon-1\" is not an AWS region name (expected something like eu-west-1)".into())
        );
    }

    #[test]
    fn account_ids() {
        assert_eq!(validate_account_id("012345678901"), Ok(()));
        for bad in [
            "12345",
            "",
            "1234567890123",
            "12345678901a",
            "１２３４５６７８９０１２",
        ] {
            let err = validate_account_id(bad).unwrap_err();
            assert!(err.contains("12 digits"), "{err}");
        }
    }

    #[test]
    fn resource_ids() {
        for ok in [
            "cluster-ABCDEFGHIJKL0123456789ABCD",
            "cluster-abc",
            "db-ABCDEFGHIJKLMNOPQRSTUVWXY",
            "prx-0123456789abcdef",
        ] {
            assert_eq!(validate_resource_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "foo",
            "cluster-",
            "db-",
            "prx-",
            "*",
            "",
            "cluster-AB_C",
            "Cluster-ABC",
        ] {
            assert!(validate_resource_id(bad).is_err(), "{bad:?} accepted");
        }
        let err = validate_resource_id("my-cluster").unwrap_err();
        assert!(err.contains("cluster_resource_id"), "{err}");
        assert!(err.contains("DbClusterResourceId"), "{err}");
        let err = validate_resource_id("cluster-my-db").unwrap_err();
        assert!(err.contains("cluster_resource_id"), "{err}");
    }

    #[test]
    fn db_users() {
        for ok in [
            "*",
            "app",
            "mario.rossi@example.com",
            "a\"b",
            "Mixed.Case",
            "with space",
            "a/b",
            "ünïcødé",
            &"x".repeat(63),
        ] {
            assert_eq!(validate_db_user(ok), Ok(()), "{ok:?}");
        }
        assert!(validate_db_user("").is_err());
        assert!(
            validate_db_user(&"x".repeat(64))
                .unwrap_err()
                .contains("63")
        );
        // 32 two-byte chars = 64 bytes: the limit is bytes, not characters.
        assert!(validate_db_user(&"é".repeat(32)).is_err());
        assert!(validate_db_user("a\0b").is_err());
    }

    #[test]
    fn sids() {
        assert_eq!(validate_sid("AllowConnect1"), Ok(()));
        for bad in ["allow-connect", "", "a b", "a_b", "é"] {
            assert!(validate_sid(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn effects() {
        assert_eq!("Allow".parse::<Effect>(), Ok(Effect::Allow));
        assert_eq!("Deny".parse::<Effect>(), Ok(Effect::Deny));
        assert!("allow".parse::<Effect>().is_err());
        assert!("".parse::<Effect>().is_err());
        assert_eq!(Effect::default(), Effect::Allow);
        assert_eq!(Effect::Deny.to_string(), "Deny");
    }

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(escape_iam_resource_part("a*b?c$d"), "a${*}b${?}c${$}d");
        assert_eq!(
            escape_iam_resource_part("${aws:username}"),
            "${$}{aws:username}"
        );
        assert_eq!(
            dbuser_arn(REGION, ACCOUNT, CLUSTER, "a*b?c$d"),
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/a${*}b${?}c${$}d"
        );
        // Only the lone `*` is a wildcard.
        assert_eq!(
            dbuser_arn(REGION, ACCOUNT, CLUSTER, "*"),
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/*"
        );
        assert_eq!(
            dbuser_arn(REGION, ACCOUNT, CLUSTER, "**"),
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/${*}${*}"
        );
    }

    #[test]
    fn checked_arn_reports_field() {
        let err = checked_dbuser_arn(REGION, "12345", CLUSTER, "app").unwrap_err();
        assert_eq!(err.field, Field::AccountId);
        let err = checked_dbuser_arn(REGION, ACCOUNT, CLUSTER, "").unwrap_err();
        assert_eq!(err.field, Field::DbUser(0));
        let err = checked_dbuser_arn("moon-1", ACCOUNT, "foo", "").unwrap_err();
        assert_eq!(err.field, Field::Region);
    }

    #[test]
    fn policy_json_exact() {
        let u = users(&["app_user", "mario.rossi@example.com"]);
        let policy = policy_document(&PolicyInput {
            sid: Some("RdsConnect"),
            ..input(&u)
        })
        .unwrap();
        let expected = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "RdsConnect",
      "Effect": "Allow",
      "Action": "rds-db:connect",
      "Resource": [
        "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/app_user",
        "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/mario.rossi@example.com"
      ]
    }
  ]
}"#;
        assert_eq!(policy.json, expected);
        assert_eq!(
            policy.arns,
            vec![
                "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/app_user",
                "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/mario.rossi@example.com",
            ]
        );
    }

    #[test]
    fn policy_json_without_sid_single_resource_still_a_list() {
        let u = users(&["a\"b"]);
        let policy = policy_document(&PolicyInput {
            effect: Effect::Deny,
            ..input(&u)
        })
        .unwrap();
        let expected = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Deny",
      "Action": "rds-db:connect",
      "Resource": [
        "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/a\"b"
      ]
    }
  ]
}"#;
        assert_eq!(policy.json, expected);
        let parsed: Value = serde_json::from_str(&policy.json).unwrap();
        assert_eq!(
            parsed["Statement"][0]["Resource"][0],
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABC123/a\"b"
        );
    }

    #[test]
    fn policy_dedupes_keeping_first_and_allows_star_mix() {
        let u = users(&["b", "*", "a", "b", "*", "B"]);
        let policy = policy_document(&input(&u)).unwrap();
        let tails: Vec<&str> = policy
            .arns
            .iter()
            .map(|a| a.rsplit_once('/').unwrap().1)
            .collect();
        assert_eq!(tails, ["b", "*", "a", "B"]);
    }

    #[test]
    fn policy_is_deterministic() {
        let u = users(&["x", "y*"]);
        let a = policy_document(&input(&u)).unwrap();
        let b = policy_document(&input(&u)).unwrap();
        assert_eq!(a, b);
        assert!(!a.json.ends_with('\n'));
    }

    #[test]
    fn policy_collects_all_errors() {
        let long = "x".repeat(64);
        let u = users(&["ok", "", &long]);
        let errs = policy_document(&PolicyInput {
            region: "moon-1",
            account_id: "12345",
            resource_id: "my-cluster",
            db_users: &u,
            sid: Some("bad-sid"),
            effect: Effect::Allow,
        })
        .unwrap_err();
        let fields: Vec<Field> = errs.iter().map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            [
                Field::Region,
                Field::AccountId,
                Field::ResourceId,
                Field::Sid,
                Field::DbUser(1),
                Field::DbUser(2),
            ]
        );
    }

    #[test]
    fn policy_requires_users() {
        let errs = policy_document(&input(&[])).unwrap_err();
        assert_eq!(
            errs,
            [ArnError {
                field: Field::DbUsers,
                message: "at least one database user name is required".into(),
            }]
        );
    }
}
