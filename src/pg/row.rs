//! Reading catalog rows: a column that does not decode is a [`PgError`] naming it, never a
//! panic.

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

use super::PgError;

impl PgError {
    /// A catalog row that does not have the expected shape.
    pub fn row(e: &tokio_postgres::Error) -> PgError {
        PgError {
            message: format!("unexpected catalog row: {e}"),
            code: None,
        }
    }

    /// The database named in the request does not exist (3D000, also when only the connection
    /// error text carries it).
    pub fn database_missing(&self) -> bool {
        self.is(&SqlState::INVALID_CATALOG_NAME) || self.message.contains("SQLSTATE 3D000")
    }
}

/// Column `i` of `row`.
pub fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, PgError> {
    row.try_get(i).map_err(|e| PgError::row(&e))
}

/// Column `i` of every row.
pub fn column<T: for<'a> FromSql<'a>>(rows: &[Row], i: usize) -> Result<Vec<T>, PgError> {
    rows.iter().map(|r| col(r, i)).collect()
}
