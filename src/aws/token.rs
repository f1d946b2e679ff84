//! RDS IAM database authentication tokens, byte for byte what botocore's
//! `RDS.Client.generate_db_auth_token` produces.
//!
//! A token is a SigV4 *query presign* of `GET https://HOST:PORT/?Action=connect&DBUser=USER`
//! for the service `rds-db`, with the `https://` prefix removed. `aws-sigv4` computes the
//! signature; this module only validates the input and lays the query out in botocore's order
//! (the canonical request sorts the parameters, so the order in the token does not change the
//! signature, but matching botocore exactly makes tokens comparable in tests and logs).
//!
//! We do not use `aws-sdk-rds`'s own generator: it splices the user name into a URL unescaped
//! and `expect`s the result to parse, so some user names panic.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use time::OffsetDateTime;
use time::macros::format_description;

/// The longest lifetime RDS accepts for a token (and what botocore always uses).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(900);

/// The SigV4 service name RDS IAM authentication signs for.
const SERVICE: &str = "rds-db";

/// PostgreSQL's `NAMEDATALEN - 1`: longer role names are truncated by the server, so a token
/// for one could never match the role it is meant for.
const MAX_USERNAME_BYTES: usize = 63;

/// Longest DNS name (RFC 1035); anything longer is not an RDS endpoint.
const MAX_HOSTNAME_BYTES: usize = 253;

/// botocore's `percent_encode`: `urllib.parse.quote(value, safe='-_.~')` of the UTF-8 bytes,
/// i.e. everything but RFC 3986 unreserved characters is escaped (`+`, `/`, `=`, space, …).
const BOTOCORE_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What to sign a token for.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    /// Endpoint host name as the client connects to it (no scheme, port or path). Kept as given
    /// in the token (botocore does not change its case); signed in lower case.
    pub hostname: &'a str,
    pub port: u16,
    /// Database user name, case-sensitive (IAM matching is).
    pub username: &'a str,
    /// Region of the database, e.g. `eu-west-1`.
    pub region: &'a str,
    /// Token lifetime, 1 s ..= [`MAX_EXPIRES_IN`], whole seconds (sub-seconds are dropped).
    pub expires_in: Duration,
}

/// Why a token could not be generated or verified. The message names the bad input but
/// never contains a secret key or session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError(pub String);

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

fn err<T>(msg: impl Into<String>) -> Result<T, TokenError> {
    Err(TokenError(msg.into()))
}

/// Generates an RDS IAM auth token for `req`, signed with `creds` at the instant `now`.
///
/// Identical to botocore's `generate_db_auth_token` for the same input and clock (which always
/// uses 900 s). The result is a password for PostgreSQL, valid until [`expires_at`].
pub fn generate(
    creds: &Credentials,
    req: &TokenRequest,
    now: SystemTime,
) -> Result<String, TokenError> {
    let host_header = validate_hostname(req.hostname, req.port)?;
    validate_username(req.username)?;
    validate_region(req.region)?;
    let expires_in = validate_expires_in(req.expires_in)?;
    validate_now(now)?;
    if creds.access_key_id().is_empty() {
        return err("the AWS access key id is empty");
    }

    let user = utf8_percent_encode(req.username, BOTOCORE_ENCODE).to_string();
    let uri = format!(
        "https://{}:{}/?Action=connect&DBUser={user}",
        req.hostname, req.port
    );

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    let identity = creds.clone().into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(req.region)
        .name(SERVICE)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| TokenError(format!("cannot build SigV4 signing parameters: {e}")))?;
    let params = params.into();
    // The host header is given explicitly, computed as botocore does (lower case, port
    // omitted when it is https's default 443), so aws-sigv4 never derives it from the URI.
    let signable = SignableRequest::new(
        "GET",
        uri.as_str(),
        std::iter::once(("host", host_header.as_str())),
        SignableBody::empty(),
    )
    .map_err(|e| TokenError(format!("cannot sign the RDS auth token request: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| TokenError(format!("cannot sign the RDS auth token request: {e}")))?
        .into_parts();
    let (_headers, signed) = instructions.into_parts();
    let value = |name: &str| -> Result<&str, TokenError> {
        signed
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
            .ok_or_else(|| TokenError(format!("aws-sigv4 did not return the {name} parameter")))
    };

    // botocore's order (SigV4QueryAuth._modify_request_before_signing, then
    // _inject_signature_to_request): operation parameters, the auth parameters in insertion
    // order with X-Amz-Security-Token last among them, then X-Amz-Signature appended.
    let mut token = format!(
        "{}:{}/?Action=connect&DBUser={user}",
        req.hostname, req.port
    );
    let mut push = |name: &str, value: &str| {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.extend(utf8_percent_encode(value, BOTOCORE_ENCODE));
    };
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
    ] {
        push(name, value(name)?);
    }
    if creds.session_token().is_some() {
        push("X-Amz-Security-Token", value("X-Amz-Security-Token")?);
    }
    push("X-Amz-Signature", value("X-Amz-Signature")?);
    // Who and where, never the token itself.
    crate::tfplugin::log::debug(
        "IAM auth token minted",
        &[
            ("db_user", req.username.into()),
            ("host", req.hostname.into()),
            ("port", req.port.into()),
            ("region", req.region.into()),
            ("expires_at", expires_at(now, expires_in).into()),
        ],
    );
    Ok(token)
}

/// When a token signed at `now` stops being accepted, as RFC 3339 UTC with whole seconds
/// (e.g. `2026-11-22T18:45:00Z`). The signing time has whole seconds, so `now` is truncated
/// first; the result is the same instant RDS computes from `X-Amz-Date + X-Amz-Expires`.
/// Instants outside years 1970..=9999 (which [`generate`] rejects) are clamped into that range.
pub fn expires_at(now: SystemTime, expires_in: Duration) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_add(expires_in.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX).min(MAX_UNIX_SECS);
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

/// 9999-12-31T23:59:59Z: X-Amz-Date has a four-digit year.
const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// Recomputes the signature of `token` with `creds` and `region` and checks it matches.
///
/// A test and diagnostic helper (RDS does the real check): it proves a token was signed with
/// these credentials for the host, port, user, time and lifetime it names. It does not check
/// whether the token has expired.
pub fn verify(token: &str, creds: &Credentials, region: &str) -> Result<(), TokenError> {
    let Some((authority, rest)) = token.split_once('/') else {
        return err("not an RDS auth token: no '/' after HOST:PORT");
    };
    let Some(query) = rest.strip_prefix('?') else {
        return err("not an RDS auth token: expected '/?' after HOST:PORT");
    };
    let Some((hostname, port)) = authority.rsplit_once(':') else {
        return err("not an RDS auth token: no port after the host name");
    };
    let port: u16 = port
        .parse()
        .map_err(|_| TokenError("not an RDS auth token: the port is not a number".into()))?;

    let mut params: Vec<(&str, String)> = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode_str(v)
            .decode_utf8()
            .map_err(|_| TokenError(format!("the {k} parameter is not UTF-8 once decoded")))?;
        params.push((k, v.into_owned()));
    }
    let get = |name: &str| -> Result<&str, TokenError> {
        let mut found = params.iter().filter(|(k, _)| *k == name);
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Ok(v.as_str()),
            (None, _) => err(format!("the token has no {name} parameter")),
            (Some(_), Some(_)) => err(format!("the token has more than one {name} parameter")),
        }
    };
    if get("Action")? != "connect" {
        return err("the token's Action is not `connect`");
    }
    let username = get("DBUser")?;
    let credential = get("X-Amz-Credential")?;
    let mut scope = credential.split('/');
    let (Some(key_id), Some(_date), Some(scope_region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return err("the token's X-Amz-Credential is not KEY/DATE/REGION/SERVICE/aws4_request");
    };
    if key_id != creds.access_key_id() {
        return err("the token was signed with a different access key id");
    }
    if scope_region != region {
        return err(format!(
            "the token was signed for region {scope_region:?}, not {region:?}"
        ));
    }
    if service != SERVICE {
        return err(format!(
            "the token was signed for service {service:?}, not rds-db"
        ));
    }
    let date = get("X-Amz-Date")?;
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed_at = time::PrimitiveDateTime::parse(date, &format)
        .map_err(|_| {
            TokenError(format!(
                "the token's X-Amz-Date {date:?} is not YYYYMMDDTHHMMSSZ"
            ))
        })?
        .assume_utc();
    let signed_at = u64::try_from(signed_at.unix_timestamp())
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .ok_or_else(|| TokenError(format!("the token's X-Amz-Date {date:?} is out of range")))?;
    let expires = get("X-Amz-Expires")?;
    let expires: u64 = expires.parse().map_err(|_| {
        TokenError(format!(
            "the token's X-Amz-Expires {expires:?} is not a number"
        ))
    })?;

    let expected = generate(
        creds,
        &TokenRequest {
            hostname,
            port,
            username,
            region,
            expires_in: Duration::from_secs(expires),
        },
        signed_at,
    )?;
    // Compare everything, not just X-Amz-Signature, so a re-ordered or padded token (which
    // RDS would still parse) is reported too; constant time out of habit.
    let same = expected.len() == token.len()
        && expected
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        err("the token's signature does not match these credentials \
             (wrong secret key or session token, or the token was altered)")
    }
}

/// Checks the host name and returns the `host` header value botocore signs: lower case, with
/// `:PORT` unless it is 443 (https's default, which botocore's `_host_from_url` drops).
pub fn validate_hostname(hostname: &str, port: u16) -> Result<String, TokenError> {
    if hostname.is_empty() {
        return err("hostname is empty");
    }
    if hostname.len() > MAX_HOSTNAME_BYTES {
        return err(format!(
            "hostname is {} bytes long, longer than a DNS name can be ({MAX_HOSTNAME_BYTES})",
            hostname.len()
        ));
    }
    if hostname.contains("://") {
        return err(format!(
            "hostname {hostname:?} must not include a scheme such as https://: give the bare endpoint host name"
        ));
    }
    if hostname.chars().any(char::is_whitespace) {
        return err(format!("hostname {hostname:?} contains whitespace"));
    }
    if hostname.contains(['/', '?', '#']) {
        return err(format!(
            "hostname {hostname:?} must not include a path or query: give the bare endpoint host name"
        ));
    }
    if port == 0 {
        return err("port 0 is not a valid database port");
    }
    let valid = if let Some(inner) = hostname.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // IPv6 literal, as botocore accepts it.
        inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        if hostname.contains(':') {
            return err(format!(
                "hostname {hostname:?} must not include a port: set the port separately"
            ));
        }
        hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    };
    if !valid {
        return err(format!(
            "hostname {hostname:?} is not a DNS name or [IPv6] address (allowed: letters, digits, '-', '.', '_')"
        ));
    }
    let host = hostname.to_ascii_lowercase();
    Ok(if port == 443 {
        host
    } else {
        format!("{host}:{port}")
    })
}

pub fn validate_username(username: &str) -> Result<(), TokenError> {
    if username.is_empty() {
        return err("database user name is empty");
    }
    if username.len() > MAX_USERNAME_BYTES {
        return err(format!(
            "database user name is {} bytes long; PostgreSQL role names are at most {MAX_USERNAME_BYTES} bytes",
            username.len()
        ));
    }
    Ok(())
}

/// Regions go into the credential scope unescaped by AWS; all of them are `[a-z0-9-]`.
pub fn validate_region(region: &str) -> Result<(), TokenError> {
    if region.is_empty() {
        return err("region is empty");
    }
    if !region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return err(format!(
            "region {region:?} is not an AWS region name (lower-case letters, digits and '-')"
        ));
    }
    Ok(())
}

/// X-Amz-Expires is whole seconds; RDS rejects 0 and anything over 900.
pub fn validate_expires_in(expires_in: Duration) -> Result<Duration, TokenError> {
    let secs = expires_in.as_secs();
    if secs == 0 || secs > MAX_EXPIRES_IN.as_secs() {
        return err(format!(
            "token lifetime must be 1 to {} seconds, got {:?}",
            MAX_EXPIRES_IN.as_secs(),
            expires_in
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// aws-sigv4 formats the signing time with `OffsetDateTime::from(SystemTime)`, which panics
/// outside the years it supports; X-Amz-Date needs 1970 ..= 9999 anyway.
fn validate_now(now: SystemTime) -> Result<(), TokenError> {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() <= MAX_UNIX_SECS as u64 => Ok(()),
        _ => err("the signing time is outside 1970-01-01 ..= 9999-12-31"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-11-22T18:30:00Z
    const NOW_EPOCH: u64 = 1_795_372_200;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_EPOCH)
    }

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    fn req<'a>(hostname: &'a str, port: u16, username: &'a str) -> TokenRequest<'a> {
        TokenRequest {
            hostname,
            port,
            username,
            region: "eu-west-1",
            expires_in: MAX_EXPIRES_IN,
        }
    }

    /// Expected values produced by botocore 1.44.5 `generate_db_auth_token` with its clock
    /// frozen at NOW_EPOCH (tests/py/botocore_token.py); tests/token_botocore.rs re-checks
    /// many more cases against live botocore.
    #[test]
    fn known_answer_with_session_token_and_mixed_case_host() {
        let token = generate(
            &creds(Some("tok+en/x==")),
            &req(
                "MyCluster.Cluster-ABC.eu-west-1.RDS.amazonaws.com",
                5432,
                "a+b c~d*e/f",
            ),
            now(),
        )
        .unwrap();
        assert_eq!(
            token,
            "MyCluster.Cluster-ABC.eu-west-1.RDS.amazonaws.com:5432/?Action=connect\
             &DBUser=a%2Bb%20c~d%2Ae%2Ff&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Feu-west-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20261122T183000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Security-Token=tok%2Ben%2Fx%3D%3D\
             &X-Amz-Signature=ac9f8a3ee12da2827d75e6e0903b92dcccccd6feadafcb712a1755543e1ae788"
        );
    }

    #[test]
    fn known_answer_port_443_and_short_lifetime() {
        // Port 443 is kept in the token but left out of the signed host header.
        let c = Credentials::new("AKIDEXAMPLE", "s", None, None, "test");
        let r = TokenRequest {
            region: "us-east-1",
            expires_in: Duration::from_secs(60),
            ..req("h.example.com", 443, "app")
        };
        assert_eq!(
            generate(&c, &r, now()).unwrap(),
            "h.example.com:443/?Action=connect&DBUser=app&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20261122T183000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=817ed9e2f303df262af63a5bf0d815b3a7cd24b73249bb44ffc9f12c22397753"
        );
    }

    #[test]
    fn sub_second_time_and_lifetime_are_truncated() {
        let c = creds(None);
        let r = req("db.example.com", 5432, "app");
        let a = generate(&c, &r, now()).unwrap();
        let b = generate(
            &c,
            &TokenRequest {
                expires_in: Duration::from_millis(900_999),
                ..r
            },
            now() + Duration::from_millis(999),
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn expires_at_is_rfc3339_whole_seconds() {
        assert_eq!(
            expires_at(now() + Duration::from_millis(700), MAX_EXPIRES_IN),
            "2026-11-22T18:45:00Z"
        );
        assert_eq!(
            expires_at(UNIX_EPOCH, Duration::ZERO),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            expires_at(
                UNIX_EPOCH + Duration::from_secs(u64::MAX / 2),
                MAX_EXPIRES_IN
            ),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn invalid_input_is_an_error_naming_it() {
        let c = creds(Some("SECRET-SESSION-TOKEN"));
        let long_user = "x".repeat(64);
        let cases: Vec<(TokenRequest, &str)> = vec![
            (req("", 5432, "app"), "hostname is empty"),
            (req("https://db.example.com", 5432, "app"), "scheme"),
            (req("db.example.com/x", 5432, "app"), "path"),
            (req("db.example.com?a=b", 5432, "app"), "path"),
            (req("db.example .com", 5432, "app"), "whitespace"),
            (req(" db.example.com", 5432, "app"), "whitespace"),
            (req("db.example.com:5432", 5432, "app"), "port"),
            (req("db@example.com", 5432, "app"), "not a DNS name"),
            (req("[zz::1]", 5432, "app"), "not a DNS name"),
            (req("db.example.com", 0, "app"), "port 0"),
            (req("db.example.com", 5432, ""), "user name is empty"),
            (req("db.example.com", 5432, &long_user), "at most 63 bytes"),
            (
                TokenRequest {
                    expires_in: Duration::ZERO,
                    ..req("db.example.com", 5432, "app")
                },
                "1 to 900 seconds",
            ),
            (
                TokenRequest {
                    expires_in: Duration::from_millis(999),
                    ..req("db.example.com", 5432, "app")
                },
                "1 to 900 seconds",
            ),
            (
                TokenRequest {
                    expires_in: Duration::from_secs(901),
                    ..req("db.example.com", 5432, "app")
                },
                "1 to 900 seconds",
            ),
            (
                TokenRequest {
                    region: "",
                    ..req("db.example.com", 5432, "app")
                },
                "region is empty",
            ),
            (
                TokenRequest {
                    region: "eu-west-1/x",
                    ..req("db.example.com", 5432, "app")
                },
                "not an AWS region",
            ),
        ];
        for (r, want) in cases {
            let e = generate(&c, &r, now()).unwrap_err().to_string();
            assert!(e.contains(want), "{r:?}: {e:?} does not contain {want:?}");
            assert!(!e.contains("SECRET") && !e.contains("wJalr"), "{e}");
        }
        assert!(
            generate(&c, &req("db", 5432, &"é".repeat(31)), now()).is_ok(),
            "62 bytes is fine"
        );
        let e = generate(
            &c,
            &req("db", 5432, "app"),
            UNIX_EPOCH - Duration::from_secs(1),
        );
        assert!(e.unwrap_err().0.contains("signing time"));
    }

    #[test]
    fn verify_accepts_own_tokens_and_rejects_wrong_secret_or_tampering() {
        let c = creds(Some("tok+en/x=="));
        let r = req("db.Example.com", 5432, "mario.rossi@example.com");
        let token = generate(&c, &r, now()).unwrap();
        verify(&token, &c, "eu-west-1").unwrap();

        let wrong = Credentials::new(
            "AKIDEXAMPLE",
            "not-the-secret",
            Some("tok+en/x==".into()),
            None,
            "t",
        );
        let e = verify(&token, &wrong, "eu-west-1").unwrap_err();
        assert!(e.0.contains("signature does not match"), "{e}");
        assert!(verify(&token, &creds(Some("other")), "eu-west-1").is_err());
        assert!(verify(&token, &creds(None), "eu-west-1").is_err());
        assert!(
            verify(&token, &c, "us-east-1")
                .unwrap_err()
                .0
                .contains("region")
        );

        let tampered = token.replace("DBUser=mario.rossi", "DBUser=maria.rossi");
        assert_ne!(tampered, token);
        assert!(verify(&tampered, &c, "eu-west-1").is_err());
        let tampered = token.replace(":5432/", ":5433/");
        assert!(verify(&tampered, &c, "eu-west-1").is_err());
        let tampered = token.replace("X-Amz-Expires=900", "X-Amz-Expires=899");
        assert!(verify(&tampered, &c, "eu-west-1").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn generate_never_panics(
            hostname in prop_oneof![any::<String>(), "[A-Za-z0-9._:/\\[\\]-]{0,20}"],
            username in any::<String>(),
            port in any::<u16>(),
            region in prop_oneof![Just("us-east-1".to_string()), any::<String>()],
            expires in 0u64..2000,
            token in proptest::option::of(any::<String>()),
            now_secs in prop_oneof![Just(NOW_EPOCH), any::<u64>()],
        ) {
            let c = Credentials::new("AKIDEXAMPLE", "secret", token, None, "t");
            let r = TokenRequest {
                hostname: &hostname,
                port,
                username: &username,
                region: &region,
                expires_in: Duration::from_secs(expires),
            };
            let now = UNIX_EPOCH.checked_add(Duration::from_secs(now_secs)).unwrap_or(UNIX_EPOCH);
            if let Ok(t) = generate(&c, &r, now) {
                prop_assert!(verify(&t, &c, &region).is_ok());
            }
            let _ = expires_at(now, Duration::from_secs(expires));
        }

        #[test]
        fn any_valid_user_round_trips(
            username in "\\PC{1,20}",
            token in proptest::option::of("[ -~]{1,40}"),
        ) {
            prop_assume!(username.len() <= MAX_USERNAME_BYTES);
            let c = Credentials::new("AKIDEXAMPLE", "secret", token, None, "t");
            let t = generate(&c, &req("db.example.com", 5432, &username), now()).unwrap();
            prop_assert!(verify(&t, &c, "eu-west-1").is_ok());
            let q = t.split_once("DBUser=").unwrap().1;
            let enc = q.split('&').next().unwrap();
            prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            prop_assert_eq!(percent_decode_str(enc).decode_utf8().unwrap(), username.as_str());
        }

        #[test]
        fn verify_never_panics(token in any::<String>(), tail in "[A-Za-z0-9%=&:/?.-]{0,80}") {
            let c = creds(None);
            let _ = verify(&token, &c, "eu-west-1");
            let _ = verify(&format!("db:5432/?{tail}"), &c, "eu-west-1");
        }
    }
}
