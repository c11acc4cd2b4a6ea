//! Knowledge-base entries as the supervisor / AI trainer edits them: the validation rules every entry obeys (from
//! the admin page, the API or a file), the sanitising of rich-text answers with their plain-text rendering, and the
//! import/export template as CSV or Excel.
//!
//! Pure: no I/O, no clock; files arrive and leave as bytes. Storage is `lingxi-store`'s, the use cases are in
//! `lingxi-service`.

mod answer;
mod entry;
mod table;

pub use answer::{ALLOWED_TAGS, Answer, sanitize_answer};
pub use entry::{
    CHANNELS, EntryFields, EntryInput, FieldError, MAX_ANSWER_CHARS, MAX_CATEGORY_CHARS, MAX_QUESTION_CHARS,
    MAX_SIMILAR, MAX_TAG_CHARS, MAX_TAGS, normalize_category,
};
pub use table::{
    COLUMNS, ImportRow, MAX_ROWS, ParsedTable, RowError, TableError, TableFormat, parse_time, read_table, template,
    write_table,
};
