//! Cell values: header keys, amounts, times, ratings, ids. Each parser says what is wrong in English and Chinese.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::borrow::Cow;

/// One cell as the file holds it: text (CSV, JSON strings) or a typed value (xlsx, JSON numbers).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Nothing.
    Empty,
    /// Text.
    Text(Cow<'a, str>),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An Excel date/time (a wall-clock time, no zone).
    DateTime(NaiveDateTime),
}

impl Cell<'_> {
    /// Whether the cell holds nothing but white space.
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text, as a spreadsheet would show it (whole floats without `.0`).
    pub(crate) fn to_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) => Cow::Borrowed(s.as_ref()),
            Cell::Int(i) => Cow::Owned(i.to_string()),
            Cell::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Cow::Owned(format!("{}", *f as i64)),
            Cell::Float(f) => Cow::Owned(f.to_string()),
            Cell::Bool(b) => Cow::Owned(b.to_string()),
            Cell::DateTime(t) => Cow::Owned(t.format("%Y-%m-%d %H:%M:%S").to_string()),
        }
    }
}

/// A problem with one value: English and Chinese.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bad {
    pub(crate) en: String,
    pub(crate) zh: String,
}

fn bad(en: String, zh: String) -> Bad {
    Bad { en, zh }
}

/// Full-width ASCII (`Ａ１（`) and the ideographic space folded to their half-width forms.
pub(crate) fn fold_width(s: &str) -> Cow<'_, str> {
    if s.chars().all(|c| !matches!(c, '\u{ff01}'..='\u{ff5e}' | '\u{3000}')) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
                '\u{3000}' => ' ',
                c => c,
            })
            .collect(),
    )
}

/// The key two header names are compared by: width-folded, lower-case, without white space, `_`, `-`, a byte-order
/// mark or a trailing colon. `"退款金额（元）"`, `"退款金额(元)"` and `" 退款金额 (元) "` are the same header;
/// `"Refund ID"` and `"refund_id"` too.
pub fn header_key(header: &str) -> String {
    fold_width(header.trim_start_matches('\u{feff}'))
        .trim()
        .trim_end_matches([':', '：'])
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '\u{feff}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The key a value map compares cells by: trimmed, width-folded, lower-case.
pub(crate) fn value_key(value: &str) -> String {
    fold_width(value.trim()).to_lowercase()
}

/// Text with the spreadsheet-protection wrappers marketplaces put around long numbers removed: `="123"`, a leading
/// `'` or tab.
pub(crate) fn unwrap_code(s: &str) -> &str {
    let s = s.trim();
    let s = s.strip_prefix("=\"").and_then(|r| r.strip_suffix('"')).unwrap_or(s);
    s.trim_start_matches(['\'', '`']).trim()
}

/// The most characters an id (order, refund or review number) may have.
pub const MAX_ID_CHARS: usize = 128;

/// An id from a cell: text or a whole number; a number too large for a spreadsheet to keep exactly is refused.
pub(crate) fn parse_id(cell: &Cell<'_>) -> Result<String, Bad> {
    let s = match cell {
        Cell::Float(f) if f.fract() != 0.0 => {
            return Err(bad(format!("\"{f}\" is not an id"), format!("“{f}”不是有效的编号")));
        }
        Cell::Float(f) if f.abs() >= 9_007_199_254_740_992.0 => {
            return Err(bad(
                "the number was stored as a number and lost its last digits: format the column as text and export again"
                    .into(),
                "编号以数字格式保存，末尾几位已丢失：请把该列设为“文本”格式后重新导出".into(),
            ));
        }
        Cell::Float(f) => (*f as i64).to_string(),
        other => unwrap_code(&other.to_text()).to_owned(),
    };
    let s = fold_width(&s).into_owned();
    if s.chars().count() > MAX_ID_CHARS {
        return Err(bad(
            format!("the id is longer than {MAX_ID_CHARS} characters"),
            format!("编号超过 {MAX_ID_CHARS} 个字符"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(bad("the id contains control characters".into(), "编号含有控制字符".into()));
    }
    Ok(s)
}

/// An amount in the smallest unit (cents, 分) and the currency its text names, if any.
///
/// Accepts `1299`, `1,299.5`, `¥1,299.00`, `￥-12.30`, `1299元`, `CNY 1299`, `US$12`, full-width digits, and
/// spreadsheet numbers. More than two decimals are refused unless they are zeros, or float noise from a spreadsheet
/// formula (eight decimals or more), which is rounded.
pub fn parse_amount(text: &str) -> Option<(i64, Option<&'static str>)> {
    parse_amount_inner(text).ok()
}

pub(crate) fn parse_amount_cell(cell: &Cell<'_>) -> Result<(i64, Option<&'static str>), Bad> {
    match cell {
        Cell::Int(i) => i.checked_mul(100).map(|c| (c, None)).ok_or_else(too_large),
        Cell::Float(f) => {
            let c = f * 100.0;
            if !c.is_finite() || c.abs() > 9e15 {
                return Err(too_large());
            }
            if (c - c.round()).abs() > 1e-6 {
                return Err(bad(format!("\"{f}\" has more than two decimals"), format!("“{f}”的小数超过两位")));
            }
            Ok((c.round() as i64, None))
        }
        other => parse_amount_inner(&other.to_text()),
    }
}

fn too_large() -> Bad {
    bad("the amount is too large".into(), "金额过大".into())
}

/// Currency marks an amount may carry, before or after the number.
const CURRENCY_MARKS: [(&str, &str); 14] = [
    ("CNY", "CNY"),
    ("RMB", "CNY"),
    ("人民币", "CNY"),
    ("US$", "USD"),
    ("USD", "USD"),
    ("HK$", "HKD"),
    ("HKD", "HKD"),
    ("EUR", "EUR"),
    ("€", "EUR"),
    ("JPY", "JPY"),
    ("¥", "CNY"),
    ("￥", "CNY"),
    ("$", "USD"),
    ("元", "CNY"),
];

fn parse_amount_inner(text: &str) -> Result<(i64, Option<&'static str>), Bad> {
    let text = text.trim();
    let not_amount = || {
        bad(
            format!("\"{text}\" is not an amount (e.g. 1299, 1,299.50, ¥1299)"),
            format!("“{text}”不是有效的金额（例如 1299、1,299.50、¥1299）"),
        )
    };
    let folded = fold_width(text);
    let mut s: &str = &folded;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        (negative, s) = (true, rest.trim_start());
    }
    let mut currency = None;
    if let Some((rest, code)) = CURRENCY_MARKS.iter().find_map(|(m, c)| s.strip_prefix(m).map(|r| (r, *c))) {
        (s, currency) = (rest.trim_start(), Some(code));
    }
    if let Some((rest, code)) = CURRENCY_MARKS.iter().find_map(|(m, c)| s.strip_suffix(m).map(|r| (r, *c))) {
        s = rest.trim_end();
        currency.get_or_insert(code);
    }
    if let Some(rest) = s.strip_prefix('-').filter(|_| !negative) {
        (negative, s) = (true, rest.trim_start());
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest.trim_start();
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut groups = whole.split(',');
    let head = groups.next().unwrap_or_default();
    let tail: Vec<&str> = groups.collect();
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !digits(head)
        || !digits(frac)
        || (!tail.is_empty() && (head.is_empty() || head.len() > 3 || tail.iter().any(|g| g.len() != 3 || !digits(g))))
    {
        return Err(not_amount());
    }
    let mut cents_frac = 0i64;
    if frac.len() <= 2 {
        for (i, d) in frac.bytes().enumerate() {
            cents_frac += i64::from(d - b'0') * if i == 0 { 10 } else { 1 };
        }
    } else if frac.bytes().skip(2).all(|d| d == b'0') || frac.len() >= 8 {
        let b = frac.as_bytes();
        cents_frac = i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0') + i64::from(b[2] >= b'5');
    } else {
        return Err(bad(format!("\"{text}\" has more than two decimals"), format!("“{text}”的小数超过两位")));
    }
    let whole: String = whole.chars().filter(|c| *c != ',').collect();
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    let cents = whole.checked_mul(100).and_then(|c| c.checked_add(cents_frac)).ok_or_else(too_large)?;
    Ok((if negative { -cents } else { cents }, currency))
}

/// A fixed UTC offset written `+08:00`, `-0530`, `+8`, `UTC+8` or `Z`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let s = fold_width(text.trim()).to_ascii_uppercase();
    let s = s.strip_prefix("UTC").or_else(|| s.strip_prefix("GMT")).unwrap_or(&s);
    if s.is_empty() || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

const BUILTIN_TIME_FORMATS: [&str; 6] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y%m%d%H%M%S",
];

/// Days from Excel's day 0 (1899-12-30 in the 1900 date system, counting its phantom 1900-02-29) to 1970-01-01.
const EXCEL_UNIX_DAYS: f64 = 25_569.0;

/// A time from text: the mapping's formats first (chrono `strftime` syntax), then RFC 3339 / ISO 8601 with a zone,
/// `2026-11-11 23:59:59[.fff]`, `2026/11/11 23:59`, `2026.11.11`, `2026年11月11日 23:59`, `20261111`, a date alone
/// (the start of the day), Unix seconds (10 digits) or milliseconds (13 digits), and Excel serial days
/// (`46337.5`). Times without a zone are wall-clock times at `offset`.
pub fn parse_time(text: &str, formats: &[String], offset: FixedOffset) -> Option<DateTime<Utc>> {
    let folded = fold_width(text.trim());
    let s: &str = &folded;
    let local = |t: NaiveDateTime| offset.from_local_datetime(&t).single().map(|t| t.with_timezone(&Utc));
    for f in formats {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return local(t);
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return local(d.and_hms_opt(0, 0, 0)?);
        }
    }
    if let Some(t) = plain_time(s) {
        return local(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.len() {
            8 => local(NaiveDate::parse_from_str(s, "%Y%m%d").ok()?.and_hms_opt(0, 0, 0)?),
            10 => DateTime::from_timestamp(s.parse().ok()?, 0),
            13 => DateTime::from_timestamp_millis(s.parse().ok()?),
            14 => local(NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?),
            1..=6 => excel_serial(s.parse().ok()?).and_then(local),
            _ => None,
        };
    }
    if let Ok(serial) = s.parse::<f64>() {
        return excel_serial(serial).and_then(local);
    }
    // Separators of the date part only: a `.` after it starts fractional seconds.
    let s = s.replace(['年', '月'], "-").replace('日', " ");
    let (date, time) = s.split_at(s.find([' ', 'T']).unwrap_or(s.len()));
    let s = format!("{}{time}", date.replace(['/', '.'], "-"));
    let s = s.trim();
    // A zone after a space-separated time (`2026-11-11 23:59:59 +08:00`).
    for f in ["%Y-%m-%d %H:%M:%S %:z", "%Y-%m-%d %H:%M:%S%:z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for f in BUILTIN_TIME_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return local(t);
        }
    }
    local(NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?)
}

/// The most common form, read without chrono's format machinery (exports hold hundreds of thousands of times):
/// `YYYY-M-D[( |T)H:MM[:SS[.f]]]`, with `-`, `/` or `.` between the date's parts.
fn plain_time(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let mut i = 0;
    fn num(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
        let start = *i;
        let mut n = 0u32;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            n = n * 10 + u32::from(b[*i] - b'0');
            *i += 1;
        }
        (*i - start >= min).then_some(n)
    }
    let year = num(b, &mut i, 4, 4)?;
    let sep = *b.get(4).filter(|c| matches!(c, b'-' | b'/' | b'.'))?;
    i += 1;
    let month = num(b, &mut i, 1, 2)?;
    (b.get(i) == Some(&sep)).then_some(())?;
    i += 1;
    let day = num(b, &mut i, 1, 2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if i == b.len() {
        return date.and_hms_opt(0, 0, 0);
    }
    matches!(b[i], b' ' | b'T').then_some(())?;
    i += 1;
    let hour = num(b, &mut i, 1, 2)?;
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    let minute = num(b, &mut i, 2, 2)?;
    let (mut second, mut nanos) = (0, 0);
    if b.get(i) == Some(&b':') {
        i += 1;
        second = num(b, &mut i, 2, 2)?;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let frac = num(b, &mut i, 1, 9)?;
            nanos = frac * 10u32.pow(u32::try_from(9 - (i - start)).ok()?);
        }
    }
    (i == b.len()).then_some(())?;
    date.and_hms_nano_opt(hour, minute, second, nanos)
}

/// An Excel serial day number (1900 date system) as a wall-clock time; only plausible dates (1950–2200).
fn excel_serial(days: f64) -> Option<NaiveDateTime> {
    if !(18_264.0..=110_000.0).contains(&days) {
        return None;
    }
    let millis = ((days - EXCEL_UNIX_DAYS) * 86_400_000.0).round() as i64;
    DateTime::from_timestamp_millis(millis).map(|t| t.naive_utc())
}

pub(crate) fn parse_time_cell(cell: &Cell<'_>, formats: &[String], offset: FixedOffset) -> Result<DateTime<Utc>, Bad> {
    let local = |t: NaiveDateTime| offset.from_local_datetime(&t).single().map(|t| t.with_timezone(&Utc));
    let found = match cell {
        Cell::DateTime(t) => local(*t),
        Cell::Float(f) => excel_serial(*f).and_then(local),
        other => parse_time(&other.to_text(), formats, offset),
    };
    found.ok_or_else(|| {
        let t = cell.to_text();
        bad(
            format!("\"{t}\" is not a time (e.g. 2026-11-11 23:59:59, 2026/11/11 23:59, RFC 3339)"),
            format!("“{t}”不是有效的时间（例如 2026-11-11 23:59:59、2026/11/11 23:59）"),
        )
    })
}

/// A rating from 1 to 5: `4`, `4.0`, `4星`, `4分`, `★★★★☆`, `好评` (5), `中评` (3), `差评` (1).
pub fn parse_rating(text: &str) -> Option<u8> {
    let s = fold_width(text.trim()).to_lowercase();
    let s = s.trim();
    let stars = s.chars().filter(|c| *c == '★').count();
    if stars > 0 && s.chars().all(|c| matches!(c, '★' | '☆')) {
        return u8::try_from(stars).ok().filter(|n| (1..=5).contains(n));
    }
    let n = match s {
        "好评" | "positive" | "good" => 5,
        "中评" | "neutral" | "average" => 3,
        "差评" | "negative" | "bad" => 1,
        _ => {
            let digits =
                s.trim_end_matches(['星', '分', '颗']).trim_end_matches("stars").trim_end_matches("star").trim();
            let digits = digits.strip_suffix(".0").unwrap_or(digits);
            digits.parse::<u8>().ok()?
        }
    };
    (1..=5).contains(&n).then_some(n)
}

pub(crate) fn parse_rating_cell(cell: &Cell<'_>) -> Result<u8, Bad> {
    let found = match cell {
        Cell::Int(i) => u8::try_from(*i).ok().filter(|n| (1..=5).contains(n)),
        Cell::Float(f) if f.fract() == 0.0 && (1.0..=5.0).contains(f) => Some(*f as u8),
        other => parse_rating(&other.to_text()),
    };
    found.ok_or_else(|| {
        let t = cell.to_text();
        bad(format!("\"{t}\" is not a rating from 1 to 5"), format!("“{t}”不是 1 到 5 的评分"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).expect("a valid offset")
    }

    #[test]
    fn header_keys_ignore_width_case_spaces_and_separators() {
        assert_eq!(header_key("退款金额（元）"), header_key(" 退款金额 (元) "));
        assert_eq!(header_key("Refund ID"), header_key("refund_id"));
        assert_eq!(header_key("\u{feff}ＯＲＤＥＲ－ＮＯ："), "orderno");
        assert_ne!(header_key("订单号"), header_key("订单编号"));
    }

    #[test]
    fn amounts_are_exact_cents() {
        let cases = [
            ("1299", 129_900, None),
            ("1,299.5", 129_950, None),
            ("¥1,299.00", 129_900, Some("CNY")),
            ("￥-12.30", -1_230, Some("CNY")),
            ("１２９９元", 129_900, Some("CNY")),
            ("CNY 0.05", 5, Some("CNY")),
            ("US$12", 1_200, Some("USD")),
            (".5", 50, None),
            ("12.3400", 1_234, None),
            ("19.990000000000002", 1_999, None),
            ("1,234,567.89", 123_456_789, None),
        ];
        for (text, cents, currency) in cases {
            assert_eq!(parse_amount(text), Some((cents, currency)), "{text}");
        }
        for text in ["", "abc", "12.345", "1,2,3", "12,34.5", "1.2.3", "¥", "--1", "1e5", ",123"] {
            assert_eq!(parse_amount(text), None, "{text}");
        }
        assert_eq!(parse_amount_cell(&Cell::Float(19.99)), Ok((1_999, None)));
        assert_eq!(parse_amount_cell(&Cell::Float(0.1 + 0.2)), Ok((30, None)));
        assert!(parse_amount_cell(&Cell::Float(1.005)).is_err());
        assert!(parse_amount("99999999999999999999").is_none());
    }

    #[test]
    fn times_accept_the_common_export_forms() {
        let at = |s: &str| parse_time(s, &[], cst()).map(|t| t.to_rfc3339());
        let want = Some("2026-11-11T15:59:59+00:00".to_owned());
        for s in [
            "2026-11-11 23:59:59",
            "2026/11/11 23:59:59",
            "2026.11.11 23:59:59",
            "2026年11月11日 23:59:59",
            "2026-11-11T23:59:59+08:00",
            "2026-11-11T15:59:59Z",
            "2026-11-11 23:59:59 +08:00",
            "20261111235959",
            "1794412799",
            "1794412799000",
            "２０２６-11-11 23:59:59",
        ] {
            assert_eq!(at(s), want, "{s}");
        }
        assert_eq!(at("2026/1/5 9:03").as_deref(), Some("2026-01-05T01:03:00+00:00"));
        assert_eq!(at("2026-11-11").as_deref(), Some("2026-11-10T16:00:00+00:00"));
        assert_eq!(at("2026-11-11 23:59:59.5").as_deref(), Some("2026-11-11T15:59:59.500+00:00"));
        // Excel serial 46337.5 = 2026-11-11 12:00 local.
        assert_eq!(at("46337.5").as_deref(), Some("2026-11-11T04:00:00+00:00"));
        assert_eq!(at("2026-11-11T23:59").as_deref(), Some("2026-11-11T15:59:00+00:00"));
        assert_eq!(at("2026.1.5").as_deref(), Some("2026-01-04T16:00:00+00:00"));
        for s in ["2026-11/11", "2026-11-11 24:00", "2026-11-11 10:5", "2026-11-11 10:00:00.", "2026-11-11 10:00 x"] {
            assert_eq!(plain_time(s), None, "{s}");
        }
        assert_eq!(at("11/11/2026"), None);
        assert_eq!(at("tomorrow"), None);
        assert_eq!(at("2026-02-30 10:00"), None);
        let us = ["%m/%d/%Y %I:%M %p".to_owned()];
        assert_eq!(
            parse_time("11/11/2026 11:59 PM", &us, cst()).map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-11T15:59:00+00:00")
        );
    }

    #[test]
    fn offsets_and_ratings() {
        assert_eq!(parse_offset("+08:00"), FixedOffset::east_opt(28_800));
        assert_eq!(parse_offset("UTC+8"), FixedOffset::east_opt(28_800));
        assert_eq!(parse_offset("-0530"), FixedOffset::east_opt(-19_800));
        assert_eq!(parse_offset("Z"), FixedOffset::east_opt(0));
        assert_eq!(parse_offset("+25:00"), None);
        assert_eq!(parse_offset("8"), None);
        for (s, n) in
            [("4", 4), ("4.0", 4), ("4星", 4), ("５分", 5), ("★★☆☆☆", 2), ("差评", 1), ("好评", 5), ("3 stars", 3)]
        {
            assert_eq!(parse_rating(s), Some(n), "{s}");
        }
        for s in ["0", "6", "", "☆☆☆☆☆", "great"] {
            assert_eq!(parse_rating(s), None, "{s}");
        }
    }

    #[test]
    fn ids_lose_their_spreadsheet_wrappers_and_refuse_lost_digits() {
        assert_eq!(parse_id(&Cell::Text("=\"2026111100012345678\"".into())), Ok("2026111100012345678".into()));
        assert_eq!(parse_id(&Cell::Text("'R2026-001 ".into())), Ok("R2026-001".into()));
        assert_eq!(parse_id(&Cell::Float(123_456.0)), Ok("123456".into()));
        assert_eq!(parse_id(&Cell::Int(42)), Ok("42".into()));
        assert!(parse_id(&Cell::Float(2.026_111_100_012_345e18)).is_err());
    }
}
