//! Reading an export: decoding CSV / xlsx / JSON into cells, finding the header, building records row by row.

use crate::mapping::{Compiled, Field, Mapping, MappingError, RecordKind};
use crate::record::Record;
use crate::value::{
    Bad, Cell, header_key, parse_amount_cell, parse_id, parse_rating_cell, parse_time_cell, unwrap_code, value_key,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Cursor;

/// The most data rows one file may hold.
pub const MAX_ROWS: usize = 1_000_000;

/// The most row errors an outcome lists; [`ImportOutcome::rows_rejected`] still counts every bad row.
pub const MAX_ERRORS: usize = 1_000;

/// The most characters a text field may have.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// How many leading rows are searched for the header row (exports sometimes start with a title or notes).
pub const HEADER_SEARCH_ROWS: usize = 20;

/// An export's file format.
///
/// Row numbers ([`RowError::row`], [`Record::row`]) are what a person finds in the file: for CSV and xlsx the
/// spreadsheet row (the header is row 1, or a later row when title rows precede it; blank rows count); for JSON
/// Lines the line number; for a JSON array the position of the object in the array (the first is 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-, tab- or semicolon-separated values in UTF-8 (with or without a byte-order mark), UTF-16 with a
    /// byte-order mark, or GBK/GB18030 (detected when the bytes are not UTF-8).
    Csv,
    /// Excel 2007+ workbook: the mapping's sheet, else the first.
    Xlsx,
    /// A JSON array of objects (possibly under the mapping's JSON pointer, or a `data`/`list`/`items`/`records`/
    /// `rows`/`result` key), or JSON Lines. Nested objects are read as `outer.inner` headers.
    Json,
}

impl Format {
    /// The format named `csv`, `tsv`, `txt`, `xlsx`, `json`, `jsonl` or `ndjson`.
    pub fn parse(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format of a file name's extension.
    pub fn from_file_name(name: &str) -> Option<Format> {
        name.rsplit_once('.').and_then(|(_, ext)| Format::parse(ext))
    }

    /// The format the bytes look like: a zip archive is xlsx, `[` or `{` first is JSON, anything else CSV.
    pub fn sniff(bytes: &[u8]) -> Format {
        if bytes.starts_with(b"PK\x03\x04") {
            return Format::Xlsx;
        }
        let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[' | b'{') => Format::Json,
            _ => Format::Csv,
        }
    }
}

/// How far reading has come, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Data rows read so far (blank ones included).
    pub rows_done: usize,
    /// Data rows in the file, when known before the end (xlsx and JSON arrays).
    pub rows_total: Option<usize>,
    /// The share done, from 0.0 to 1.0 (by bytes for CSV and JSON Lines).
    pub fraction: f64,
}

/// A row that cannot be imported. A row with several problems has one error per problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The row number (see [`Format`]).
    pub row: usize,
    /// The column at fault, by its header in the file, when one is.
    pub column: Option<String>,
    /// The field at fault, when one is.
    pub field: Option<Field>,
    /// What is wrong, in English.
    pub message: String,
    /// What is wrong, in Chinese.
    pub message_zh: String,
}

/// What the caller applies ([`ImportOutcome::to_apply`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyPolicy {
    /// Apply the valid rows, report and skip the bad ones.
    #[default]
    ValidRows,
    /// Apply nothing if any row is bad (the storage layer still applies the records in one transaction).
    AllOrNothing,
}

/// A file read through a mapping: the valid records and the errors of the other rows. Reading never stops at a
/// bad row, so one pass reports every problem.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// The valid records, in file order, one per external id.
    pub records: Vec<Record>,
    /// Row errors, in file order, at most [`MAX_ERRORS`].
    pub errors: Vec<RowError>,
    /// Errors beyond [`MAX_ERRORS`], left out of `errors`.
    pub errors_left_out: usize,
    /// Non-blank data rows.
    pub rows_read: usize,
    /// Rows with at least one error.
    pub rows_rejected: usize,
    /// Rows that repeat an earlier row exactly (same external id, same values): dropped, not errors.
    pub duplicates: usize,
}

impl ImportOutcome {
    /// Whether every row was valid.
    pub fn is_clean(&self) -> bool {
        self.rows_rejected == 0
    }

    /// The records to store under `policy`: all valid records, or under [`ApplyPolicy::AllOrNothing`] none when
    /// any row was bad (`Err` with the number of bad rows).
    pub fn to_apply(&self, policy: ApplyPolicy) -> Result<&[Record], usize> {
        match policy {
            ApplyPolicy::AllOrNothing if !self.is_clean() => Err(self.rows_rejected),
            _ => Ok(&self.records),
        }
    }
}

/// The file as a whole cannot be read with this mapping. `Display` is English; [`IntakeError::zh`] is Chinese.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// The mapping is invalid.
    #[error("the mapping is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Mapping(Vec<MappingError>),
    /// The CSV bytes are not text in a known encoding.
    #[error("the CSV file is not text in UTF-8, UTF-16 or GBK: save it as \"CSV UTF-8\"")]
    NotText,
    /// The CSV syntax is broken.
    #[error("the CSV file cannot be read: {0}")]
    Csv(String),
    /// The workbook cannot be read.
    #[error("the Excel file cannot be read: {0}")]
    Xlsx(String),
    /// The sheet the mapping names is not in the workbook.
    #[error("the workbook has no sheet named \"{0}\"")]
    NoSheet(String),
    /// The JSON cannot be read or holds no array of objects.
    #[error("the JSON file cannot be read: {0}")]
    Json(String),
    /// There is no row at all.
    #[error("the file is empty")]
    Empty,
    /// No header row names the mapping's required columns.
    #[error("the header row lacks required columns: {}", missing_list(.0, false))]
    MissingColumns(Vec<(Field, Vec<String>)>),
    /// Too many rows.
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
}

fn missing_list(missing: &[(Field, Vec<String>)], zh: bool) -> String {
    missing
        .iter()
        .map(|(f, names)| {
            let names =
                names.iter().map(|n| format!("“{n}”")).collect::<Vec<_>>().join(if zh { "或" } else { " or " });
            if zh { format!("{}（{names}）", f.zh()) } else { format!("{f} ({names})") }
        })
        .collect::<Vec<_>>()
        .join(if zh { "；" } else { "; " })
}

impl IntakeError {
    /// The message in Chinese.
    pub fn zh(&self) -> String {
        match self {
            IntakeError::Mapping(errors) => {
                format!("映射无效：{}", errors.iter().map(MappingError::zh).collect::<Vec<_>>().join("；"))
            }
            IntakeError::NotText => "CSV 文件不是 UTF-8、UTF-16 或 GBK 文本：请另存为“CSV UTF-8”".into(),
            IntakeError::Csv(e) => format!("无法读取 CSV 文件：{e}"),
            IntakeError::Xlsx(e) => format!("无法读取 Excel 文件：{e}"),
            IntakeError::NoSheet(s) => format!("工作簿中没有名为“{s}”的工作表"),
            IntakeError::Json(e) => format!("无法读取 JSON 文件：{e}"),
            IntakeError::Empty => "文件为空".into(),
            IntakeError::MissingColumns(m) => format!("表头缺少必需的列：{}", missing_list(m, true)),
            IntakeError::TooManyRows => format!("文件超过 {MAX_ROWS} 行"),
        }
    }
}

/// Reads an export through a mapping. See [`parse_with_progress`].
pub fn parse(bytes: &[u8], format: Format, mapping: &Mapping) -> Result<ImportOutcome, IntakeError> {
    parse_with_progress(bytes, format, mapping, |_| {})
}

/// Reads an export through a mapping, calling `progress` every few thousand rows and once at the end.
///
/// Every non-blank data row becomes a [`Record`] or one or more [`RowError`]s. A row whose external id repeats an
/// earlier row's is dropped when its values are the same (counted in [`ImportOutcome::duplicates`]), and is an error
/// otherwise: the first row stays, the conflict is reported rather than silently resolved.
pub fn parse_with_progress(
    bytes: &[u8],
    format: Format,
    mapping: &Mapping,
    mut progress: impl FnMut(Progress),
) -> Result<ImportOutcome, IntakeError> {
    let compiled = mapping.compile().map_err(IntakeError::Mapping)?;
    let mut b = Builder::new(&compiled);
    match format {
        Format::Csv => read_csv(bytes, &mut b, &mut progress)?,
        Format::Xlsx => read_xlsx(bytes, &mut b, &mut progress)?,
        Format::Json => read_json(bytes, &mut b, &mut progress)?,
    }
    Ok(b.out)
}

const PROGRESS_EVERY: usize = 4_096;

/// Where a column's cells go.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Field(Field, usize),
    Extra(String),
    Skip,
}

fn slot(c: &Compiled, header: &str) -> Slot {
    let key = header_key(header);
    match c.headers.get(&key) {
        Some((field, rank)) => Slot::Field(*field, *rank),
        None if !key.is_empty() && (c.keep_unmapped || c.extra.contains_key(&key)) => {
            Slot::Extra(header.trim().trim_start_matches('\u{feff}').to_owned())
        }
        None => Slot::Skip,
    }
}

/// The slots of a header row, each field taken from its most preferred header present (then the leftmost).
fn header_slots(c: &Compiled, header: &[String]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = header.iter().map(|h| slot(c, h)).collect();
    let mut best: HashMap<Field, (usize, usize)> = HashMap::new();
    for (i, s) in slots.iter().enumerate() {
        if let Slot::Field(f, rank) = s {
            let e = best.entry(*f).or_insert((*rank, i));
            if *rank < e.0 {
                *e = (*rank, i);
            }
        }
    }
    for (i, s) in slots.iter_mut().enumerate() {
        if let Slot::Field(f, _) = s
            && best.get(f).is_some_and(|(_, col)| *col != i)
        {
            *s = Slot::Skip;
        }
    }
    slots
}

/// The required fields a header row lacks.
fn missing_columns(c: &Compiled, slots: &[Slot]) -> Vec<(Field, Vec<String>)> {
    Field::ALL
        .into_iter()
        .filter(|f| c.required[f.index()])
        .filter(|f| !(*f == Field::Shop && c.shop.is_some()))
        .filter(|f| !slots.iter().any(|s| matches!(s, Slot::Field(g, _) if g == f)))
        .map(|f| (f, c.names.get(&f).cloned().unwrap_or_default()))
        .collect()
}

/// One row's cells by field (with the preference rank of their header) and its kept extra columns.
struct RawRow<'a> {
    cells: [Option<(usize, Cell<'a>)>; Field::ALL.len()],
    extra: Vec<(String, String)>,
}

impl<'a> RawRow<'a> {
    fn new() -> Self {
        RawRow { cells: Default::default(), extra: Vec::new() }
    }

    fn put(&mut self, field: Field, rank: usize, cell: Cell<'a>) {
        let slot = &mut self.cells[field.index()];
        if slot.as_ref().is_none_or(|(r, _)| rank < *r) {
            *slot = Some((rank, cell));
        }
    }

    fn is_blank(&self) -> bool {
        self.cells.iter().flatten().all(|(_, c)| c.is_blank()) && self.extra.iter().all(|(_, v)| v.trim().is_empty())
    }
}

struct Builder<'m> {
    c: &'m Compiled,
    out: ImportOutcome,
    /// External id → index in `out.records`.
    seen: HashMap<String, usize>,
    /// For JSON: key → slot.
    key_slots: HashMap<String, Slot>,
}

/// Text with carriage returns normalised and control characters (other than new line and tab) removed, trimmed.
fn clean_text(s: &str) -> Cow<'_, str> {
    let s = s.trim();
    if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace("\r\n", "\n").chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect())
}

impl<'m> Builder<'m> {
    fn new(c: &'m Compiled) -> Self {
        Builder { c, out: ImportOutcome::default(), seen: HashMap::new(), key_slots: HashMap::new() }
    }

    fn error(&mut self, row: usize, field: Option<Field>, column: Option<String>, bad: Bad) {
        if self.out.errors.len() < MAX_ERRORS {
            self.out.errors.push(RowError { row, column, field, message: bad.en, message_zh: bad.zh });
        } else {
            self.out.errors_left_out += 1;
        }
    }

    /// Takes one row: a record, a dropped duplicate, or its errors.
    fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), IntakeError> {
        if raw.is_blank() {
            return Ok(());
        }
        self.out.rows_read += 1;
        if self.out.rows_read > MAX_ROWS {
            return Err(IntakeError::TooManyRows);
        }
        match build(self.c, row, raw) {
            Err(errors) => {
                self.out.rows_rejected += 1;
                for (field, bad) in errors {
                    let column = Some(self.header_of(field));
                    self.error(row, Some(field), column, bad);
                }
            }
            Ok(record) => match self.seen.get(&record.external_id) {
                Some(&i) => {
                    let first = &self.out.records[i];
                    if (Record { row: first.row, ..record.clone() }) == *first {
                        self.out.duplicates += 1;
                    } else {
                        let first_row = first.row;
                        self.out.rows_rejected += 1;
                        let column = Some(self.header_of(Field::ExternalId));
                        self.error(
                            row,
                            Some(Field::ExternalId),
                            column,
                            Bad {
                                en: format!("\"{}\" repeats row {first_row} with different values", record.external_id),
                                zh: format!("“{}”与第 {first_row} 行重复且内容不同", record.external_id),
                            },
                        );
                    }
                }
                None => {
                    self.seen.insert(record.external_id.clone(), self.out.records.len());
                    self.out.records.push(record);
                }
            },
        }
        Ok(())
    }

    fn header_of(&self, field: Field) -> String {
        self.c.header_of(field)
    }
}

/// A row's record, or every problem it has.
fn build(c: &Compiled, row: usize, raw: RawRow<'_>) -> Result<Record, Vec<(Field, Bad)>> {
    let mut errors: Vec<(Field, Bad)> = Vec::new();
    let mut r = Record {
        row,
        kind: c.kind,
        platform: c.platform.clone(),
        shop: c.shop.clone(),
        external_id: String::new(),
        order_id: None,
        customer: None,
        contact: None,
        amount_cents: None,
        currency: c.currency.clone(),
        status: None,
        category: None,
        reason: None,
        content: None,
        rating: None,
        created_at: None,
        items: None,
        extra: raw
            .extra
            .into_iter()
            .map(|(k, v)| match clean_text(&v) {
                Cow::Borrowed(t) if t.len() == v.len() => (k, v),
                t => (k, t.into_owned()),
            })
            .collect(),
    };
    let mut amount_currency = None;
    let mut currency_column = None;
    for (field, cell) in Field::ALL.into_iter().zip(raw.cells) {
        let cell = match cell {
            Some((_, cell)) if !cell.is_blank() => cell,
            _ => {
                if c.required[field.index()] && !(field == Field::Shop && c.shop.is_some()) {
                    errors
                        .push((field, Bad { en: "the value is missing or empty".into(), zh: "该值缺失或为空".into() }));
                }
                continue;
            }
        };
        let map = &c.values[field.index()];
        let cell = if map.is_empty() {
            cell
        } else {
            let text = cell.to_text();
            // Most cells are already in their key's form (Chinese has no case): look them up without allocating.
            match map.get(text.trim()).or_else(|| map.get(&value_key(&text))) {
                Some(v) => Cell::Text(Cow::Owned(v.clone())),
                None => cell,
            }
        };
        let text = || -> Result<String, Bad> {
            let t = clean_text(&cell.to_text()).into_owned();
            if t.chars().count() > MAX_TEXT_CHARS {
                return Err(Bad {
                    en: format!("the text is longer than {MAX_TEXT_CHARS} characters"),
                    zh: format!("文字超过 {MAX_TEXT_CHARS} 个字符"),
                });
            }
            Ok(t)
        };
        let done: Result<(), Bad> = (|| {
            match field {
                Field::ExternalId => r.external_id = parse_id(&cell)?,
                Field::OrderId => r.order_id = Some(parse_id(&cell)?),
                Field::Shop => r.shop = Some(text()?),
                Field::Customer => r.customer = Some(text()?),
                Field::Contact => r.contact = Some(unwrap_code(&text()?).to_owned()),
                Field::Amount => {
                    let (cents, currency) = parse_amount_cell(&cell)?;
                    // Some finance views write refunds as negative amounts; a refund is stored as what was refunded.
                    r.amount_cents = Some(if c.kind == RecordKind::Refund { cents.abs() } else { cents });
                    amount_currency = currency;
                }
                Field::Currency => {
                    let t = text()?.to_ascii_uppercase();
                    let code = match t.as_str() {
                        "人民币" | "元" | "RMB" | "¥" | "￥" => "CNY".to_owned(),
                        _ if t.len() == 3 && t.bytes().all(|b| b.is_ascii_uppercase()) => t,
                        _ => {
                            return Err(Bad {
                                en: format!("\"{t}\" is not a currency code such as CNY"),
                                zh: format!("“{t}”不是币种代码（如 CNY）"),
                            });
                        }
                    };
                    currency_column = Some(code);
                }
                Field::Status => r.status = Some(text()?),
                Field::Category => r.category = Some(text()?),
                Field::Reason => r.reason = Some(text()?),
                Field::Content => r.content = Some(text()?),
                Field::Rating => r.rating = Some(parse_rating_cell(&cell)?),
                Field::CreatedAt => r.created_at = Some(parse_time_cell(&cell, &c.time_formats, c.offset)?),
                Field::Items => r.items = Some(text()?),
            }
            Ok(())
        })();
        if let Err(bad) = done {
            errors.push((field, bad));
        }
    }
    if let Some(code) = currency_column.or(amount_currency.map(str::to_owned)) {
        r.currency = code;
    }
    if errors.is_empty() { Ok(r) } else { Err(errors) }
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

/// The text of a CSV file: UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030 (a superset of GBK); or the
/// mapping's encoding.
fn decode<'a>(bytes: &'a [u8], forced: Option<&'static encoding_rs::Encoding>) -> Result<Cow<'a, str>, IntakeError> {
    if let Some(enc) = forced {
        let (text, _, had_errors) = enc.decode(bytes);
        return if had_errors { Err(IntakeError::NotText) } else { Ok(text) };
    }
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom..]);
        return if had_errors { Err(IntakeError::NotText) } else { Ok(text) };
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors || text.contains('\0') { Err(IntakeError::NotText) } else { Ok(text) }
}

/// The separator the first line uses most: comma, tab or semicolon.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or_default();
    let count = |c: char| first.matches(c).count();
    let (comma, tab, semi) = (count(','), count('\t'), count(';'));
    if tab > comma && tab >= semi {
        b'\t'
    } else if semi > comma {
        b';'
    } else {
        b','
    }
}

fn read_csv(bytes: &[u8], b: &mut Builder<'_>, progress: &mut impl FnMut(Progress)) -> Result<(), IntakeError> {
    let text = decode(bytes, b.c.encoding)?;
    let text: &str = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(IntakeError::Empty);
    }
    let total_bytes = text.len().max(1) as f64;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(text))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    // Rows as a spreadsheet numbers them: the reader skips blank lines and a quoted field may span lines.
    let mut embedded_newlines: u64 = 0;
    let row_of = |record: &csv::StringRecord, embedded: &mut u64| -> usize {
        let line = record.position().map_or(1, |p| {
            let start = usize::try_from(p.byte()).unwrap_or(usize::MAX);
            let skipped = text.as_bytes().get(start..).map_or(0, |rest| {
                rest.iter().take_while(|b| matches!(b, b'\n' | b'\r')).filter(|b| **b == b'\n').count() as u64
            });
            p.line() + skipped
        });
        let row = line - *embedded;
        *embedded += record.iter().map(|f| f.matches('\n').count() as u64).sum::<u64>();
        usize::try_from(row).unwrap_or(usize::MAX)
    };
    let read = |reader: &mut csv::Reader<&[u8]>, record: &mut csv::StringRecord| {
        reader.read_record(record).map_err(|e| IntakeError::Csv(e.to_string()))
    };
    // The header: the first of the leading rows that names the external id's column.
    let mut leading: Vec<(usize, Vec<String>)> = Vec::new();
    let mut header = None;
    while leading.len() < HEADER_SEARCH_ROWS && read(&mut reader, &mut record)? {
        let row = row_of(&record, &mut embedded_newlines);
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        let slots = header_slots(b.c, &cells);
        if slots.iter().any(|s| matches!(s, Slot::Field(Field::ExternalId, _))) {
            header = Some(slots);
            break;
        }
        leading.push((row, cells));
    }
    let slots = header.ok_or_else(|| no_header(b.c, &leading))?;
    let missing = missing_columns(b.c, &slots);
    if !missing.is_empty() {
        return Err(IntakeError::MissingColumns(missing));
    }
    let mut done = 0;
    while read(&mut reader, &mut record)? {
        let row = row_of(&record, &mut embedded_newlines);
        let mut raw = RawRow::new();
        for (slot, value) in slots.iter().zip(record.iter()) {
            match slot {
                Slot::Field(f, rank) => raw.put(*f, *rank, Cell::Text(Cow::Borrowed(value))),
                Slot::Extra(name) => raw.extra.push((name.clone(), value.to_owned())),
                Slot::Skip => {}
            }
        }
        b.row(row, raw)?;
        done += 1;
        if done % PROGRESS_EVERY == 0 {
            let at = record.position().map_or(0, |p| p.byte()) as f64;
            progress(Progress { rows_done: done, rows_total: None, fraction: (at / total_bytes).min(1.0) });
        }
    }
    progress(Progress { rows_done: done, rows_total: Some(done), fraction: 1.0 });
    Ok(())
}

/// The error for a file where no leading row names the external id: the missing columns of its first non-blank row.
fn no_header(c: &Compiled, leading: &[(usize, Vec<String>)]) -> IntakeError {
    match leading.iter().find(|(_, cells)| cells.iter().any(|h| !h.trim().is_empty())) {
        None => IntakeError::Empty,
        Some((_, cells)) => IntakeError::MissingColumns(missing_columns(c, &header_slots(c, cells))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// xlsx

fn xlsx_cell(cell: &calamine::Data) -> Cell<'_> {
    use calamine::Data;
    match cell {
        Data::Empty | Data::Error(_) => Cell::Empty,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(Cow::Borrowed(s)),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(d) => d.as_datetime().map_or(Cell::Float(d.as_f64()), Cell::DateTime),
    }
}

fn read_xlsx(bytes: &[u8], b: &mut Builder<'_>, progress: &mut impl FnMut(Progress)) -> Result<(), IntakeError> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<Cursor<&[u8]>> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| IntakeError::Xlsx(e.to_string()))?;
    let range = match &b.c.sheet {
        Some(name) => {
            let found = book.sheet_names().into_iter().find(|s| header_key(s) == header_key(name));
            let name = found.ok_or_else(|| IntakeError::NoSheet(name.clone()))?;
            book.worksheet_range(&name)
        }
        None => book.worksheet_range_at(0).ok_or(IntakeError::Empty)?,
    }
    .map_err(|e| IntakeError::Xlsx(e.to_string()))?;
    if range.height() > MAX_ROWS + HEADER_SEARCH_ROWS {
        return Err(IntakeError::TooManyRows);
    }
    // The range starts at the first used cell; spreadsheet rows are 1-based.
    let first_row = range.start().map_or(1, |(r, _)| r as usize + 1);
    let mut rows = range.rows().enumerate();
    let mut leading: Vec<(usize, Vec<String>)> = Vec::new();
    let mut header = None;
    for (i, cells) in rows.by_ref().take(HEADER_SEARCH_ROWS) {
        let cells: Vec<String> = cells.iter().map(|c| xlsx_cell(c).to_text().into_owned()).collect();
        let slots = header_slots(b.c, &cells);
        if slots.iter().any(|s| matches!(s, Slot::Field(Field::ExternalId, _))) {
            header = Some(slots);
            break;
        }
        leading.push((first_row + i, cells));
    }
    let slots = header.ok_or_else(|| no_header(b.c, &leading))?;
    let missing = missing_columns(b.c, &slots);
    if !missing.is_empty() {
        return Err(IntakeError::MissingColumns(missing));
    }
    let total = range.height().saturating_sub(leading.len() + 1);
    let mut done = 0;
    for (i, cells) in rows {
        let mut raw = RawRow::new();
        for (slot, cell) in slots.iter().zip(cells) {
            match slot {
                Slot::Field(f, rank) => raw.put(*f, *rank, xlsx_cell(cell)),
                Slot::Extra(name) => raw.extra.push((name.clone(), xlsx_cell(cell).to_text().into_owned())),
                Slot::Skip => {}
            }
        }
        b.row(first_row + i, raw)?;
        done += 1;
        if done % PROGRESS_EVERY == 0 {
            progress(Progress {
                rows_done: done,
                rows_total: Some(total),
                fraction: done as f64 / total.max(1) as f64,
            });
        }
    }
    progress(Progress { rows_done: done, rows_total: Some(done), fraction: 1.0 });
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

/// Keys under which API dumps commonly wrap their rows.
const WRAPPER_KEYS: [&str; 6] = ["data", "list", "items", "records", "rows", "result"];

/// Adds an object's values to `out` as `(header, cell)`, nested objects as `outer.inner`, arrays of scalars joined
/// with `; `, arrays of objects as `outer.0.inner`.
fn flatten<'a>(prefix: &str, value: &'a Value, out: &mut Vec<(Cow<'a, str>, Cell<'a>)>) {
    let key = |k: &'a str| if prefix.is_empty() { Cow::Borrowed(k) } else { Cow::Owned(format!("{prefix}.{k}")) };
    let owned_key = |k: &str| if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(_) => flatten(&owned_key(k), v, out),
                    Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                        for (i, item) in items.iter().enumerate() {
                            flatten(&owned_key(&format!("{k}.{i}")), item, out);
                        }
                    }
                    Value::Array(items) => {
                        let joined =
                            items.iter().map(|i| json_cell(i).to_text().into_owned()).collect::<Vec<_>>().join("; ");
                        out.push((key(k), Cell::Text(Cow::Owned(joined))));
                    }
                    scalar => out.push((key(k), json_cell(scalar))),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&owned_key(&i.to_string()), item, out);
            }
        }
        scalar => out.push((Cow::Owned(prefix.to_owned()), json_cell(scalar))),
    }
}

fn json_cell(value: &Value) -> Cell<'_> {
    match value {
        Value::Null => Cell::Empty,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Cell::Int(i),
            (None, Some(u), _) => Cell::Text(Cow::Owned(u.to_string())),
            (_, _, Some(f)) => Cell::Float(f),
            _ => Cell::Text(Cow::Owned(n.to_string())),
        },
        Value::String(s) => Cell::Text(Cow::Borrowed(s)),
        other => Cell::Text(Cow::Owned(other.to_string())),
    }
}

impl Builder<'_> {
    /// Takes one JSON row: an object, or a row error.
    fn json_row(&mut self, row: usize, value: &Value) -> Result<(), IntakeError> {
        if !value.is_object() {
            self.out.rows_read += 1;
            self.out.rows_rejected += 1;
            self.error(
                row,
                None,
                None,
                Bad { en: "the item is not a JSON object".into(), zh: "该条目不是 JSON 对象".into() },
            );
            return Ok(());
        }
        let mut pairs = Vec::new();
        flatten("", value, &mut pairs);
        let mut raw = RawRow::new();
        for (key, cell) in pairs {
            let s = match self.key_slots.get(key.as_ref()) {
                Some(s) => s.clone(),
                None => {
                    let s = slot(self.c, &key);
                    self.key_slots.insert(key.into_owned(), s.clone());
                    s
                }
            };
            match s {
                Slot::Field(f, rank) => raw.put(f, rank, cell),
                Slot::Extra(name) => raw.extra.push((name, cell.to_text().into_owned())),
                Slot::Skip => {}
            }
        }
        self.row(row, raw)
    }
}

fn find_rows<'v>(doc: &'v Value, pointer: Option<&str>) -> Result<Option<&'v Vec<Value>>, IntakeError> {
    if let Some(p) = pointer {
        return match doc.pointer(p) {
            Some(Value::Array(items)) => Ok(Some(items)),
            _ => Err(IntakeError::Json(format!("no array at {p}"))),
        };
    }
    Ok(match doc {
        Value::Array(items) => Some(items),
        Value::Object(map) => WRAPPER_KEYS.iter().find_map(|k| match map.get(*k) {
            Some(Value::Array(items)) => Some(items),
            Some(inner @ Value::Object(_)) => match find_rows(inner, None) {
                Ok(Some(items)) => Some(items),
                _ => None,
            },
            _ => None,
        }),
        _ => None,
    })
}

fn read_json(bytes: &[u8], b: &mut Builder<'_>, progress: &mut impl FnMut(Progress)) -> Result<(), IntakeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| IntakeError::Json("the file is not UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(IntakeError::Empty);
    }
    // One document (an array, or an object wrapping one), else JSON Lines.
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => {
            let items = match find_rows(&doc, b.c.json_pointer.as_deref())? {
                Some(items) => Cow::Borrowed(items),
                None if doc.is_object() => Cow::Owned(vec![doc.clone()]),
                None => return Err(IntakeError::Json("expected an array of objects".into())),
            };
            let total = items.len();
            for (i, item) in items.iter().enumerate() {
                b.json_row(i + 1, item)?;
                if (i + 1) % PROGRESS_EVERY == 0 {
                    progress(Progress {
                        rows_done: i + 1,
                        rows_total: Some(total),
                        fraction: (i + 1) as f64 / total as f64,
                    });
                }
            }
            progress(Progress { rows_done: total, rows_total: Some(total), fraction: 1.0 });
        }
        Err(e) if b.c.json_pointer.is_some() || text.trim_start().starts_with('[') => {
            return Err(IntakeError::Json(e.to_string()));
        }
        Err(_) => {
            let total_bytes = text.len() as f64;
            let (mut at, mut done) = (0usize, 0usize);
            for (i, line) in text.split('\n').enumerate() {
                at += line.len() + 1;
                if line.trim().is_empty() {
                    continue;
                }
                done += 1;
                match serde_json::from_str::<Value>(line) {
                    Ok(value) => b.json_row(i + 1, &value)?,
                    Err(e) => {
                        b.out.rows_read += 1;
                        b.out.rows_rejected += 1;
                        b.error(
                            i + 1,
                            None,
                            None,
                            Bad {
                                en: format!("the line is not valid JSON: {e}"),
                                zh: format!("该行不是有效的 JSON：{e}"),
                            },
                        );
                    }
                }
                if done % PROGRESS_EVERY == 0 {
                    progress(Progress {
                        rows_done: done,
                        rows_total: None,
                        fraction: (at as f64 / total_bytes).min(1.0),
                    });
                }
            }
            progress(Progress { rows_done: done, rows_total: Some(done), fraction: 1.0 });
        }
    }
    Ok(())
}
