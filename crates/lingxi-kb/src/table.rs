//! The import/export template as CSV or Excel (.xlsx): reading rows with row-level errors, writing entries.
//!
//! Columns (header row first, any order, case-insensitive; `docs/knowledge-base.md` has the full description):
//! `question, similar_questions, answer, category, tags, enabled, valid_from, valid_until`, plus optional
//! `similar_1 … similar_n` and `id` (written on export; on import it is kept with the row as
//! [`ImportRow::id`], for tools that refer to entries by the file's own ids, such as `lingxi eval bot`).

use crate::entry::{CHANNELS, EntryFields, EntryInput};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use lingxi_types::KbEntry;
use lingxi_types::wire::rfc3339;
use std::collections::HashMap;
use std::io::Cursor;

/// The template's columns, in order.
pub const COLUMNS: [&str; 10] = [
    "question",
    "similar_questions",
    "answer",
    "category",
    "tags",
    "enabled",
    "valid_from",
    "valid_until",
    "answer_web",
    "answer_api",
];

/// The most data rows one file may hold.
pub const MAX_ROWS: usize = 200_000;

/// A spreadsheet format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values, UTF-8 (a byte-order mark is accepted and written).
    Csv,
    /// Excel 2007+ workbook; the first sheet is read.
    Xlsx,
}

impl TableFormat {
    /// The format named `csv` or `xlsx`.
    pub fn parse(name: &str) -> Option<TableFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(TableFormat::Csv),
            "xlsx" => Some(TableFormat::Xlsx),
            _ => None,
        }
    }

    /// The format of a file name's extension.
    pub fn from_file_name(name: &str) -> Option<TableFormat> {
        name.rsplit_once('.').and_then(|(_, ext)| TableFormat::parse(ext))
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Xlsx => "xlsx",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            TableFormat::Csv => "text/csv; charset=utf-8",
            TableFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// The file as a whole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A CSV file that is not UTF-8.
    #[error("the CSV file is not UTF-8 text: save it as \"CSV UTF-8\"")]
    NotUtf8,
    /// The CSV syntax is broken.
    #[error("the CSV file cannot be read: {0}")]
    Csv(String),
    /// The workbook cannot be read.
    #[error("the Excel file cannot be read: {0}")]
    Xlsx(String),
    /// There is no header row.
    #[error("the file is empty: the first row must name the columns")]
    Empty,
    /// A required column is missing.
    #[error("the column \"{0}\" is missing from the header row")]
    MissingColumn(&'static str),
    /// Too many rows.
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    /// Writing the file failed.
    #[error("writing the file failed: {0}")]
    Write(String),
}

/// A row that cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The row number as the spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// A valid row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// The row number as the spreadsheet shows it.
    pub row: usize,
    /// The row's `id` cell, when the file has one and it is not blank (the file's own name for the entry).
    pub id: Option<String>,
    /// The entry.
    pub entry: EntryFields,
}

/// A file read row by row: the valid rows and the errors of the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedTable {
    /// Non-blank data rows.
    pub total_rows: usize,
    /// The valid rows, in file order.
    pub rows: Vec<ImportRow>,
    /// One error per invalid row, in file order.
    pub errors: Vec<RowError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Question,
    Similar,
    SimilarN,
    Answer,
    Category,
    Tags,
    Enabled,
    ValidFrom,
    ValidUntil,
    /// `answer_<channel>`: the answer for one channel.
    ChannelAnswer(&'static str),
    Id,
    Ignored,
}

fn column(header: &str) -> Column {
    let h: String =
        header.trim().trim_start_matches('\u{feff}').to_lowercase().replace([' ', '-'], "_").replace('＿', "_");
    let numbered = |prefix: &str| {
        h.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.trim_start_matches('_').chars().all(|c| c.is_ascii_digit()))
    };
    match h.as_str() {
        "question" | "standard_question" | "标准问题" | "标准问" | "问题" => Column::Question,
        "similar_questions" | "similar" | "相似问题" | "相似问" => Column::Similar,
        "answer" | "答案" => Column::Answer,
        "category" | "分类" | "类目" => Column::Category,
        "tags" | "tag" | "标签" => Column::Tags,
        "enabled" | "启用" | "状态" => Column::Enabled,
        "valid_from" | "生效时间" => Column::ValidFrom,
        "valid_until" | "失效时间" => Column::ValidUntil,
        "id" | "编号" => Column::Id,
        _ if h.strip_prefix("answer_").or_else(|| h.strip_prefix("答案_")).is_some_and(|c| CHANNELS.contains(&c)) => {
            let c = h.rsplit('_').next().unwrap_or_default();
            CHANNELS.iter().find(|k| **k == c).map_or(Column::Ignored, |k| Column::ChannelAnswer(k))
        }
        _ if numbered("similar_question") || numbered("similar") || numbered("相似问题") => Column::SimilarN,
        _ => Column::Ignored,
    }
}

/// Splits a multi-value cell on newlines and `||`.
fn split_lines(cell: &str) -> impl Iterator<Item = String> + '_ {
    cell.split(['\n', '\r']).flat_map(|l| l.split("||")).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Splits a tags cell on commas (ASCII or full-width), `、`, semicolons, newlines and `||`.
fn split_tags(cell: &str) -> Vec<String> {
    split_lines(cell)
        .flat_map(|l| l.split([',', '，', '、', ';', '；']).map(|t| t.trim().to_owned()).collect::<Vec<_>>())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Reads an `enabled` cell: empty means enabled.
fn parse_enabled(cell: &str) -> Option<bool> {
    match cell.trim().to_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "y" | "on" | "是" | "启用" | "开启" => Some(true),
        "false" | "0" | "no" | "n" | "off" | "否" | "停用" | "禁用" | "关闭" => Some(false),
        _ => None,
    }
}

/// Reads a time cell: RFC 3339, or `YYYY-MM-DD[ HH:MM[:SS]]` (also with `/`) taken as UTC. A date alone means the
/// start of that day, or for an end of validity (`end_of_day`) the end of it.
pub fn parse_time(cell: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let s = cell.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let s = s.replace('/', "-");
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, f) {
            return Some(t.and_utc());
        }
    }
    let day = NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?.and_utc();
    if end_of_day { day.checked_add_signed(TimeDelta::days(1)) } else { Some(day) }
}

/// The cells of a CSV file.
fn csv_cells(bytes: &[u8]) -> Result<Vec<Vec<String>>, TableError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TableError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    // The reader skips blank lines; they are kept as empty rows so that row numbers match a spreadsheet's.
    let mut next_line = 1;
    for record in reader.records() {
        let record = record.map_err(|e| TableError::Csv(e.to_string()))?;
        // A record's position is where the reader started, before the blank lines it skipped.
        let line = record.position().map_or(next_line, |p| {
            let skipped = text.as_bytes().get(usize::try_from(p.byte()).unwrap_or(usize::MAX)..).map_or(0, |rest| {
                let blank = rest.iter().take_while(|b| matches!(b, b'\n' | b'\r')).collect::<Vec<_>>();
                blank.iter().filter(|b| ***b == b'\n').count() as u64
            });
            p.line() + skipped
        });
        rows.extend((next_line..line).map(|_| Vec::new()));
        next_line = line + 1 + record.iter().map(|f| f.matches('\n').count() as u64).sum::<u64>();
        rows.push(record.iter().map(str::to_owned).collect());
        if rows.len() > MAX_ROWS + 1 {
            return Err(TableError::TooManyRows);
        }
    }
    Ok(rows)
}

/// The text of an Excel cell; dates become RFC 3339.
fn xlsx_cell(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.as_datetime().map(|t| rfc3339(t.and_utc())).unwrap_or_default(),
    }
}

/// The cells of the first sheet of a workbook.
fn xlsx_cells(bytes: &[u8]) -> Result<Vec<Vec<String>>, TableError> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<Cursor<&[u8]>> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| TableError::Xlsx(e.to_string()))?;
    let range = book.worksheet_range_at(0).ok_or(TableError::Empty)?.map_err(|e| TableError::Xlsx(e.to_string()))?;
    if range.height() > MAX_ROWS + 1 {
        return Err(TableError::TooManyRows);
    }
    Ok(range.rows().map(|r| r.iter().map(xlsx_cell).collect()).collect())
}

/// Reads a file in the template's shape: every non-blank row becomes a valid entry or a row error. A standard
/// question that repeats an earlier row's is an error of the later row.
pub fn read_table(format: TableFormat, bytes: &[u8]) -> Result<ParsedTable, TableError> {
    let cells = match format {
        TableFormat::Csv => csv_cells(bytes)?,
        TableFormat::Xlsx => xlsx_cells(bytes)?,
    };
    let mut rows = cells.into_iter();
    let header: Vec<Column> = rows.next().ok_or(TableError::Empty)?.iter().map(|h| column(h)).collect();
    for (required, name) in [(Column::Question, "question"), (Column::Answer, "answer")] {
        if !header.contains(&required) {
            return Err(TableError::MissingColumn(name));
        }
    }
    let mut table = ParsedTable::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, cells) in rows.enumerate() {
        let row = i + 2;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        table.total_rows += 1;
        match read_row(&header, &cells) {
            Err((column, message)) => table.errors.push(RowError { row, column: Some(column.to_owned()), message }),
            Ok((entry, id)) => match seen.get(&entry.question) {
                Some(first) => table.errors.push(RowError {
                    row,
                    column: Some("question".into()),
                    message: format!("the standard question repeats row {first}"),
                }),
                None => {
                    seen.insert(entry.question.clone(), row);
                    table.rows.push(ImportRow { row, id, entry });
                }
            },
        }
    }
    Ok(table)
}

fn read_row(header: &[Column], cells: &[String]) -> Result<(EntryFields, Option<String>), (&'static str, String)> {
    let mut input = EntryInput { enabled: true, ..Default::default() };
    let mut id = None;
    for (col, cell) in header.iter().zip(cells) {
        match col {
            Column::Id => id = Some(cell.trim().to_owned()).filter(|s| !s.is_empty()),
            Column::Question => input.question = cell.clone(),
            Column::Similar | Column::SimilarN => input.similar_questions.extend(split_lines(cell)),
            Column::Answer => input.answer = cell.clone(),
            Column::ChannelAnswer(channel) => {
                if !cell.trim().is_empty() {
                    input.channel_answers.insert((*channel).to_owned(), cell.clone());
                }
            }
            Column::Category => input.category = cell.clone(),
            Column::Tags => input.tags = split_tags(cell),
            Column::Enabled => {
                input.enabled = parse_enabled(cell)
                    .ok_or(("enabled", format!("\"{cell}\" is not a yes/no value (true/false, 1/0, 是/否)")))?;
            }
            Column::ValidFrom | Column::ValidUntil if cell.trim().is_empty() => {}
            Column::ValidFrom => {
                input.valid_from = Some(parse_time(cell, false).ok_or(("valid_from", bad_time(cell)))?);
            }
            Column::ValidUntil => {
                input.valid_until = Some(parse_time(cell, true).ok_or(("valid_until", bad_time(cell)))?);
            }
            Column::Ignored => {}
        }
    }
    input.validate().map(|entry| (entry, id)).map_err(|e| (e.field, e.message))
}

fn bad_time(cell: &str) -> String {
    format!("\"{cell}\" is not a time (use 2026-11-11, 2026-11-11 08:00 or RFC 3339; times without a zone are UTC)")
}

/// The row of an entry, in [`COLUMNS`] order followed by its id.
fn entry_row(e: &KbEntry) -> [String; 11] {
    let channel = |c: &str| e.channel_answers.get(c).map(|a| a.answer.clone()).unwrap_or_default();
    [
        e.question.clone(),
        e.similar_questions.join("\n"),
        e.answer.clone(),
        e.category.clone(),
        e.tags.join(", "),
        e.enabled.to_string(),
        e.valid_from.map(rfc3339).unwrap_or_default(),
        e.valid_until.map(rfc3339).unwrap_or_default(),
        channel("web"),
        channel("api"),
        e.id.to_string(),
    ]
}

fn header_with_id() -> [&'static str; 11] {
    let mut h = [""; 11];
    h[..10].copy_from_slice(&COLUMNS);
    h[10] = "id";
    h
}

/// Writes entries in the template's shape (with an `id` column last); reading the file back gives the same entries.
pub fn write_table(format: TableFormat, entries: &[KbEntry]) -> Result<Vec<u8>, TableError> {
    let rows: Vec<[String; 11]> = entries.iter().map(entry_row).collect();
    write_rows(format, &header_with_id(), &rows)
}

/// The empty template with two example rows.
pub fn template(format: TableFormat) -> Result<Vec<u8>, TableError> {
    let examples = [
        [
            "怎么退货",
            "如何退货\n退货流程||可以退货吗",
            "签收后 <b>7 天</b>内可无理由退货，在“我的订单”中申请。",
            "售后/退货",
            "退货, 售后",
            "true",
            "",
            "",
            "",
            "在小程序里：我的 → 订单 → 申请售后 → 退货。",
        ]
        .map(str::to_owned),
        [
            "How do I return an item?",
            "return policy\ncan I send it back",
            "You can return any item within <b>7 days</b> of delivery from \"My orders\".",
            "After-sales/Returns",
            "returns",
            "true",
            "2026-01-01",
            "2026-12-31",
            "",
            "",
        ]
        .map(str::to_owned),
    ];
    write_rows(format, &COLUMNS, &examples)
}

fn write_rows<const N: usize>(
    format: TableFormat,
    header: &[&str; N],
    rows: &[[String; N]],
) -> Result<Vec<u8>, TableError> {
    match format {
        TableFormat::Csv => {
            let mut out = "\u{feff}".as_bytes().to_vec();
            {
                let mut w = csv::Writer::from_writer(&mut out);
                w.write_record(header).map_err(|e| TableError::Write(e.to_string()))?;
                for r in rows {
                    w.write_record(r).map_err(|e| TableError::Write(e.to_string()))?;
                }
                w.flush().map_err(|e| TableError::Write(e.to_string()))?;
            }
            Ok(out)
        }
        TableFormat::Xlsx => write_xlsx(header, rows).map_err(|e| TableError::Write(e.to_string())),
    }
}

fn write_xlsx<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    let sheet = book.add_worksheet();
    sheet.set_name("FAQ")?;
    for (c, name) in header.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, c, *name, &bold)?;
        sheet.set_column_width(c, if matches!(*name, "answer" | "similar_questions") { 48 } else { 20 })?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string_with_format(r, u16::try_from(c).unwrap_or(u16::MAX), value, &wrap)?;
            }
        }
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<ParsedTable, TableError> {
        read_table(TableFormat::Csv, text.as_bytes())
    }

    #[test]
    fn the_template_reads_back_as_its_examples() -> Result<(), TableError> {
        for format in [TableFormat::Csv, TableFormat::Xlsx] {
            let t = read_table(format, &template(format)?)?;
            assert_eq!((t.total_rows, t.errors.len()), (2, 0), "{format:?}: {:?}", t.errors);
            let zh = &t.rows[0].entry;
            assert_eq!(zh.similar_questions, vec!["如何退货", "退货流程", "可以退货吗"]);
            assert_eq!(zh.tags, vec!["退货", "售后"]);
            assert_eq!(zh.category, "售后/退货");
            let en = &t.rows[1].entry;
            assert_eq!(en.valid_from.map(rfc3339).as_deref(), Some("2026-01-01T00:00:00.000Z"));
            assert_eq!(
                en.valid_until.map(rfc3339).as_deref(),
                Some("2027-01-01T00:00:00.000Z"),
                "until the end of the day"
            );
        }
        Ok(())
    }

    #[test]
    fn bad_rows_are_reported_with_their_row_numbers() -> Result<(), TableError> {
        let t = csv("question,answer,enabled,valid_from\n\
                     ok,fine,,\n\
                     ,no question,,\n\
                     \n\
                     bad flag,x,maybe,\n\
                     bad time,x,,tomorrow\n\
                     ok,repeated,,\n\
                     no answer,,,\n")?;
        assert_eq!(t.total_rows, 6);
        assert_eq!(t.rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![2]);
        let errors: Vec<(usize, Option<&str>)> = t.errors.iter().map(|e| (e.row, e.column.as_deref())).collect();
        assert_eq!(
            errors,
            vec![
                (3, Some("question")),
                (5, Some("enabled")),
                (6, Some("valid_from")),
                (7, Some("question")),
                (8, Some("answer"))
            ]
        );
        assert!(t.errors[3].message.contains("row 2"), "{}", t.errors[3].message);
        Ok(())
    }

    #[test]
    fn similar_questions_come_from_the_cell_and_from_numbered_columns() -> Result<(), TableError> {
        let t = csv("\u{feff}标准问题,答案,相似问题,similar_1,Similar 2\n怎么退货,七天,如何退货||退货流程,能退吗,\n")?;
        assert_eq!(t.rows[0].entry.similar_questions, vec!["如何退货", "退货流程", "能退吗"]);
        Ok(())
    }

    #[test]
    fn files_without_the_required_columns_or_not_utf8_are_refused() {
        assert!(matches!(csv("similar_questions,answer\nx,y\n"), Err(TableError::MissingColumn("question"))));
        assert!(matches!(csv(""), Err(TableError::Empty)));
        assert!(matches!(read_table(TableFormat::Csv, &[0x51, 0xff, 0xfe, 0x0a]), Err(TableError::NotUtf8)));
        assert!(matches!(read_table(TableFormat::Xlsx, b"not a zip"), Err(TableError::Xlsx(_))));
    }

    #[test]
    fn times_accept_the_common_spreadsheet_forms() {
        let cases = [
            ("2026-11-11T08:00:00+08:00", false, "2026-11-11T00:00:00.000Z"),
            ("2026-11-11 08:00", false, "2026-11-11T08:00:00.000Z"),
            ("2026/11/11", false, "2026-11-11T00:00:00.000Z"),
            ("2026-11-11", true, "2026-11-12T00:00:00.000Z"),
        ];
        for (cell, end, want) in cases {
            assert_eq!(parse_time(cell, end).map(rfc3339).as_deref(), Some(want), "{cell}");
        }
        assert_eq!(parse_time("11/11", false), None);
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use lingxi_types::{EntryId, TenantId};

    fn stored(fields: EntryFields) -> KbEntry {
        let at = Utc::now();
        KbEntry {
            id: EntryId::generate(),
            tenant_id: TenantId::generate(),
            question: fields.question,
            similar_questions: fields.similar_questions,
            answer: fields.answer,
            answer_text: fields.answer_text,
            channel_answers: fields.channel_answers,
            category: fields.category,
            tags: fields.tags,
            enabled: fields.enabled,
            valid_from: fields.valid_from,
            valid_until: fields.valid_until,
            created_by: None,
            updated_by: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn an_export_imports_back_to_the_same_entries() -> Result<(), TableError> {
        for format in [TableFormat::Csv, TableFormat::Xlsx] {
            let mut fields: Vec<EntryFields> =
                read_table(format, &template(format)?)?.rows.into_iter().map(|r| r.entry).collect();
            fields[0].enabled = false;
            let answer = crate::sanitize_answer("a, \"quoted\" <i>x</i>\nline 2 & more");
            (fields[0].answer, fields[0].answer_text) = (answer.html, answer.text);
            let entries: Vec<KbEntry> = fields.iter().cloned().map(stored).collect();
            let back: Vec<EntryFields> =
                read_table(format, &write_table(format, &entries)?)?.rows.into_iter().map(|r| r.entry).collect();
            assert_eq!(back, fields, "{format:?}");
        }
        Ok(())
    }
}
