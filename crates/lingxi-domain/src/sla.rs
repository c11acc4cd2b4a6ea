//! Service-level agreements: business calendars, SLA clocks with pauses, and the policy that applies to a ticket.
//!
//! Pure: every instant is passed in as a `DateTime<Utc>`; nothing reads the clock.
//!
//! # Business time
//!
//! A [`BusinessCalendar`] names an IANA time zone (`Asia/Shanghai`, `Europe/Berlin`…), the opening hours of each
//! weekday in local time (zero or more `[start, end)` ranges, e.g. `09:00-12:00` and `13:00-18:00`), the public
//! holidays (no business time at all) and the make-up working days (调休: a weekend day worked in exchange for a
//! holiday, with its own hours). A holiday wins over everything; a make-up day replaces its weekday's hours.
//! [`Calendar::Always`] is plain elapsed time (24×7).
//!
//! Opening hours are converted to UTC day by day with the zone's rules, so a day that loses or gains an hour to
//! daylight saving has 23 or 25 hours of business time when it is open around the clock. A local time that does
//! not exist (skipped by the clocks going forward) is taken as the instant the clocks jumped; a local time that
//! happens twice (the clocks going back) is taken at its first occurrence, so consecutive ranges never overlap.
//!
//! The calculations step over whole days (a few range conversions per day), never minute by minute: about 30 µs
//! per month of calendar in a debug build. They are exact to the nanosecond. Spans longer than [`MAX_SPAN`] are no
//! deadline at all: [`Calendar::add_business`] then answers `DateTime::<Utc>::MAX_UTC`.
//!
//! # Clocks
//!
//! A [`SlaClock`] measures one target (first response, resolution) from a start instant, minus the business time
//! spent in pauses (waiting for the customer), up to an optional completion instant. Its deadline is the first
//! instant at which the elapsed business time reaches the target; the target is breached from the instant after.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::Lang;
use crate::ticket::{Condition, TicketFacts, TicketStatus};

const DAY_SECONDS: u32 = 86_400;

/// The longest span the calendar computes over (100 years); longer deadlines saturate to
/// `DateTime::<Utc>::MAX_UTC`, longer intervals are cut to it.
pub const MAX_SPAN: TimeDelta = TimeDelta::days(36_525);

/// Why a calendar (or one of its opening-hour ranges) is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A range is not `HH:MM-HH:MM` with the start before the end.
    #[error("`{0}` is not an opening-hours range like 09:00-18:00 (the end may be 24:00)")]
    BadRange(String),
    /// Two ranges of one day overlap.
    #[error("the opening hours of {0} overlap")]
    Overlap(String),
    /// No weekday has opening hours.
    #[error("the calendar has no opening hours on any weekday")]
    NoOpeningHours,
    /// A date is both a holiday and a make-up working day.
    #[error("{0} is both a holiday and a make-up working day")]
    HolidayAndWorkday(NaiveDate),
    /// A make-up working day without hours.
    #[error("the make-up working day {0} has no opening hours")]
    EmptyWorkday(NaiveDate),
    /// Not an IANA time zone name.
    #[error("`{0}` is not an IANA time zone (such as Asia/Shanghai)")]
    UnknownTimeZone(String),
}

impl CalendarError {
    /// The message for the administrator, in their language (`Display` is the English one).
    pub fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::En => {
                let s = self.to_string();
                let mut c = s.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>() + ".").unwrap_or_default()
            }
            Lang::Zh => match self {
                CalendarError::BadRange(v) => {
                    format!("“{v}”不是有效的营业时间段，格式如 09:00-18:00（结束可写 24:00）")
                }
                CalendarError::Overlap(day) => format!("{day} 的营业时间段有重叠"),
                CalendarError::NoOpeningHours => "日历没有任何工作日的营业时间".to_owned(),
                CalendarError::HolidayAndWorkday(d) => format!("{d} 不能既是节假日又是调休工作日"),
                CalendarError::EmptyWorkday(d) => format!("调休工作日 {d} 没有营业时间"),
                CalendarError::UnknownTimeZone(v) => format!("“{v}”不是有效的时区（如 Asia/Shanghai）"),
            },
        }
    }
}

/// Opening hours within one local day: `[start, end)`, to the second; the end may be midnight of the next day
/// (`24:00`). Written `HH:MM-HH:MM` (seconds optional: `HH:MM:SS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeRange {
    start: u32,
    end: u32,
}

impl TimeRange {
    /// `[start, end)` in local time; an `end` of 00:00 means midnight at the end of the day.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<TimeRange, CalendarError> {
        let s = start.num_seconds_from_midnight();
        let e = match end.num_seconds_from_midnight() {
            0 => DAY_SECONDS,
            e => e,
        };
        TimeRange::from_seconds(s, e)
    }

    /// `[start, end)` in seconds from local midnight (`end` at most 86,400).
    pub fn from_seconds(start: u32, end: u32) -> Result<TimeRange, CalendarError> {
        if start < end && end <= DAY_SECONDS {
            Ok(TimeRange { start, end })
        } else {
            Err(CalendarError::BadRange(format!("{}-{}", clock(start), clock(end))))
        }
    }

    /// `[start_hour:start_minute, end_hour:end_minute)`; `end_hour` may be 24 (with 0 minutes).
    pub fn hm(start_hour: u32, start_minute: u32, end_hour: u32, end_minute: u32) -> Result<TimeRange, CalendarError> {
        if start_minute >= 60 || end_minute >= 60 {
            return Err(CalendarError::BadRange(format!("{start_hour}:{start_minute}-{end_hour}:{end_minute}")));
        }
        TimeRange::from_seconds(start_hour * 3600 + start_minute * 60, end_hour * 3600 + end_minute * 60)
    }

    /// Seconds from local midnight at which it opens.
    pub fn start_seconds(self) -> u32 {
        self.start
    }

    /// Seconds from local midnight at which it closes (86,400 for midnight).
    pub fn end_seconds(self) -> u32 {
        self.end
    }

    /// Its length on a day without a daylight-saving change.
    pub fn duration(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.end - self.start))
    }
}

fn clock(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 { format!("{h:02}:{m:02}") } else { format!("{h:02}:{m:02}:{s:02}") }
}

fn parse_clock(text: &str) -> Option<u32> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let num = |p: &str| if p.len() <= 2 && !p.is_empty() { p.parse::<u32>().ok() } else { None };
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (num(h)?, num(m)?, 0),
        [h, m, s] => (num(h)?, num(m)?, num(s)?),
        _ => return None,
    };
    (m < 60 && s < 60 && (h < 24 || (h == 24 && m == 0 && s == 0))).then_some(h * 3600 + m * 60 + s)
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

impl FromStr for TimeRange {
    type Err = CalendarError;

    /// Parses `09:00-18:00` (also with seconds, `～`/`–`/`至` as separator, and `24:00` as the end).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CalendarError::BadRange(s.to_owned());
        let (a, b) = s.split_once(['-', '–', '～', '~', '至']).ok_or_else(bad)?;
        let start = parse_clock(a).ok_or_else(bad)?;
        let end = parse_clock(b).ok_or_else(bad)?;
        TimeRange::from_seconds(start, end).map_err(|_| bad())
    }
}

impl TryFrom<String> for TimeRange {
    type Error = CalendarError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TimeRange> for String {
    fn from(value: TimeRange) -> Self {
        value.to_string()
    }
}

/// Sorts ranges and refuses overlaps (touching ranges, like 09:00-12:00 and 12:00-18:00, are fine).
fn check_ranges(mut ranges: Vec<TimeRange>, day: impl Fn() -> String) -> Result<Vec<TimeRange>, CalendarError> {
    ranges.sort();
    ranges.dedup();
    if ranges.windows(2).any(|w| w[1].start < w[0].end) {
        return Err(CalendarError::Overlap(day()));
    }
    Ok(ranges)
}

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The stored form of a [`BusinessCalendar`]: plain values as an administrator enters them, checked by
/// `BusinessCalendar::try_from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// IANA time zone name (`Asia/Shanghai`).
    pub timezone: String,
    /// Opening hours per weekday, Monday first.
    pub weekly: [Vec<TimeRange>; 7],
    /// Days without business time (local dates).
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// Make-up working days (调休) with their hours.
    #[serde(default)]
    pub makeup_workdays: BTreeMap<NaiveDate, Vec<TimeRange>>,
}

/// Opening hours in a time zone, with holidays and make-up working days. Always valid: built by
/// [`BusinessCalendar::new`] or from a [`CalendarSpec`], which check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    tz: Tz,
    weekly: [Vec<TimeRange>; 7],
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeMap<NaiveDate, Vec<TimeRange>>,
}

impl BusinessCalendar {
    /// A calendar with these weekly hours (Monday first), without holidays. At least one weekday must be open.
    pub fn new(tz: Tz, weekly: [Vec<TimeRange>; 7]) -> Result<BusinessCalendar, CalendarError> {
        let mut checked: [Vec<TimeRange>; 7] = Default::default();
        for (i, (slot, ranges)) in checked.iter_mut().zip(weekly).enumerate() {
            *slot = check_ranges(ranges, || WEEKDAYS[i].to_owned())?;
        }
        if checked.iter().all(Vec::is_empty) {
            return Err(CalendarError::NoOpeningHours);
        }
        Ok(BusinessCalendar { tz, weekly: checked, holidays: BTreeSet::new(), workdays: BTreeMap::new() })
    }

    /// Monday to Friday with the same hours (e.g. `09:00-12:00` and `13:00-18:00`).
    pub fn weekdays(tz: Tz, hours: &[TimeRange]) -> Result<BusinessCalendar, CalendarError> {
        let mut weekly: [Vec<TimeRange>; 7] = Default::default();
        for day in weekly.iter_mut().take(5) {
            *day = hours.to_vec();
        }
        BusinessCalendar::new(tz, weekly)
    }

    /// Adds holidays (no business time on these local dates).
    pub fn with_holidays(
        mut self,
        dates: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<BusinessCalendar, CalendarError> {
        for d in dates {
            if self.workdays.contains_key(&d) {
                return Err(CalendarError::HolidayAndWorkday(d));
            }
            self.holidays.insert(d);
        }
        Ok(self)
    }

    /// Adds a make-up working day (调休) with these hours, in place of its weekday's.
    pub fn with_makeup_workday(
        mut self,
        date: NaiveDate,
        hours: Vec<TimeRange>,
    ) -> Result<BusinessCalendar, CalendarError> {
        if self.holidays.contains(&date) {
            return Err(CalendarError::HolidayAndWorkday(date));
        }
        if hours.is_empty() {
            return Err(CalendarError::EmptyWorkday(date));
        }
        let hours = check_ranges(hours, || date.to_string())?;
        self.workdays.insert(date, hours);
        Ok(self)
    }

    /// The time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The weekly hours, Monday first.
    pub fn weekly(&self) -> &[Vec<TimeRange>; 7] {
        &self.weekly
    }

    /// The holidays.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// The make-up working days and their hours.
    pub fn makeup_workdays(&self) -> &BTreeMap<NaiveDate, Vec<TimeRange>> {
        &self.workdays
    }

    /// The opening hours of a local date: none on a holiday, the make-up hours on a make-up day, else its
    /// weekday's.
    pub fn hours_on(&self, date: NaiveDate) -> &[TimeRange] {
        if self.holidays.contains(&date) {
            &[]
        } else if let Some(hours) = self.workdays.get(&date) {
            hours
        } else {
            &self.weekly[date.weekday().num_days_from_monday() as usize]
        }
    }

    /// The local date of an instant.
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant of `secs` after local midnight of `date` (see the module documentation for skipped and repeated
    /// local times). `None` past the end of representable time.
    fn instant(&self, date: NaiveDate, secs: u32) -> Option<DateTime<Utc>> {
        let local = date.and_time(NaiveTime::MIN).checked_add_signed(TimeDelta::seconds(i64::from(secs)))?;
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => self.gap_end(local),
        }
    }

    /// The first instant whose local time is at or after `local`, a local time skipped by the clocks going forward
    /// (found by bisection over the surrounding two days, to the second).
    fn gap_end(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0);
        let reached = |s: i64| at(s).is_some_and(|u| u.with_timezone(&self.tz).naive_local() >= local);
        let mid = local.and_utc().timestamp();
        let (mut lo, mut hi) = (mid - i64::from(DAY_SECONDS), mid + i64::from(DAY_SECONDS));
        if reached(lo) || !reached(hi) {
            return None;
        }
        while hi - lo > 1 {
            let m = lo + (hi - lo) / 2;
            if reached(m) { hi = m } else { lo = m }
        }
        at(hi)
    }

    /// The business-time spans of a local date, in UTC, in order.
    fn spans_on(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.hours_on(date).iter().filter_map(move |r| {
            let s = self.instant(date, r.start)?;
            let e = self.instant(date, r.end).unwrap_or(DateTime::<Utc>::MAX_UTC);
            (e > s).then_some((s, e))
        })
    }

    fn add_business(&self, start: DateTime<Utc>, duration: TimeDelta) -> DateTime<Utc> {
        let mut remaining = duration;
        let mut day = self.local_date(start);
        // A calendar open a few seconds a week could need millennia: stop past MAX_SPAN.
        let limit = day.checked_add_signed(MAX_SPAN).unwrap_or(NaiveDate::MAX);
        while day <= limit {
            for (s, e) in self.spans_on(day) {
                if e <= start {
                    continue;
                }
                let s = s.max(start);
                let available = e - s;
                if remaining <= available {
                    return s + remaining;
                }
                remaining -= available;
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        DateTime::<Utc>::MAX_UTC
    }

    fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        let mut total = TimeDelta::zero();
        let mut day = self.local_date(a);
        // A repeated local hour can put the start of the next local day before `b`.
        let last = self.local_date(b).succ_opt().unwrap_or(NaiveDate::MAX);
        while day <= last {
            for (s, e) in self.spans_on(day) {
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    total += e - s;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    fn is_open(&self, t: DateTime<Utc>) -> bool {
        let day = self.local_date(t);
        [Some(day), day.succ_opt()].into_iter().flatten().any(|d| self.spans_on(d).any(|(s, e)| s <= t && t < e))
    }
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = CalendarError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        let tz: Tz = spec.timezone.trim().parse().map_err(|_| CalendarError::UnknownTimeZone(spec.timezone.clone()))?;
        let mut cal = BusinessCalendar::new(tz, spec.weekly)?;
        for (date, hours) in spec.makeup_workdays {
            cal = cal.with_makeup_workday(date, hours)?;
        }
        cal.with_holidays(spec.holidays)
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(cal: BusinessCalendar) -> Self {
        CalendarSpec {
            timezone: cal.tz.name().to_owned(),
            weekly: cal.weekly,
            holidays: cal.holidays,
            makeup_workdays: cal.workdays,
        }
    }
}

/// The clock an SLA target is measured on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Calendar {
    /// Every second counts (24×7).
    Always,
    /// Only opening hours count.
    Business(Box<BusinessCalendar>),
}

impl From<BusinessCalendar> for Calendar {
    fn from(cal: BusinessCalendar) -> Self {
        Calendar::Business(Box::new(cal))
    }
}

static ALWAYS: Calendar = Calendar::Always;

impl Calendar {
    /// The deadline: the first instant at which `duration` of business time has elapsed after `start`.
    ///
    /// A zero (or negative) duration gives `start` itself, even outside opening hours; a deadline that lands on the
    /// end of a range is that end (18:00 on Monday, not the opening on Tuesday). Beyond [`MAX_SPAN`]:
    /// `DateTime::<Utc>::MAX_UTC`.
    pub fn add_business(&self, start: DateTime<Utc>, duration: TimeDelta) -> DateTime<Utc> {
        if duration <= TimeDelta::zero() {
            return start;
        }
        if duration > MAX_SPAN {
            return DateTime::<Utc>::MAX_UTC;
        }
        match self {
            Calendar::Always => start.checked_add_signed(duration).unwrap_or(DateTime::<Utc>::MAX_UTC),
            Calendar::Business(cal) => {
                let due = cal.add_business(start, duration);
                if due - start > MAX_SPAN { DateTime::<Utc>::MAX_UTC } else { due }
            }
        }
    }

    /// The business time in `[a, b)`; zero when `b` is not after `a`. `b` is cut to `a` + [`MAX_SPAN`].
    pub fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        if b <= a {
            return TimeDelta::zero();
        }
        let b = a.checked_add_signed(MAX_SPAN).map_or(b, |cap| b.min(cap));
        match self {
            Calendar::Always => b - a,
            Calendar::Business(cal) => cal.business_between(a, b),
        }
    }

    /// Whether `t` is within opening hours.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        match self {
            Calendar::Always => true,
            Calendar::Business(cal) => cal.is_open(t),
        }
    }

    /// The first instant at or after `t` within opening hours ("we reply from 09:00 on Monday").
    pub fn next_open(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Calendar::Always => t,
            Calendar::Business(cal) if cal.is_open(t) => t,
            Calendar::Business(cal) => {
                // The instant just after one nanosecond of business time, minus that nanosecond.
                cal.add_business(t, TimeDelta::nanoseconds(1)) - TimeDelta::nanoseconds(1)
            }
        }
    }
}

/// A period during which an SLA clock stands still (the ticket waits for the customer); `to` is `None` while it
/// lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When it began.
    pub from: DateTime<Utc>,
    /// When it ended, if it has.
    pub to: Option<DateTime<Utc>>,
}

/// When an SLA clock warns that the deadline is near.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum WarnBefore {
    /// When at most this share of the target remains (0.25: the last quarter).
    Fraction(f64),
    /// When at most this much business time remains (serialised in seconds).
    #[serde(with = "secs")]
    Remaining(TimeDelta),
}

impl Default for WarnBefore {
    /// The last quarter of the target: 2 h of an 8 h resolution promise, 15 min of a 1 h first response.
    fn default() -> Self {
        WarnBefore::Fraction(0.25)
    }
}

impl WarnBefore {
    /// The remaining business time at or below which the clock warns.
    pub fn threshold(self, target: TimeDelta) -> TimeDelta {
        match self {
            WarnBefore::Fraction(f) => {
                let f = if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 };
                TimeDelta::milliseconds((target.num_milliseconds() as f64 * f).round() as i64)
            }
            WarnBefore::Remaining(d) => d,
        }
    }
}

/// Where an SLA target stands at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SlaState {
    /// Running, with more than the warning threshold left.
    Ok {
        /// The deadline.
        due: DateTime<Utc>,
        /// Business time left.
        #[serde(with = "secs", rename = "remaining_secs")]
        remaining: TimeDelta,
    },
    /// Running, with at most the warning threshold left.
    Warning {
        /// The deadline.
        due: DateTime<Utc>,
        /// Business time left.
        #[serde(with = "secs", rename = "remaining_secs")]
        remaining: TimeDelta,
    },
    /// The deadline has passed (before completion, or it is still open).
    Breached {
        /// The deadline that was missed.
        due: DateTime<Utc>,
        /// Business time beyond the target (zero just after a deadline at closing time, until the next opening).
        #[serde(with = "secs", rename = "overdue_secs")]
        overdue: TimeDelta,
    },
    /// Paused (waiting for the customer) with the target not reached; no deadline until it resumes.
    Paused {
        /// Business time left.
        #[serde(with = "secs", rename = "remaining_secs")]
        remaining: TimeDelta,
    },
    /// Completed in time.
    Met {
        /// When it was completed.
        at: DateTime<Utc>,
        /// Business time that was left.
        #[serde(with = "secs", rename = "remaining_secs")]
        remaining: TimeDelta,
    },
}

impl SlaState {
    /// The deadline, when there is one.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        match self {
            SlaState::Ok { due, .. } | SlaState::Warning { due, .. } | SlaState::Breached { due, .. } => Some(*due),
            SlaState::Paused { .. } | SlaState::Met { .. } => None,
        }
    }

    /// The name shown to people.
    pub fn label(&self, lang: Lang) -> &'static str {
        match (self, lang) {
            (SlaState::Ok { .. }, Lang::Zh) => "正常",
            (SlaState::Warning { .. }, Lang::Zh) => "即将超时",
            (SlaState::Breached { .. }, Lang::Zh) => "已超时",
            (SlaState::Paused { .. }, Lang::Zh) => "已暂停",
            (SlaState::Met { .. }, Lang::Zh) => "已达成",
            (SlaState::Ok { .. }, Lang::En) => "On track",
            (SlaState::Warning { .. }, Lang::En) => "Due soon",
            (SlaState::Breached { .. }, Lang::En) => "Breached",
            (SlaState::Paused { .. }, Lang::En) => "Paused",
            (SlaState::Met { .. }, Lang::En) => "Met",
        }
    }
}

/// One SLA target measured from a start instant on a calendar, standing still during pauses, up to an optional
/// completion (the first reply, the solve).
#[derive(Clone, Debug)]
pub struct SlaClock<'a> {
    calendar: &'a Calendar,
    target: TimeDelta,
    start: DateTime<Utc>,
    /// Sorted, disjoint, within `[start, completed_at)`; an open pause is last.
    pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    completed_at: Option<DateTime<Utc>>,
}

impl<'a> SlaClock<'a> {
    /// A clock for `target` from `start`. Pauses may come in any order and overlap; parts before `start` are
    /// ignored, as are pauses that end before they begin.
    pub fn new(calendar: &'a Calendar, target: TimeDelta, start: DateTime<Utc>, pauses: &[Pause]) -> SlaClock<'a> {
        let mut clock =
            SlaClock { calendar, target: target.max(TimeDelta::zero()), start, pauses: Vec::new(), completed_at: None };
        clock.set_pauses(pauses);
        clock
    }

    /// The same clock, completed at `at` (the target was fulfilled then; pauses after it no longer matter).
    pub fn completed_at(mut self, at: Option<DateTime<Utc>>) -> SlaClock<'a> {
        let pauses: Vec<Pause> = self.pauses.iter().map(|&(from, to)| Pause { from, to }).collect();
        self.completed_at = at.map(|a| a.max(self.start));
        self.set_pauses(&pauses);
        self
    }

    fn set_pauses(&mut self, pauses: &[Pause]) {
        let end = self.completed_at;
        let mut list: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = pauses
            .iter()
            .filter(|p| p.to.is_none_or(|to| to > p.from && to > self.start))
            .map(|p| (p.from.max(self.start), p.to))
            .filter(|(from, _)| end.is_none_or(|e| *from < e))
            .collect();
        list.sort_by_key(|p| p.0);
        let mut merged: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::with_capacity(list.len());
        for (from, to) in list {
            match merged.last_mut() {
                Some((_, last_to)) if last_to.is_none_or(|t| from <= t) => {
                    *last_to = match (*last_to, to) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                _ => merged.push((from, to)),
            }
        }
        self.pauses = merged;
    }

    /// The target.
    pub fn target(&self) -> TimeDelta {
        self.target
    }

    /// The start.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The business time the clock has run by `at` (not counting pauses, nor anything after completion).
    pub fn elapsed_at(&self, at: DateTime<Utc>) -> TimeDelta {
        let at = self.completed_at.map_or(at, |c| at.min(c));
        let mut total = TimeDelta::zero();
        let mut cursor = self.start;
        for &(from, to) in &self.pauses {
            if from >= at {
                break;
            }
            total += self.calendar.business_between(cursor, from);
            match to {
                Some(to) => cursor = to,
                None => return total,
            }
        }
        total + self.calendar.business_between(cursor, at)
    }

    /// The deadline: the first instant at which the elapsed business time reaches the target. `None` while the
    /// clock is paused without having reached it (a pause that has not ended).
    pub fn due(&self) -> Option<DateTime<Utc>> {
        let mut remaining = self.target;
        let mut cursor = self.start;
        for &(from, to) in &self.pauses {
            let available = self.calendar.business_between(cursor, from);
            if remaining <= available {
                break;
            }
            remaining -= available;
            cursor = to?;
        }
        Some(self.calendar.add_business(cursor, remaining))
    }

    /// The state at `now` (`now` after the completion gives the final verdict).
    pub fn state_at(&self, now: DateTime<Utc>, warn: WarnBefore) -> SlaState {
        let due = self.due();
        if let Some(done) = self.completed_at.filter(|c| *c <= now) {
            let elapsed = self.elapsed_at(done);
            return match due {
                Some(due) if done > due => SlaState::Breached { due, overdue: elapsed - self.target },
                _ => SlaState::Met { at: done, remaining: self.target - elapsed },
            };
        }
        let elapsed = self.elapsed_at(now);
        match due {
            Some(due) if now > due => SlaState::Breached { due, overdue: elapsed - self.target },
            Some(due) => {
                let remaining = self.target - elapsed;
                if remaining <= warn.threshold(self.target) {
                    SlaState::Warning { due, remaining }
                } else {
                    SlaState::Ok { due, remaining }
                }
            }
            None => SlaState::Paused { remaining: self.target - elapsed },
        }
    }
}

/// A ticket entering a status at an instant; a ticket's history is a list of them, the first being its creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The status entered.
    pub status: TicketStatus,
}

/// The pauses of the resolution clock in a status history (sorted by time): every period in a status in which the
/// clock does not run ([`TicketStatus::sla_clock_runs`]: pending, and solved before a reopen), and the completion:
/// when the ticket was last solved, if it still is (solved or closed).
pub fn resolution_pauses(history: &[StatusChange]) -> (Vec<Pause>, Option<DateTime<Utc>>) {
    let mut pauses = Vec::new();
    let mut paused_since: Option<DateTime<Utc>> = None;
    let mut solved_since: Option<DateTime<Utc>> = None;
    for change in history {
        let runs = change.status.sla_clock_runs();
        match (runs, paused_since) {
            (false, None) => paused_since = Some(change.at),
            (true, Some(from)) => {
                pauses.push(Pause { from, to: Some(change.at) });
                paused_since = None;
            }
            _ => {}
        }
        match (change.status.is_unsolved(), solved_since) {
            (false, None) => solved_since = Some(change.at),
            (true, Some(_)) => solved_since = None,
            _ => {}
        }
    }
    if let Some(from) = paused_since {
        pauses.push(Pause { from, to: None });
    }
    (pauses, solved_since)
}

/// The promise made to a set of tickets: targets for the first reply and the resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// The name the administrator gave it.
    pub name: String,
    /// Which tickets it covers (all must hold; none covers every ticket). Usually priority, category and customer
    /// tier, but any rule condition works.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Time to the first public reply (serialised in seconds).
    #[serde(with = "opt_secs", rename = "first_response_secs", default)]
    pub first_response: Option<TimeDelta>,
    /// Time to solve, not counting time waiting for the customer (serialised in seconds).
    #[serde(with = "opt_secs", rename = "resolution_secs", default)]
    pub resolution: Option<TimeDelta>,
    /// Whether the targets count business hours (the tenant's calendar) or every hour.
    pub business_hours: bool,
    /// When the clocks warn.
    #[serde(default)]
    pub warn_before: WarnBefore,
    /// What happens on a breach.
    #[serde(default)]
    pub escalation: Escalation,
}

/// What a breach of a policy does, besides recording it in the ticket's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Raise the priority one level (default on).
    #[serde(default = "yes")]
    pub raise_priority: bool,
    /// Move the ticket to this group (an id), where it is assigned again.
    #[serde(default)]
    pub reassign_group_id: Option<String>,
    /// Tell the supervisors' system: an HTTP(S) URL that receives `POST {"event":"sla.breach",…}` (retried until it
    /// answers 2xx).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Tell people by e-mail (at most 10 addresses), when the server sends e-mail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_to: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation { raise_priority: true, reassign_group_id: None, webhook_url: None, email_to: Vec::new() }
    }
}

impl SlaPolicy {
    /// Whether the policy covers a ticket.
    pub fn matches(&self, facts: &TicketFacts) -> bool {
        self.conditions.iter().all(|c| c.matches(facts))
    }

    /// The calendar its targets are measured on: the tenant's business calendar, or [`Calendar::Always`].
    pub fn calendar<'a>(&self, business: &'a Calendar) -> &'a Calendar {
        if self.business_hours { business } else { &ALWAYS }
    }

    /// The first-response clock of a ticket created at `created_at`, completed by the first public reply.
    pub fn first_response_clock<'a>(
        &self,
        business: &'a Calendar,
        created_at: DateTime<Utc>,
        first_reply_at: Option<DateTime<Utc>>,
    ) -> Option<SlaClock<'a>> {
        let target = self.first_response?;
        Some(SlaClock::new(self.calendar(business), target, created_at, &[]).completed_at(first_reply_at))
    }

    /// The resolution clock of a ticket with this status history (the first change is its creation): paused while
    /// pending (and while solved, if it was reopened), completed when it was last solved.
    pub fn resolution_clock<'a>(&self, business: &'a Calendar, history: &[StatusChange]) -> Option<SlaClock<'a>> {
        let target = self.resolution?;
        let created = history.first()?.at;
        let (pauses, completed) = resolution_pauses(history);
        Some(SlaClock::new(self.calendar(business), target, created, &pauses).completed_at(completed))
    }
}

/// The policy for a ticket: the first, in the administrator's order, whose conditions all hold.
pub fn pick_policy<'a>(policies: &'a [SlaPolicy], facts: &TicketFacts) -> Option<&'a SlaPolicy> {
    policies.iter().find(|p| p.matches(facts))
}

/// Serde of a duration as whole seconds.
mod secs {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &TimeDelta, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
        let secs = i64::deserialize(d)?;
        TimeDelta::try_seconds(secs).ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}

/// Serde of an optional duration as whole seconds.
mod opt_secs {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<TimeDelta>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.num_seconds()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TimeDelta>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            Some(secs) => {
                TimeDelta::try_seconds(secs).map(Some).ok_or_else(|| serde::de::Error::custom("duration out of range"))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::{Field, Op, TicketPriority};
    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Shanghai;
    use proptest::prelude::*;

    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, s).single().expect("an unambiguous local time").with_timezone(&Utc)
    }

    /// Shanghai wall-clock time.
    fn sh(mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        local(Shanghai, 2025, mo, d, h, mi, 0)
    }

    fn hours(h: i64) -> TimeDelta {
        TimeDelta::hours(h)
    }

    fn minutes(m: i64) -> TimeDelta {
        TimeDelta::minutes(m)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
    }

    fn range(s: &str) -> TimeRange {
        s.parse().expect("a valid range")
    }

    fn office_hours() -> Vec<TimeRange> {
        vec![range("09:00-12:00"), range("13:00-18:00")]
    }

    /// Shanghai, Monday to Friday 09:00-12:00 and 13:00-18:00, with the 2025 Spring Festival: holidays from
    /// 28 January to 4 February, make-up working days on Sunday 26 January and Saturday 8 February.
    fn office() -> Calendar {
        let cal = BusinessCalendar::weekdays(Shanghai, &office_hours())
            .and_then(|c| c.with_holidays((28..=31).map(|d| date(2025, 1, d)).chain((1..=4).map(|d| date(2025, 2, d)))))
            .and_then(|c| c.with_makeup_workday(date(2025, 1, 26), office_hours()))
            .and_then(|c| c.with_makeup_workday(date(2025, 2, 8), office_hours()))
            .expect("a valid calendar");
        Calendar::from(cal)
    }

    /// New York, Monday to Friday 09:00-17:00.
    fn ny_office() -> Calendar {
        Calendar::from(BusinessCalendar::weekdays(New_York, &[range("09:00-17:00")]).expect("valid"))
    }

    /// New York with odd hours around the daylight-saving changes: Sundays 00:00-01:30, 01:30-03:00 and
    /// 02:30-04:00 would overlap, so Sundays are 00:00-01:30, 01:30-02:45, 03:15-24:00; other days 24 hours.
    fn ny_odd() -> Calendar {
        let mut weekly: [Vec<TimeRange>; 7] = Default::default();
        for day in weekly.iter_mut().take(6) {
            *day = vec![range("00:00-24:00")];
        }
        weekly[6] = vec![range("00:00-01:30"), range("01:30-02:45"), range("03:15-24:00")];
        Calendar::from(BusinessCalendar::new(New_York, weekly).expect("valid"))
    }

    #[test]
    fn deadlines_across_lunch_nights_and_weekends() {
        let c = office();
        let cases = [
            (sh(3, 3, 10, 0), hours(1), sh(3, 3, 11, 0)),
            (sh(3, 3, 11, 30), hours(1), sh(3, 3, 13, 30)),
            (sh(3, 3, 12, 30), hours(1), sh(3, 3, 14, 0)),
            (sh(3, 3, 17, 0), hours(2), sh(3, 4, 10, 0)),
            (sh(3, 7, 17, 0), hours(2), sh(3, 10, 10, 0)),
            (sh(3, 8, 3, 0), minutes(30), sh(3, 10, 9, 30)),
            (sh(3, 3, 7, 0), hours(1), sh(3, 3, 10, 0)),
            (sh(3, 3, 9, 0), hours(9), sh(3, 4, 10, 0)),
            (sh(3, 3, 10, 0), TimeDelta::seconds(1), local(Shanghai, 2025, 3, 3, 10, 0, 1)),
            (local(Shanghai, 2025, 3, 3, 17, 59, 59), TimeDelta::seconds(2), local(Shanghai, 2025, 3, 4, 9, 0, 1)),
        ];
        for (start, d, due) in cases {
            assert_eq!(c.add_business(start, d), due, "{start} + {d}");
            assert_eq!(c.business_between(start, due), d, "{start} → {due}");
        }
    }

    #[test]
    fn a_deadline_on_a_boundary_is_the_end_of_the_range() {
        let c = office();
        assert_eq!(c.add_business(sh(3, 3, 10, 0), hours(2)), sh(3, 3, 12, 0), "not 13:00");
        assert_eq!(c.add_business(sh(3, 3, 9, 0), hours(8)), sh(3, 3, 18, 0), "not Tuesday 09:00");
        assert_eq!(c.add_business(sh(3, 7, 9, 0), hours(8)), sh(3, 7, 18, 0), "not Monday");
        assert_eq!(c.add_business(sh(3, 3, 12, 0), hours(1)), sh(3, 3, 14, 0), "starting at a closing");
        assert_eq!(c.business_between(sh(3, 3, 12, 0), sh(3, 3, 13, 0)), TimeDelta::zero());
        assert!(c.is_open(sh(3, 3, 9, 0)) && !c.is_open(sh(3, 3, 12, 0)) && c.is_open(sh(3, 3, 13, 0)));
        assert!(!c.is_open(sh(3, 3, 18, 0)) && !c.is_open(sh(3, 8, 10, 0)));
    }

    #[test]
    fn zero_and_negative_durations() {
        let c = office();
        let saturday = sh(3, 8, 3, 0);
        assert_eq!(c.add_business(saturday, TimeDelta::zero()), saturday);
        assert_eq!(c.add_business(saturday, hours(-3)), saturday);
        assert_eq!(c.business_between(saturday, saturday), TimeDelta::zero());
        assert_eq!(c.business_between(sh(3, 4, 10, 0), sh(3, 3, 10, 0)), TimeDelta::zero(), "reversed");
        assert_eq!(Calendar::Always.add_business(saturday, TimeDelta::zero()), saturday);
        assert_eq!(c.next_open(saturday), sh(3, 10, 9, 0));
        assert_eq!(c.next_open(sh(3, 10, 9, 30)), sh(3, 10, 9, 30));
        assert_eq!(c.next_open(sh(3, 10, 12, 0)), sh(3, 10, 13, 0));
    }

    #[test]
    fn holidays_and_make_up_working_days() {
        let c = office();
        // Friday evening: the next business hours are on the make-up Sunday.
        assert_eq!(c.add_business(sh(1, 24, 17, 0), hours(2)), sh(1, 26, 10, 0));
        // The last working day before the Spring Festival: the holiday is skipped whole.
        assert_eq!(c.add_business(sh(1, 27, 17, 0), hours(2)), sh(2, 5, 10, 0));
        // Friday evening after it: the make-up Saturday.
        assert_eq!(c.add_business(sh(2, 7, 17, 0), hours(2)), sh(2, 8, 10, 0));
        // Two weeks: 27 January, 5, 6, 7 February and the make-up 8 February.
        assert_eq!(c.business_between(sh(1, 27, 0, 0), sh(2, 10, 0, 0)), hours(40));
        assert!(!c.is_open(sh(1, 29, 10, 0)) && c.is_open(sh(1, 26, 10, 0)));
        let Calendar::Business(cal) = &c else { panic!("a business calendar") };
        assert!(cal.hours_on(date(2025, 1, 28)).is_empty());
        assert_eq!(cal.hours_on(date(2025, 2, 8)), office_hours().as_slice());
    }

    #[test]
    fn month_and_year_long_durations() {
        let c = office();
        // March 2025 has 21 working days.
        assert_eq!(c.business_between(sh(3, 1, 0, 0), sh(4, 1, 0, 0)), hours(21 * 8));
        assert_eq!(c.add_business(sh(3, 1, 0, 0), hours(21 * 8)), sh(3, 31, 18, 0));
        let plain = Calendar::from(BusinessCalendar::weekdays(Shanghai, &office_hours()).expect("valid"));
        // 2025 has 261 weekdays and ends on a Wednesday.
        let year = plain.business_between(sh(1, 1, 0, 0), local(Shanghai, 2026, 1, 1, 0, 0, 0));
        assert_eq!(year, hours(261 * 8));
        assert_eq!(plain.add_business(sh(1, 1, 0, 0), year), sh(12, 31, 18, 0));
        // Ten years of business time is still a day-by-day walk of a few thousand steps.
        let decade = hours(8 * 261 * 10);
        let due = plain.add_business(sh(1, 1, 0, 0), decade);
        assert_eq!(plain.business_between(sh(1, 1, 0, 0), due), decade);
    }

    #[test]
    fn absurd_spans_saturate() {
        let c = office();
        let start = sh(3, 3, 10, 0);
        assert_eq!(c.add_business(start, MAX_SPAN + hours(1)), DateTime::<Utc>::MAX_UTC);
        assert_eq!(Calendar::Always.add_business(start, MAX_SPAN + hours(1)), DateTime::<Utc>::MAX_UTC);
        // Three thousand years of business hours need far more than a century of calendar.
        assert_eq!(c.add_business(start, MAX_SPAN), DateTime::<Utc>::MAX_UTC);
        assert!(c.business_between(start, DateTime::<Utc>::MAX_UTC) < MAX_SPAN);
    }

    #[test]
    fn daylight_saving_days_have_23_and_25_hours() {
        let all_day = Calendar::from(
            BusinessCalendar::new(New_York, std::array::from_fn(|_| vec![range("00:00-24:00")])).expect("valid"),
        );
        let spring = (local(New_York, 2025, 3, 9, 0, 0, 0), local(New_York, 2025, 3, 10, 0, 0, 0));
        let autumn = (local(New_York, 2025, 11, 2, 0, 0, 0), local(New_York, 2025, 11, 3, 0, 0, 0));
        assert_eq!(all_day.business_between(spring.0, spring.1), hours(23));
        assert_eq!(all_day.business_between(autumn.0, autumn.1), hours(25));
        assert_eq!(all_day.add_business(spring.0, hours(23)), spring.1);
        assert_eq!(all_day.add_business(autumn.0, hours(25)), autumn.1);
        // Shanghai has no daylight saving.
        let sh_all_day = Calendar::from(
            BusinessCalendar::new(Shanghai, std::array::from_fn(|_| vec![range("00:00-24:00")])).expect("valid"),
        );
        assert_eq!(sh_all_day.business_between(sh(3, 9, 0, 0), sh(3, 10, 0, 0)), hours(24));
    }

    #[test]
    fn office_hours_follow_the_local_clock_across_daylight_saving() {
        let c = ny_office();
        let utc = |y, mo, d, h| Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).single().expect("valid");
        // Friday 16:00 EST (21:00 UTC) + 2 h → Monday 10:00 EDT (14:00 UTC).
        assert_eq!(c.add_business(utc(2025, 3, 7, 21), hours(2)), utc(2025, 3, 10, 14));
        // Friday 16:00 EDT (20:00 UTC) + 2 h → Monday 10:00 EST (15:00 UTC).
        assert_eq!(c.add_business(utc(2025, 10, 31, 20), hours(2)), utc(2025, 11, 3, 15));
        assert_eq!(c.business_between(utc(2025, 3, 7, 0), utc(2025, 3, 11, 0)), hours(16));
    }

    #[test]
    fn skipped_and_repeated_local_times() {
        let c = ny_odd();
        // 9 March 2025: 02:00 → 03:00. 02:45 does not exist and becomes the jump (03:00 EDT); 03:15 is real.
        // 00:00-01:30 (1.5 h) + 01:30-jump (0.5 h) + 03:15-24:00 (20.75 h).
        let day = (local(New_York, 2025, 3, 9, 0, 0, 0), local(New_York, 2025, 3, 10, 0, 0, 0));
        assert_eq!(c.business_between(day.0, day.1), minutes(90 + 30 + 20 * 60 + 45));
        // 2 November 2025: 01:00-02:00 happens twice. 01:30 is taken at its first occurrence, so the two morning
        // ranges cover 00:00 EDT → 02:45 EST without overlap: 3 h 45 min of real time.
        let day = (local(New_York, 2025, 11, 2, 0, 0, 0), local(New_York, 2025, 11, 3, 0, 0, 0));
        assert_eq!(c.business_between(day.0, day.1), minutes(225 + 20 * 60 + 45));
        let first_0130 = Utc.with_ymd_and_hms(2025, 11, 2, 5, 30, 0).single().expect("valid");
        let second_0130 = first_0130 + hours(1);
        assert!(c.is_open(first_0130) && c.is_open(second_0130));
        let gap = Utc.with_ymd_and_hms(2025, 11, 2, 7, 50, 0).single().expect("valid"); // 02:50 EST
        assert!(!c.is_open(gap));
    }

    fn calendars() -> Vec<Calendar> {
        vec![office(), ny_office(), ny_odd(), Calendar::Always]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The deadline is exactly `d` of business time away, the earliest such instant, and deadlines add up.
        #[test]
        fn deadlines_and_business_time_agree(
            start in 1_704_067_200i64..1_798_761_600, // 2024 to 2026
            d in 0i64..(60 * 8 * 3600),
            d2 in 0i64..(30 * 3600),
            nanos in 0u32..1_000_000_000,
            which in 0usize..4,
        ) {
            let c = &calendars()[which];
            let a = DateTime::<Utc>::from_timestamp(start, nanos).expect("in range");
            let d = TimeDelta::seconds(d);
            let due = c.add_business(a, d);
            prop_assert!(due >= a);
            prop_assert_eq!(c.business_between(a, due), d);
            if d > TimeDelta::zero() {
                prop_assert!(c.business_between(a, due - TimeDelta::nanoseconds(1)) < d, "not the earliest");
                prop_assert!(c.is_open(due - TimeDelta::nanoseconds(1)));
            }
            let d2 = TimeDelta::seconds(d2);
            prop_assert_eq!(c.add_business(due, d2), c.add_business(a, d + d2));
            let mid = a + TimeDelta::seconds(start % 100_000);
            prop_assert_eq!(c.business_between(a, due.max(mid)), c.business_between(a, mid.min(due)) + c.business_between(mid.min(due), due.max(mid)));
        }
    }

    #[test]
    fn a_pause_spanning_the_night() {
        let c = office();
        let pause = Pause { from: sh(3, 3, 17, 0), to: Some(sh(3, 4, 11, 0)) };
        let clock = SlaClock::new(&c, hours(4), sh(3, 3, 16, 0), &[pause]);
        // 16:00-17:00 on Monday, then 11:00-12:00 and 13:00-15:00 on Tuesday.
        assert_eq!(clock.due(), Some(sh(3, 4, 15, 0)));
        assert_eq!(clock.elapsed_at(sh(3, 4, 12, 30)), hours(2));
        assert_eq!(clock.elapsed_at(sh(3, 4, 10, 0)), hours(1), "paused");
        let warn = WarnBefore::default();
        assert_eq!(
            clock.state_at(sh(3, 4, 13, 30), warn),
            SlaState::Ok { due: sh(3, 4, 15, 0), remaining: minutes(90) }
        );
        assert_eq!(
            clock.state_at(sh(3, 4, 14, 0), warn),
            SlaState::Warning { due: sh(3, 4, 15, 0), remaining: hours(1) }
        );
        assert_eq!(
            clock.state_at(sh(3, 4, 15, 0), warn),
            SlaState::Warning { due: sh(3, 4, 15, 0), remaining: TimeDelta::zero() },
            "at the deadline itself it is not yet breached"
        );
        let later = sh(3, 4, 15, 0) + TimeDelta::seconds(1);
        assert_eq!(
            clock.state_at(later, warn),
            SlaState::Breached { due: sh(3, 4, 15, 0), overdue: TimeDelta::seconds(1) }
        );
        let by_time = WarnBefore::Remaining(minutes(30));
        assert!(matches!(clock.state_at(sh(3, 4, 14, 0), by_time), SlaState::Ok { .. }));
        assert!(matches!(clock.state_at(sh(3, 4, 14, 30), by_time), SlaState::Warning { .. }));
    }

    #[test]
    fn an_open_pause_has_no_deadline_unless_it_was_already_missed() {
        let c = office();
        let open = Pause { from: sh(3, 3, 17, 0), to: None };
        let clock = SlaClock::new(&c, hours(4), sh(3, 3, 16, 0), &[open]);
        assert_eq!(clock.due(), None);
        assert_eq!(clock.state_at(sh(3, 5, 10, 0), WarnBefore::default()), SlaState::Paused { remaining: hours(3) });
        let missed = SlaClock::new(&c, minutes(30), sh(3, 3, 16, 0), &[open]);
        assert_eq!(missed.due(), Some(sh(3, 3, 16, 30)));
        assert_eq!(
            missed.state_at(sh(3, 5, 10, 0), WarnBefore::default()),
            SlaState::Breached { due: sh(3, 3, 16, 30), overdue: minutes(30) }
        );
    }

    #[test]
    fn pauses_are_sorted_merged_and_cut_to_the_start() {
        let c = office();
        let pauses = [
            Pause { from: sh(3, 4, 10, 0), to: Some(sh(3, 4, 11, 0)) },
            Pause { from: sh(3, 3, 15, 0), to: Some(sh(3, 3, 16, 30)) },
            Pause { from: sh(3, 4, 10, 30), to: Some(sh(3, 4, 12, 0)) },
            Pause { from: sh(3, 4, 9, 0), to: Some(sh(3, 4, 8, 0)) }, // ends before it begins: ignored
        ];
        let clock = SlaClock::new(&c, hours(4), sh(3, 3, 16, 0), &pauses);
        // Monday 16:30-18:00, Tuesday 09:00-10:00, then 13:00-14:30.
        assert_eq!(clock.due(), Some(sh(3, 4, 14, 30)));
        assert_eq!(clock.elapsed_at(sh(3, 4, 14, 30)), hours(4));
    }

    #[test]
    fn round_the_clock_targets_with_a_pause() {
        let start = Utc.with_ymd_and_hms(2025, 3, 8, 0, 0, 0).single().expect("valid");
        let pause = Pause { from: start + hours(6), to: Some(start + hours(10)) };
        let clock = SlaClock::new(&Calendar::Always, hours(24), start, &[pause]);
        assert_eq!(clock.due(), Some(start + hours(28)));
        assert_eq!(clock.elapsed_at(start + hours(12)), hours(8));
    }

    #[test]
    fn completion_gives_met_or_breached() {
        let c = office();
        let policy = SlaPolicy {
            name: "standard".into(),
            conditions: vec![],
            first_response: Some(hours(1)),
            resolution: None,
            business_hours: true,
            warn_before: WarnBefore::default(),
            escalation: Escalation::default(),
        };
        let created = sh(3, 3, 10, 0);
        let on_time = policy.first_response_clock(&c, created, Some(sh(3, 3, 10, 40))).expect("a target");
        assert_eq!(
            on_time.state_at(sh(3, 5, 0, 0), WarnBefore::default()),
            SlaState::Met { at: sh(3, 3, 10, 40), remaining: minutes(20) }
        );
        let late = policy.first_response_clock(&c, created, Some(sh(3, 3, 11, 30))).expect("a target");
        assert_eq!(
            late.state_at(sh(3, 5, 0, 0), WarnBefore::default()),
            SlaState::Breached { due: sh(3, 3, 11, 0), overdue: minutes(30) }
        );
        // Before the reply was sent, the clock was simply running.
        assert!(matches!(late.state_at(sh(3, 3, 10, 50), WarnBefore::default()), SlaState::Warning { .. }));
        assert!(policy.resolution_clock(&c, &[]).is_none());
        // Out of hours a reply on Saturday to a Friday-evening ticket is on time.
        let friday = policy.first_response_clock(&c, sh(3, 7, 19, 0), Some(sh(3, 8, 11, 0))).expect("a target");
        assert!(matches!(friday.state_at(sh(3, 8, 12, 0), WarnBefore::default()), SlaState::Met { .. }));
        let round_the_clock = SlaPolicy { business_hours: false, ..policy };
        let friday =
            round_the_clock.first_response_clock(&c, sh(3, 7, 19, 0), Some(sh(3, 8, 11, 0))).expect("a target");
        assert!(matches!(friday.state_at(sh(3, 8, 12, 0), WarnBefore::default()), SlaState::Breached { .. }));
    }

    #[test]
    fn the_resolution_clock_follows_the_status_history() {
        use TicketStatus::*;
        let c = office();
        let history = [
            StatusChange { at: sh(3, 3, 10, 0), status: New },
            StatusChange { at: sh(3, 3, 10, 30), status: Open },
            StatusChange { at: sh(3, 3, 11, 0), status: Pending },
            StatusChange { at: sh(3, 4, 10, 0), status: Open },
            StatusChange { at: sh(3, 4, 14, 0), status: Solved },
            StatusChange { at: sh(3, 4, 15, 0), status: Open },
            StatusChange { at: sh(3, 4, 16, 0), status: Solved },
            StatusChange { at: sh(3, 5, 10, 0), status: Closed },
        ];
        let (pauses, done) = resolution_pauses(&history);
        assert_eq!(
            pauses,
            vec![
                Pause { from: sh(3, 3, 11, 0), to: Some(sh(3, 4, 10, 0)) },
                Pause { from: sh(3, 4, 14, 0), to: Some(sh(3, 4, 15, 0)) },
                Pause { from: sh(3, 4, 16, 0), to: None },
            ]
        );
        assert_eq!(done, Some(sh(3, 4, 16, 0)));
        let policy = |h| SlaPolicy {
            name: "p".into(),
            conditions: vec![],
            first_response: None,
            resolution: Some(hours(h)),
            business_hours: true,
            warn_before: WarnBefore::default(),
            escalation: Escalation::default(),
        };
        // Worked 10:00-11:00 Monday, 10:00-12:00 and 13:00-14:00 Tuesday, and 15:00-16:00 after the reopen: 5 h.
        let clock = policy(8).resolution_clock(&c, &history).expect("a target");
        assert_eq!(clock.elapsed_at(sh(3, 6, 0, 0)), hours(5));
        assert_eq!(
            clock.state_at(sh(3, 6, 0, 0), WarnBefore::default()),
            SlaState::Met { at: sh(3, 4, 16, 0), remaining: hours(3) }
        );
        // With 4 h the deadline fell exactly when it was first solved; the reopen then breached it.
        let clock = policy(4).resolution_clock(&c, &history).expect("a target");
        assert_eq!(clock.due(), Some(sh(3, 4, 14, 0)));
        assert_eq!(
            clock.state_at(sh(3, 6, 0, 0), WarnBefore::default()),
            SlaState::Breached { due: sh(3, 4, 14, 0), overdue: hours(1) }
        );
        // Still pending: paused, no deadline.
        let clock = policy(8).resolution_clock(&c, &history[..3]).expect("a target");
        assert_eq!(clock.state_at(sh(3, 3, 17, 0), WarnBefore::default()), SlaState::Paused { remaining: hours(7) });
        // On hold does not pause: 7 h on Monday, the eighth on Tuesday morning.
        let on_hold =
            [StatusChange { at: sh(3, 3, 10, 0), status: New }, StatusChange { at: sh(3, 3, 11, 0), status: OnHold }];
        let clock = policy(8).resolution_clock(&c, &on_hold).expect("a target");
        assert_eq!(clock.due(), Some(sh(3, 4, 10, 0)));
    }

    fn policy(name: &str, conditions: Vec<Condition>) -> SlaPolicy {
        SlaPolicy {
            name: name.into(),
            conditions,
            first_response: Some(hours(1)),
            resolution: Some(hours(8)),
            business_hours: true,
            warn_before: WarnBefore::default(),
            escalation: Escalation::default(),
        }
    }

    #[test]
    fn the_first_matching_policy_applies() {
        let s = |v: &str| v.to_owned();
        let policies = [
            policy(
                "vip urgent",
                vec![
                    Condition::new(Field::CustomerTier, Op::In(vec![s("vip"), s("svip")])),
                    Condition::new(Field::Priority, Op::Eq(s("urgent"))),
                ],
            ),
            policy("urgent", vec![Condition::new(Field::Priority, Op::In(vec![s("high"), s("urgent")]))]),
            policy("refunds", vec![Condition::new(Field::Category, Op::Contains(s("退款")))]),
            policy("default", vec![]),
        ];
        let facts = |priority, tier: &str, category: &str| TicketFacts {
            priority,
            customer_tier: Some(tier.to_owned()),
            category: Some(category.to_owned()),
            ..TicketFacts::default()
        };
        let pick = |f: &TicketFacts| pick_policy(&policies, f).map(|p| p.name.as_str());
        assert_eq!(pick(&facts(TicketPriority::Urgent, "SVIP", "物流")), Some("vip urgent"));
        assert_eq!(pick(&facts(TicketPriority::Urgent, "regular", "物流")), Some("urgent"));
        assert_eq!(pick(&facts(TicketPriority::High, "vip", "售后/退款")), Some("urgent"));
        assert_eq!(pick(&facts(TicketPriority::Low, "vip", "售后/退款")), Some("refunds"));
        assert_eq!(pick(&facts(TicketPriority::Normal, "vip", "物流")), Some("default"));
        assert_eq!(pick_policy(&policies[..3], &facts(TicketPriority::Normal, "vip", "物流")), None);
        assert_eq!(pick_policy(&[], &TicketFacts::default()), None);
    }

    #[test]
    fn time_ranges_parse_and_print() {
        assert_eq!(range("9:00-12:30"), TimeRange::hm(9, 0, 12, 30).expect("valid"));
        assert_eq!(range("13:00～18:00").to_string(), "13:00-18:00");
        assert_eq!(range("00:00-24:00").duration(), hours(24));
        assert_eq!(range("08:30:15-09:00").to_string(), "08:30:15-09:00");
        let midnight = TimeRange::new(NaiveTime::from_hms_opt(18, 0, 0).expect("valid"), NaiveTime::MIN);
        assert_eq!(midnight.map(|r| r.to_string()), Ok("18:00-24:00".to_owned()));
        for bad in ["18:00-09:00", "09:00-09:00", "24:30-25:00", "9-18", "09:60-10:00", "", "09:00-24:01"] {
            assert!(bad.parse::<TimeRange>().is_err(), "{bad}");
        }
        assert!(TimeRange::hm(9, 0, 25, 0).is_err());
    }

    #[test]
    fn invalid_calendars_are_refused_with_a_reason() {
        let overlap = BusinessCalendar::weekdays(Shanghai, &[range("09:00-12:00"), range("11:00-18:00")]);
        assert_eq!(overlap, Err(CalendarError::Overlap("Monday".into())));
        assert!(BusinessCalendar::weekdays(Shanghai, &[range("09:00-12:00"), range("12:00-18:00")]).is_ok());
        assert_eq!(BusinessCalendar::new(Shanghai, Default::default()), Err(CalendarError::NoOpeningHours));
        let cal = BusinessCalendar::weekdays(Shanghai, &office_hours()).expect("valid");
        let both = cal
            .clone()
            .with_holidays([date(2025, 1, 26)])
            .and_then(|c| c.with_makeup_workday(date(2025, 1, 26), office_hours()));
        assert_eq!(both, Err(CalendarError::HolidayAndWorkday(date(2025, 1, 26))));
        assert_eq!(
            cal.with_makeup_workday(date(2025, 1, 26), vec![]),
            Err(CalendarError::EmptyWorkday(date(2025, 1, 26)))
        );
        let spec = CalendarSpec {
            timezone: "Asia/Beijing".into(),
            weekly: Default::default(),
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeMap::new(),
        };
        let err = BusinessCalendar::try_from(spec).expect_err("no such zone");
        assert_eq!(err.message(Lang::Zh), "“Asia/Beijing”不是有效的时区（如 Asia/Shanghai）");
        assert_eq!(err.message(Lang::En), "`Asia/Beijing` is not an IANA time zone (such as Asia/Shanghai).");
    }

    #[test]
    fn calendars_policies_and_states_serialise_as_plain_json() {
        let c = office();
        let json = serde_json::to_value(&c).expect("serialises");
        assert_eq!(json["kind"], "business");
        assert_eq!(json["timezone"], "Asia/Shanghai");
        assert_eq!(json["weekly"][0], serde_json::json!(["09:00-12:00", "13:00-18:00"]));
        assert_eq!(json["weekly"][6], serde_json::json!([]));
        assert_eq!(json["makeup_workdays"]["2025-01-26"], serde_json::json!(["09:00-12:00", "13:00-18:00"]));
        assert_eq!(json["holidays"][0], "2025-01-28");
        let back: Calendar = serde_json::from_value(json).expect("parses");
        assert_eq!(back, c);
        let always: Calendar = serde_json::from_str(r#"{"kind":"always"}"#).expect("parses");
        assert_eq!(always, Calendar::Always);
        let bad = r#"{"kind":"business","timezone":"Asia/Shanghai","weekly":[["12:00-09:00"],[],[],[],[],[],[]]}"#;
        assert!(serde_json::from_str::<Calendar>(bad).is_err());

        let p: SlaPolicy = serde_json::from_str(
            r#"{"name":"VIP","conditions":[{"field":"customer_tier","op":"eq","value":"vip"}],
                "first_response_secs":1800,"business_hours":false,"warn_before":{"kind":"remaining","value":600}}"#,
        )
        .expect("parses");
        assert_eq!(p.first_response, Some(minutes(30)));
        assert_eq!(p.resolution, None);
        assert_eq!(p.warn_before, WarnBefore::Remaining(minutes(10)));
        let back: SlaPolicy = serde_json::from_value(serde_json::to_value(&p).expect("serialises")).expect("parses");
        assert_eq!(back, p);

        let state = SlaState::Warning { due: sh(3, 3, 12, 0), remaining: minutes(15) };
        assert_eq!(
            serde_json::to_value(state).expect("serialises"),
            serde_json::json!({"state": "warning", "due": "2025-03-03T04:00:00Z", "remaining_secs": 900})
        );
        assert_eq!(state.label(Lang::Zh), "即将超时");
        assert_eq!(state.due(), Some(sh(3, 3, 12, 0)));
    }
}
