//! Decoding helpers shared by the repository modules.

use crate::{StoreError, StoreResult};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::str::FromStr;

/// Milliseconds since the epoch, the stored form of every time.
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time for stored milliseconds.
pub(crate) fn time(ms: i64) -> StoreResult<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| StoreError::Corrupt(format!("bad time {ms}")))
}

/// Now, truncated to the stored precision so that values read back compare equal.
pub(crate) fn now() -> DateTime<Utc> {
    let ms = Utc::now().timestamp_millis();
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}

/// Reads a text column.
pub(crate) fn text(row: &AnyRow, col: &str) -> StoreResult<String> {
    Ok(row.try_get::<String, _>(col)?)
}

/// Reads a nullable text column.
pub(crate) fn opt_text(row: &AnyRow, col: &str) -> StoreResult<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

/// Reads an integer column.
pub(crate) fn int(row: &AnyRow, col: &str) -> StoreResult<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

/// Reads a nullable integer column.
pub(crate) fn opt_int(row: &AnyRow, col: &str) -> StoreResult<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

/// Reads an id column.
pub(crate) fn id<T: FromStr>(row: &AnyRow, col: &str) -> StoreResult<T> {
    let s = text(row, col)?;
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad id in {col}: {s}")))
}

/// Reads a nullable id column.
pub(crate) fn opt_id<T: FromStr>(row: &AnyRow, col: &str) -> StoreResult<Option<T>> {
    match opt_text(row, col)? {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| StoreError::Corrupt(format!("bad id in {col}: {s}"))),
    }
}

/// Reads a time column.
pub(crate) fn ts(row: &AnyRow, col: &str) -> StoreResult<DateTime<Utc>> {
    time(int(row, col)?)
}

/// Reads a nullable time column.
pub(crate) fn opt_ts(row: &AnyRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
    opt_int(row, col)?.map(time).transpose()
}

/// Reads a string-enum column.
pub(crate) fn enum_col<T>(row: &AnyRow, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let s = text(row, col)?;
    parse(&s).ok_or_else(|| StoreError::Corrupt(format!("bad value in {col}: {s}")))
}

/// Reads a nullable string-enum column.
pub(crate) fn opt_enum_col<T>(row: &AnyRow, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<Option<T>> {
    match opt_text(row, col)? {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).ok_or_else(|| StoreError::Corrupt(format!("bad value in {col}: {s}"))),
    }
}
