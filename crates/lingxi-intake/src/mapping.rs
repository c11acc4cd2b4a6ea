//! The column mapping an admin saves once per source: which header feeds which field, how to read times and
//! values, what to keep.

use crate::value::{header_key, parse_offset, value_key};
use chrono::FixedOffset;
use chrono::format::{Item, StrftimeItems};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// What one row of an export is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An order (订单).
    Order,
    /// A refund or return request (退款/退货).
    Refund,
    /// A product or shop review (评价).
    Review,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 3] = [RecordKind::Order, RecordKind::Refund, RecordKind::Review];

    /// The stable name: `order`, `refund`, `review`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Order => "order",
            RecordKind::Refund => "refund",
            RecordKind::Review => "review",
        }
    }

    /// The Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            RecordKind::Order => "订单",
            RecordKind::Refund => "退款/退货",
            RecordKind::Review => "评价",
        }
    }

    /// The kind named by [`RecordKind::as_str`].
    pub fn parse(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == name.trim().to_ascii_lowercase())
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised field a column can feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The platform's number for this row: order no., refund no. or review id. Always required.
    ExternalId,
    /// The order a refund or review belongs to.
    OrderId,
    /// The shop (店铺名称); overrides the mapping's fixed shop.
    Shop,
    /// The customer's nickname or name (买家昵称).
    Customer,
    /// Phone or other contact, often masked by the platform.
    Contact,
    /// Paid / refund amount, read into cents.
    Amount,
    /// Currency code; the amount's own mark (`¥`, `US$`) or the mapping's default otherwise.
    Currency,
    /// Status text (退款状态, 订单状态), after the value map.
    Status,
    /// The export's own classification: refund type (仅退款 / 退货退款), review type, order type.
    Category,
    /// Refund reason (退款原因) or a short complaint reason.
    Reason,
    /// Free text: the refund description (退款说明) or the review text (评价内容).
    Content,
    /// Review rating, 1 to 5.
    Rating,
    /// When it was created / applied for (申请时间, 下单时间, 评价时间).
    CreatedAt,
    /// Product title(s) (商品名称).
    Items,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 14] = [
        Field::ExternalId,
        Field::OrderId,
        Field::Shop,
        Field::Customer,
        Field::Contact,
        Field::Amount,
        Field::Currency,
        Field::Status,
        Field::Category,
        Field::Reason,
        Field::Content,
        Field::Rating,
        Field::CreatedAt,
        Field::Items,
    ];

    /// The stable snake_case name used in mappings and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::ExternalId => "external_id",
            Field::OrderId => "order_id",
            Field::Shop => "shop",
            Field::Customer => "customer",
            Field::Contact => "contact",
            Field::Amount => "amount",
            Field::Currency => "currency",
            Field::Status => "status",
            Field::Category => "category",
            Field::Reason => "reason",
            Field::Content => "content",
            Field::Rating => "rating",
            Field::CreatedAt => "created_at",
            Field::Items => "items",
        }
    }

    /// The Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            Field::ExternalId => "编号",
            Field::OrderId => "订单号",
            Field::Shop => "店铺",
            Field::Customer => "客户",
            Field::Contact => "联系方式",
            Field::Amount => "金额",
            Field::Currency => "币种",
            Field::Status => "状态",
            Field::Category => "类型",
            Field::Reason => "原因",
            Field::Content => "内容",
            Field::Rating => "评分",
            Field::CreatedAt => "创建时间",
            Field::Items => "商品",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether a record of `kind` may carry this field (ratings belong to reviews only).
    pub fn applies_to(self, kind: RecordKind) -> bool {
        self != Field::Rating || kind == RecordKind::Review
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The language of generated ticket subjects and bodies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// 中文 (the default).
    #[default]
    Zh,
    /// English.
    En,
}

/// How records of this source become ticket candidates ([`crate::Record::ticket_facts`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TicketRules {
    /// A review with this rating or lower is negative (default 2).
    pub negative_rating_max: u8,
    /// Refunds of at least this many cents get the `high` priority hint.
    pub high_priority_amount_cents: Option<i64>,
    /// The category hint (default `售后/退款` for refunds, `评价/差评` for reviews; `Refunds` / `Reviews/Negative`
    /// in English).
    pub category: Option<String>,
    /// The ticket-type hint.
    pub ticket_type: Option<String>,
    /// Tags added to every candidate of this source.
    pub tags: Vec<String>,
    /// The language of subjects and bodies.
    pub lang: Lang,
}

impl Default for TicketRules {
    fn default() -> Self {
        TicketRules {
            negative_rating_max: 2,
            high_priority_amount_cents: None,
            category: None,
            ticket_type: None,
            tags: Vec::new(),
            lang: Lang::Zh,
        }
    }
}

/// How to read one source's exports. Saved by the admin once per source, as JSON.
///
/// Header names are matched after trimming, ignoring case, full/half width, white space, `_`, `-` and a trailing
/// colon. A field may list several alternative headers: the first one present in the file is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// A name for people (`天猫退款导出`).
    pub name: String,
    /// What each row is.
    pub kind: RecordKind,
    /// The platform, lower-case ASCII (`tmall`, `jd`, `pdd`, `douyin`, `own`); part of the idempotency key.
    pub platform: String,
    /// The shop every row belongs to, unless a `shop` column says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<String>,
    /// Field → header names, in order of preference.
    pub columns: BTreeMap<Field, Vec<String>>,
    /// Fields every row must have (beyond `external_id`, which always is).
    #[serde(default)]
    pub required: Vec<Field>,
    /// Time formats to try first, in chrono `strftime` syntax (`%Y/%m/%d %H:%M`); the common forms are always tried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_formats: Vec<String>,
    /// The UTC offset of times written without a zone (`+08:00`, the default).
    #[serde(default = "default_offset")]
    pub utc_offset: String,
    /// The currency of amounts without a mark (`CNY`, the default).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Per field, cell value → normalised value (`status`: `退款成功` → `refunded`), compared trimmed, ignoring
    /// case and width; applied before the field is read, so a map may also turn `差评` into `1` for `rating`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<Field, BTreeMap<String, String>>,
    /// Unmapped columns to keep in [`crate::Record::extra`], by header name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_columns: Vec<String>,
    /// Keep every unmapped column in `extra`.
    #[serde(default)]
    pub keep_unmapped: bool,
    /// Force a text encoding for CSV (`gbk`, `gb18030`, `utf-8`, `big5`…); detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The xlsx sheet to read, by name; the first sheet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// For JSON documents that wrap the rows: the JSON pointer to the array (`/data/list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_pointer: Option<String>,
    /// How records become ticket candidates.
    #[serde(default)]
    pub ticket: TicketRules,
}

fn default_offset() -> String {
    "+08:00".into()
}

fn default_currency() -> String {
    "CNY".into()
}

/// The most characters a platform name may have.
pub const MAX_PLATFORM_CHARS: usize = 32;

/// Something wrong with a mapping. `Display` is English; [`MappingError::zh`] is Chinese.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The name is empty.
    #[error("the mapping needs a name")]
    NoName,
    /// The platform is not lower-case ASCII.
    #[error(
        "the platform \"{0}\" must be 1 to {MAX_PLATFORM_CHARS} lower-case letters, digits, '-' or '_' (e.g. tmall, jd, own)"
    )]
    BadPlatform(String),
    /// No column feeds the external id.
    #[error("no column is mapped to external_id (the order, refund or review number)")]
    NoExternalId,
    /// A required field has no column (and no fixed value).
    #[error("{0} is required but no column is mapped to it")]
    RequiredNotMapped(Field),
    /// A field is mapped with no header name, or an empty one.
    #[error("{0} is mapped to an empty header name")]
    EmptyHeader(Field),
    /// One header feeds two fields.
    #[error("the header \"{header}\" is mapped to both {first} and {second}")]
    HeaderTwice {
        /// The header.
        header: String,
        /// One field.
        first: Field,
        /// The other.
        second: Field,
    },
    /// A field that this kind of record does not have.
    #[error("{field} does not apply to {kind} records")]
    NotForKind {
        /// The field.
        field: Field,
        /// The mapping's kind.
        kind: RecordKind,
    },
    /// The UTC offset cannot be read.
    #[error("the UTC offset \"{0}\" cannot be read (e.g. +08:00)")]
    BadOffset(String),
    /// A time format is not valid chrono syntax.
    #[error("the time format \"{0}\" is not valid (e.g. %Y-%m-%d %H:%M:%S)")]
    BadTimeFormat(String),
    /// The currency is not a three-letter code.
    #[error("the currency \"{0}\" must be a three-letter code such as CNY")]
    BadCurrency(String),
    /// The encoding is unknown.
    #[error("the encoding \"{0}\" is unknown (e.g. utf-8, gbk, gb18030)")]
    BadEncoding(String),
    /// The JSON pointer does not start with `/`.
    #[error("the JSON pointer \"{0}\" must start with '/' (e.g. /data/list)")]
    BadJsonPointer(String),
    /// The negative-rating threshold is outside 1–4.
    #[error("the negative-rating threshold must be from 1 to 4, not {0}")]
    BadNegativeRating(u8),
}

impl MappingError {
    /// The message in Chinese.
    pub fn zh(&self) -> String {
        match self {
            MappingError::NoName => "映射需要一个名称".into(),
            MappingError::BadPlatform(p) => {
                format!("平台“{p}”须为 1 到 {MAX_PLATFORM_CHARS} 个小写字母、数字、“-”或“_”（如 tmall、jd、own）")
            }
            MappingError::NoExternalId => "没有列映射到“编号”（订单号、退款编号或评价编号）".into(),
            MappingError::RequiredNotMapped(f) => format!("“{}”为必填，但没有列映射到它", f.zh()),
            MappingError::EmptyHeader(f) => format!("“{}”映射到了空的列名", f.zh()),
            MappingError::HeaderTwice { header, first, second } => {
                format!("列“{header}”同时映射到了“{}”和“{}”", first.zh(), second.zh())
            }
            MappingError::NotForKind { field, kind } => format!("{}记录没有“{}”字段", kind.zh(), field.zh()),
            MappingError::BadOffset(o) => format!("无法识别时区偏移“{o}”（例如 +08:00）"),
            MappingError::BadTimeFormat(f) => format!("时间格式“{f}”无效（例如 %Y-%m-%d %H:%M:%S）"),
            MappingError::BadCurrency(c) => format!("币种“{c}”须为三位字母代码，如 CNY"),
            MappingError::BadEncoding(e) => format!("未知的编码“{e}”（例如 utf-8、gbk、gb18030）"),
            MappingError::BadJsonPointer(p) => format!("JSON 路径“{p}”须以“/”开头（例如 /data/list）"),
            MappingError::BadNegativeRating(n) => format!("差评阈值须为 1 到 4，而不是 {n}"),
        }
    }
}

/// A mapping checked and prepared for reading.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) kind: RecordKind,
    pub(crate) platform: String,
    pub(crate) shop: Option<String>,
    /// Header key → (field, preference rank: 0 is the first alternative).
    pub(crate) headers: HashMap<String, (Field, usize)>,
    /// The header names of each field, for error messages.
    pub(crate) names: BTreeMap<Field, Vec<String>>,
    pub(crate) required: [bool; Field::ALL.len()],
    pub(crate) time_formats: Vec<String>,
    pub(crate) offset: FixedOffset,
    pub(crate) currency: String,
    /// Per field index: value key → value.
    pub(crate) values: Vec<HashMap<String, String>>,
    pub(crate) extra: HashMap<String, ()>,
    pub(crate) keep_unmapped: bool,
    pub(crate) encoding: Option<&'static encoding_rs::Encoding>,
    pub(crate) sheet: Option<String>,
    pub(crate) json_pointer: Option<String>,
}

impl Compiled {
    /// The header a field was read from, for error messages: the first alternative.
    pub(crate) fn header_of(&self, field: Field) -> String {
        self.names.get(&field).and_then(|n| n.first()).cloned().unwrap_or_else(|| field.as_str().to_owned())
    }
}

impl Mapping {
    /// Every problem of the mapping, or none.
    pub fn validate(&self) -> Result<(), Vec<MappingError>> {
        self.compile().map(|_| ())
    }

    /// Parses a mapping saved as JSON (no validation: call [`Mapping::validate`]).
    pub fn from_json(json: &str) -> Result<Mapping, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The mapping as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub(crate) fn compile(&self) -> Result<Compiled, Vec<MappingError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(MappingError::NoName);
        }
        let platform = self.platform.trim();
        if platform.is_empty()
            || platform.len() > MAX_PLATFORM_CHARS
            || !platform.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
        {
            errors.push(MappingError::BadPlatform(self.platform.clone()));
        }
        let mut headers: HashMap<String, (Field, usize)> = HashMap::new();
        let mut names = BTreeMap::new();
        for (field, list) in &self.columns {
            if !field.applies_to(self.kind) {
                errors.push(MappingError::NotForKind { field: *field, kind: self.kind });
            }
            if list.is_empty() || list.iter().any(|h| header_key(h).is_empty()) {
                errors.push(MappingError::EmptyHeader(*field));
                continue;
            }
            names.insert(*field, list.iter().map(|h| h.trim().to_owned()).collect());
            for (rank, h) in list.iter().enumerate() {
                match headers.get(&header_key(h)) {
                    Some((other, _)) if other != field => errors.push(MappingError::HeaderTwice {
                        header: h.trim().to_owned(),
                        first: *other,
                        second: *field,
                    }),
                    Some(_) => {}
                    None => {
                        headers.insert(header_key(h), (*field, rank));
                    }
                }
            }
        }
        if !names.contains_key(&Field::ExternalId) && !errors.contains(&MappingError::EmptyHeader(Field::ExternalId)) {
            errors.push(MappingError::NoExternalId);
        }
        let mut required = [false; Field::ALL.len()];
        required[Field::ExternalId.index()] = true;
        for field in &self.required {
            required[field.index()] = true;
            let fixed = *field == Field::Shop && self.shop.as_deref().is_some_and(|s| !s.trim().is_empty());
            if *field != Field::ExternalId && !self.columns.contains_key(field) && !fixed {
                errors.push(MappingError::RequiredNotMapped(*field));
            }
        }
        let offset = parse_offset(&self.utc_offset);
        if offset.is_none() {
            errors.push(MappingError::BadOffset(self.utc_offset.clone()));
        }
        for f in &self.time_formats {
            if f.trim().is_empty() || StrftimeItems::new(f).any(|i| matches!(i, Item::Error)) {
                errors.push(MappingError::BadTimeFormat(f.clone()));
            }
        }
        let currency = self.currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(MappingError::BadCurrency(self.currency.clone()));
        }
        let encoding = match &self.encoding {
            None => None,
            Some(label) => match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
                Some(e) => Some(e),
                None => {
                    errors.push(MappingError::BadEncoding(label.clone()));
                    None
                }
            },
        };
        if let Some(p) = &self.json_pointer
            && !p.is_empty()
            && !p.starts_with('/')
        {
            errors.push(MappingError::BadJsonPointer(p.clone()));
        }
        if !(1..=4).contains(&self.ticket.negative_rating_max) {
            errors.push(MappingError::BadNegativeRating(self.ticket.negative_rating_max));
        }
        let (Some(offset), true) = (offset, errors.is_empty()) else {
            return Err(errors);
        };
        let mut values = vec![HashMap::new(); Field::ALL.len()];
        for (field, map) in &self.values {
            values[field.index()] = map.iter().map(|(k, v)| (value_key(k), v.trim().to_owned())).collect();
        }
        Ok(Compiled {
            kind: self.kind,
            platform: platform.to_owned(),
            shop: self.shop.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            headers,
            names,
            required,
            time_formats: self.time_formats.clone(),
            offset,
            currency,
            values,
            extra: self.extra_columns.iter().map(|h| (header_key(h), ())).collect(),
            keep_unmapped: self.keep_unmapped,
            encoding,
            sheet: self.sheet.clone().filter(|s| !s.trim().is_empty()),
            json_pointer: self.json_pointer.clone().filter(|p| !p.is_empty()),
        })
    }

    /// Proposes a mapping from a file's header names: each header that a built-in dictionary of common Chinese and
    /// English export headers recognises feeds its field; the kind follows from the headers (a refund number or
    /// refund amount → refunds, a rating or review text → reviews, else orders). The platform is `own` and the name
    /// empty: the admin completes and saves it. Unrecognised headers are left out.
    pub fn guess<S: AsRef<str>>(headers: &[S]) -> Mapping {
        let keys: Vec<(String, &str)> = headers.iter().map(|h| (header_key(h.as_ref()), h.as_ref().trim())).collect();
        let has = |words: &[&str]| keys.iter().any(|(k, _)| words.iter().any(|w| k.contains(&header_key(w))));
        let kind = if has(&["退款编号", "退款单号", "退款金额", "售后单号", "服务单号", "refund", "return"])
        {
            RecordKind::Refund
        } else if has(&["评分", "评价内容", "评价编号", "评论", "rating", "review"]) {
            RecordKind::Review
        } else {
            RecordKind::Order
        };
        let mut columns: BTreeMap<Field, Vec<String>> = BTreeMap::new();
        let mut taken = vec![false; keys.len()];
        for (field, synonyms) in synonyms(kind) {
            // Dictionary order is preference order: the first synonym found in the file wins.
            let found = synonyms.iter().find_map(|s| {
                let key = header_key(s);
                keys.iter().enumerate().position(|(i, (k, _))| !taken[i] && *k == key)
            });
            if let Some(i) = found {
                taken[i] = true;
                columns.insert(field, vec![keys[i].1.to_owned()]);
            }
        }
        let mut required = Vec::new();
        if kind != RecordKind::Order && columns.contains_key(&Field::OrderId) {
            required.push(Field::OrderId);
        }
        for f in [Field::CreatedAt, Field::Rating] {
            if columns.contains_key(&f) {
                required.push(f);
            }
        }
        Mapping {
            name: String::new(),
            kind,
            platform: "own".into(),
            shop: None,
            columns,
            required,
            time_formats: Vec::new(),
            utc_offset: default_offset(),
            currency: default_currency(),
            values: BTreeMap::new(),
            extra_columns: Vec::new(),
            keep_unmapped: false,
            encoding: None,
            sheet: None,
            json_pointer: None,
            ticket: TicketRules::default(),
        }
    }
}

/// Common export headers per field, most specific first.
fn synonyms(kind: RecordKind) -> Vec<(Field, &'static [&'static str])> {
    let id: &'static [&'static str] = match kind {
        RecordKind::Refund => &[
            "退款编号",
            "退款单号",
            "售后单号",
            "服务单号",
            "退货单号",
            "refund id",
            "refund no",
            "refund number",
            "return id",
        ],
        RecordKind::Review => &["评价编号", "评价ID", "评论ID", "评论编号", "review id", "comment id"],
        RecordKind::Order => &["订单编号", "订单号", "主订单编号", "order id", "order no", "order number"],
    };
    let order: &'static [&'static str] = match kind {
        RecordKind::Order => &[],
        _ => &["订单编号", "订单号", "主订单编号", "子订单编号", "order id", "order no", "order number"],
    };
    let amount: &'static [&'static str] = match kind {
        RecordKind::Refund => &["退款金额", "买家退款金额", "申请退款金额", "退款金额(元)", "refund amount", "amount"],
        _ => &["实付金额", "买家实际支付金额", "订单金额", "应付金额", "总金额", "paid amount", "total", "amount"],
    };
    let created: &'static [&'static str] = match kind {
        RecordKind::Refund => &["退款申请时间", "申请时间", "创建时间", "requested at", "created at", "date"],
        RecordKind::Review => &["评价时间", "评论时间", "创建时间", "reviewed at", "created at", "date"],
        RecordKind::Order => &["订单创建时间", "下单时间", "创建时间", "付款时间", "created at", "order date", "date"],
    };
    let status: &'static [&'static str] = match kind {
        RecordKind::Refund => &["退款状态", "售后状态", "状态", "refund status", "status"],
        RecordKind::Review => &["评价状态", "回复状态", "状态", "status"],
        RecordKind::Order => &["订单状态", "状态", "order status", "status"],
    };
    let mut out: Vec<(Field, &'static [&'static str])> = vec![
        (Field::ExternalId, id),
        (Field::OrderId, order),
        (Field::Shop, &["店铺名称", "店铺", "shop", "store", "shop name"]),
        (
            Field::Customer,
            &[
                "买家昵称",
                "买家会员名",
                "用户昵称",
                "客户昵称",
                "收货人姓名",
                "收货人",
                "customer",
                "buyer",
                "nickname",
            ],
        ),
        (Field::Contact, &["联系电话", "联系手机", "手机号", "手机", "收货人手机", "phone", "mobile", "contact"]),
        (Field::Amount, amount),
        (Field::Currency, &["币种", "currency"]),
        (Field::Status, status),
        (Field::Category, &["退款类型", "售后类型", "服务类型", "评价类型", "订单类型", "type"]),
        (Field::Reason, &["退款原因", "售后原因", "申请原因", "原因", "reason"]),
        (
            Field::Content,
            &["评价内容", "评论内容", "退款说明", "问题描述", "买家留言", "content", "comment", "description"],
        ),
        (Field::CreatedAt, created),
        (Field::Items, &["商品名称", "商品标题", "宝贝标题", "商品", "product", "item", "title"]),
    ];
    if kind == RecordKind::Review {
        out.push((Field::Rating, &["评分", "商品评分", "评价星级", "星级", "评价等级", "rating", "score", "stars"]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Mapping {
        let mut m = Mapping::guess(&["退款编号", "订单编号", "退款金额", "申请时间"]);
        m.name = "test".into();
        m
    }

    #[test]
    fn a_guessed_mapping_is_valid_once_named() {
        let m = minimal();
        assert_eq!(m.kind, RecordKind::Refund);
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.columns.get(&Field::ExternalId), Some(&vec!["退款编号".to_owned()]));
        assert_eq!(m.columns.get(&Field::OrderId), Some(&vec!["订单编号".to_owned()]));
        assert_eq!(m.required, vec![Field::OrderId, Field::CreatedAt]);
    }

    #[test]
    fn guess_tells_reviews_and_orders_apart() {
        let r = Mapping::guess(&["评价编号", "订单号", "评分", "评价内容", "评价时间", "商品名称", "随便一列"]);
        assert_eq!(r.kind, RecordKind::Review);
        assert_eq!(r.columns.len(), 6);
        assert_eq!(r.columns.get(&Field::Rating), Some(&vec!["评分".to_owned()]));
        let o = Mapping::guess(&["Order No", "Buyer", "Paid Amount", "Order Date"]);
        assert_eq!(o.kind, RecordKind::Order);
        assert_eq!(o.columns.get(&Field::ExternalId), Some(&vec!["Order No".to_owned()]));
        assert_eq!(o.columns.get(&Field::Amount), Some(&vec!["Paid Amount".to_owned()]));
    }

    #[test]
    fn every_problem_is_reported_in_both_languages() {
        let mut m = minimal();
        m.name = " ".into();
        m.platform = "Tmall!".into();
        m.columns.remove(&Field::ExternalId);
        m.columns.insert(Field::Rating, vec!["评分".into()]);
        m.columns.insert(Field::Reason, vec!["订单 编号".into()]);
        m.columns.insert(Field::Items, vec![" ".into()]);
        m.required.push(Field::Contact);
        m.utc_offset = "Beijing".into();
        m.time_formats = vec!["%Y-%m-%d %Q".into()];
        m.currency = "yuan".into();
        m.encoding = Some("klingon".into());
        m.json_pointer = Some("data".into());
        m.ticket.negative_rating_max = 5;
        let errors = m.validate().expect_err("invalid");
        let want = vec![
            MappingError::NoName,
            MappingError::BadPlatform("Tmall!".into()),
            MappingError::HeaderTwice { header: "订单 编号".into(), first: Field::OrderId, second: Field::Reason },
            MappingError::NotForKind { field: Field::Rating, kind: RecordKind::Refund },
            MappingError::EmptyHeader(Field::Items),
            MappingError::NoExternalId,
            MappingError::RequiredNotMapped(Field::Contact),
            MappingError::BadOffset("Beijing".into()),
            MappingError::BadTimeFormat("%Y-%m-%d %Q".into()),
            MappingError::BadCurrency("yuan".into()),
            MappingError::BadEncoding("klingon".into()),
            MappingError::BadJsonPointer("data".into()),
            MappingError::BadNegativeRating(5),
        ];
        assert_eq!(errors, want);
        for e in &errors {
            assert!(!e.to_string().is_empty() && !e.zh().is_empty());
        }
        assert_eq!(errors[6].zh(), "“联系方式”为必填，但没有列映射到它");
    }

    #[test]
    fn a_mapping_round_trips_through_json() -> Result<(), serde_json::Error> {
        let m = minimal();
        assert_eq!(Mapping::from_json(&m.to_json())?, m);
        assert!(Mapping::from_json(r#"{"name":"x","kind":"refund","platform":"jd","columns":{},"bogus":1}"#).is_err());
        Ok(())
    }
}
