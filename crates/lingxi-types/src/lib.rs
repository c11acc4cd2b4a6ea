//! Ids, shared value types, the error-code table and the wire DTOs of Lingxi.
//!
//! This crate has no behaviour beyond parsing and formatting: every other crate depends on it.

pub mod error;
pub mod frames;
pub mod ids;
pub mod model;
pub mod routing;
pub mod wire;

pub use error::{ApiError, ErrorCode};
pub use ids::*;
pub use model::*;
pub use routing::*;
