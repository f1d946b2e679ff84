//! `postgres.password_secret`: the PostgreSQL password (and, unless `username` is set, the login
//! role) read from AWS Secrets Manager with the `aws` block's credentials. Read when the first
//! connection is needed, kept in memory only, and read again once when the server rejects the
//! password (a rotated secret), so the connection is retried with the new one.

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws::credentials::Aws;
use crate::aws::secrets::{self, DbCredentials};
use crate::pg::connect::{PasswordSource, Rejected};
use crate::tfplugin::log;

/// The first read: what the secret holds, as an error message naming the secret on failure.
pub async fn read(aws: &Aws, secret_id: &str) -> Result<DbCredentials, String> {
    secrets::read_db_credentials(aws, secret_id)
        .await
        .map_err(|e| {
            format!(
                "Cannot read the PostgreSQL login from Secrets Manager secret {secret_id:?} \
                 (postgres.password_secret): {}: {}",
                e.summary, e.detail
            )
        })
}

/// The password of the secret as last read.
pub struct SecretPassword {
    aws: Arc<Aws>,
    secret_id: String,
    /// The login role the pool connects as.
    username: String,
    /// Whether that role is the secret's `username` (then a re-read must name the same one).
    username_from_secret: bool,
    current: tokio::sync::Mutex<String>,
}

impl SecretPassword {
    pub fn new(
        aws: Arc<Aws>,
        secret_id: String,
        username: String,
        username_from_secret: bool,
        first: DbCredentials,
    ) -> Self {
        SecretPassword {
            aws,
            secret_id,
            username,
            username_from_secret,
            current: tokio::sync::Mutex::new(first.password),
        }
    }
}

#[async_trait]
impl PasswordSource for SecretPassword {
    async fn password(&self) -> Result<String, String> {
        Ok(self.current.lock().await.clone())
    }

    async fn rejected(&self, password: &str) -> Rejected {
        // Held across the read: connections rejected together re-read the secret once.
        let mut current = self.current.lock().await;
        if *current != password {
            // Another connection re-read it meanwhile.
            return Rejected::Retry;
        }
        let id = &self.secret_id;
        log::info(
            "PostgreSQL rejected the password from Secrets Manager; reading the secret again",
            &[("secret_id", id.as_str().into())],
        );
        let fresh = match read(&self.aws, id).await {
            Ok(c) => c,
            Err(e) => return Rejected::GiveUp(Some(format!("reading it again failed: {e}"))),
        };
        if self.username_from_secret && fresh.username.as_deref() != Some(self.username.as_str()) {
            return Rejected::GiveUp(Some(format!(
                "Secrets Manager secret {id:?} now names another login role than {:?}, the one \
                 this run logs in as: run Terraform again",
                self.username
            )));
        }
        if fresh.password == password {
            return Rejected::GiveUp(Some(format!(
                "the password in Secrets Manager secret {id:?} (read again just now) is the one \
                 the server rejected: update the secret or the role's password"
            )));
        }
        *current = fresh.password;
        Rejected::Retry
    }
}
