//! Marketplace exports in: orders, refunds/returns and reviews exported by hand from each platform's back office
//! (CSV, xlsx or JSON) are read through a column [`Mapping`] the admin saves once per source, into validated,
//! normalised [`Record`]s with row-level errors ([`RowError`], by the row number a person sees in the file).
//!
//! Pure: bytes in, values out; no database, no HTTP, no clock. Storing (idempotent by [`Record::key`]: platform +
//! kind + external id), applying ([`ApplyPolicy`]) and turning refunds and negative reviews into tickets
//! ([`Record::ticket_facts`] feeds the rule engine) are the service's and storage's.
//!
//! ```
//! use lingxi_intake::{Format, parse, shipped};
//!
//! let tmall = shipped("tmall-refunds").expect("shipped");
//! let outcome = parse(tmall.sample, Format::Csv, &tmall.mapping()?)?;
//! assert!(outcome.is_clean());
//! let first = &outcome.records[0];
//! assert_eq!(first.key().to_string(), format!("tmall:refund:{}", first.external_id));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod mapping;
mod read;
mod record;
mod shipped;
mod value;

pub use mapping::{Field, Lang, MAX_PLATFORM_CHARS, Mapping, MappingError, RecordKind, TicketRules};
pub use read::{
    ApplyPolicy, Format, HEADER_SEARCH_ROWS, ImportOutcome, IntakeError, MAX_ERRORS, MAX_ROWS, MAX_TEXT_CHARS,
    Progress, RowError, parse, parse_with_progress,
};
pub use record::{Record, RecordKey, TicketHints, format_cents};
pub use shipped::{SHIPPED, Shipped, shipped};
pub use value::{MAX_ID_CHARS, header_key, parse_amount, parse_offset, parse_rating, parse_time};
