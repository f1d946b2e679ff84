//! The connection pool against real PostgreSQL: bounded connections under heavy concurrency
//! (waiters are woken when connections come back), reuse, and recovery after the server
//! kills our backends.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::postgres::PgCluster;
use terraform_provider_rdsiam::pg::Pg;
use terraform_provider_rdsiam::pg::connect::{
    ConnectSettings, Pool, Roots, SslMode, StaticPassword,
};

/// Verify-full settings for `pg` as `user`, at most `max` connections (also used by `stop`).
pub(crate) fn settings(pg: &PgCluster, user: &str, max: usize) -> ConnectSettings {
    ConnectSettings {
        host: "localhost".into(),
        hostaddr: None,
        port: pg.port(),
        username: user.into(),
        sslmode: SslMode::VerifyFull,
        roots: Roots::Given {
            origin: "the test CA".into(),
            pem: pg.ca_pem(),
        },
        connect_timeout: Duration::from_secs(5),
        max_connections: max,
        statement_timeout: None,
        lock_timeout: Some("5s".into()),
    }
}

/// A pool of at most `max` connections as the cluster's superuser.
fn superuser_pool(pg: &PgCluster, max: usize) -> Arc<Pool> {
    let (user, password) = pg.superuser();
    Pool::new(
        settings(pg, user, max),
        Arc::new(StaticPassword(password.to_string())),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn many_tasks_share_few_connections() {
    let cluster = PgCluster::start("15");
    let pool = superuser_pool(&cluster, 2);
    let pg = Arc::new(Pg::new(pool.clone(), "postgres".into()));
    rt().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let pg = pg.clone();
            tasks.push(tokio::spawn(async move {
                // Hold the connection a moment so tasks really queue up behind the limit.
                let rows = pg
                    .query(None, "SELECT $1::int8 + 1, pg_sleep(0.01)::text", &[&i])
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                rows.first().map(|r| r.get::<_, i64>(0))
            }));
        }
        let mut sum = 0;
        for t in tasks {
            let v = tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .unwrap_or_else(|_| panic!("a task waited forever for a connection"))
                .unwrap_or_else(|e| panic!("{e}"));
            sum += v.unwrap_or(0);
        }
        assert_eq!(sum, (1..=40).sum::<i64>());
        // Writes go through the same bounded pool.
        pg.write(
            None,
            &[
                "CREATE ROLE pool_probe".to_string(),
                "DROP ROLE pool_probe".to_string(),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    });
    let opened = pool.stats.connections_opened.load(Ordering::Relaxed);
    assert!(
        (1..=2).contains(&opened),
        "opened {opened} connections with max 2"
    );
}

#[test]
fn reconnects_after_backends_are_terminated() {
    let cluster = PgCluster::start("15");
    let pool = superuser_pool(&cluster, 2);
    let pg = Pg::new(pool.clone(), "postgres".into());
    rt().block_on(async {
        pg.query(None, "SELECT 1", &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        cluster.psql(
            "postgres",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'terraform-provider-rdsiam'",
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rows = pg
            .query(None, "SELECT 41 + 1", &[])
            .await
            .unwrap_or_else(|e| panic!("no reconnect: {e}"));
        assert_eq!(rows.first().map(|r| r.get::<_, i32>(0)), Some(42));
        pg.write(None, &["CREATE ROLE reconnect_probe".to_string()])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        cluster.psql(
            "postgres",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'terraform-provider-rdsiam'",
        );
        pg.write(None, &["DROP ROLE reconnect_probe".to_string()])
            .await
            .unwrap_or_else(|e| panic!("write after termination: {e}"));
    });
    assert!(pool.stats.connections_opened.load(Ordering::Relaxed) >= 2);
}
