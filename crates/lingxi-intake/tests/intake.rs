//! Black-box tests: the shipped mappings and their samples, every format and encoding, row-level errors, keys and
//! ticket facts.

use lingxi_intake::{
    ApplyPolicy, Field, Format, ImportOutcome, IntakeError, Mapping, MappingError, Progress, RecordKind, SHIPPED,
    parse, parse_with_progress, shipped,
};
use std::collections::BTreeSet;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn tmall() -> Mapping {
    shipped("tmall-refunds").expect("shipped").mapping().expect("valid JSON")
}

fn jd() -> Mapping {
    shipped("jd-reviews").expect("shipped").mapping().expect("valid JSON")
}

fn csv(text: &str, mapping: &Mapping) -> Result<ImportOutcome, IntakeError> {
    parse(text.as_bytes(), Format::Csv, mapping)
}

fn errors(outcome: &ImportOutcome) -> Vec<(usize, Option<&str>)> {
    outcome.errors.iter().map(|e| (e.row, e.column.as_deref())).collect()
}

/// A small refund mapping for hand-written files.
fn refunds() -> Mapping {
    let mut m = Mapping::guess(&["退款编号", "订单编号", "退款金额", "退款原因", "申请时间", "买家昵称", "店铺名称"]);
    m.name = "test".into();
    m.platform = "own".into();
    m.required.push(Field::Amount);
    m
}

#[test]
fn the_shipped_mappings_read_their_samples_without_errors() -> TestResult {
    for s in SHIPPED {
        let mapping = s.mapping()?;
        assert_eq!(mapping.validate(), Ok(()), "{}", s.id);
        let outcome = parse(s.sample, Format::sniff(s.sample), &mapping)?;
        assert!(outcome.errors.is_empty(), "{}: {:?}", s.id, outcome.errors);
        assert_eq!((outcome.rows_read, outcome.records.len(), outcome.duplicates), (20, 20, 0), "{}", s.id);
        let keys: BTreeSet<String> = outcome.records.iter().map(|r| r.key().to_string()).collect();
        assert_eq!(keys.len(), 20, "{}", s.id);
        for r in &outcome.records {
            assert!(r.created_at.is_some() && r.order_id.is_some() && r.shop.is_some(), "{}: {r:?}", s.id);
        }
    }
    Ok(())
}

#[test]
fn the_tmall_sample_is_normalised() -> TestResult {
    let s = shipped("tmall-refunds").expect("shipped");
    let out = parse(s.sample, Format::Csv, &tmall())?;
    let first = &out.records[0];
    assert_eq!(first.row, 2);
    assert_eq!(first.key().to_string(), "tmall:refund:R202611100000");
    assert_eq!(first.order_id.as_deref(), Some("20261111000053464097"), "the =\"…\" wrapper is removed");
    assert_eq!(first.amount_cents, Some(64_950));
    assert_eq!(first.currency, "CNY");
    assert_eq!(first.status.as_deref(), Some("requested"));
    assert_eq!(first.category.as_deref(), Some("refund_only"));
    assert_eq!(first.created_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-11T12:00:00+00:00"));
    assert_eq!(first.extra.get("货物状态").map(String::as_str), Some("未收到货"));
    assert_eq!(first.extra.len(), 3, "only the listed extra columns: {:?}", first.extra);
    // Row 4 holds a description over two lines; the rows after it keep their spreadsheet numbers.
    assert_eq!(out.records[2].content.as_deref(), Some("收到时杯盖破损，\n漏水严重"));
    assert_eq!(out.records[3].row, 5);
    assert_eq!(out.records[19].row, 21);
    Ok(())
}

#[test]
fn the_jd_sample_finds_its_header_below_a_title_row() -> TestResult {
    let s = shipped("jd-reviews").expect("shipped");
    let out = parse(s.sample, Format::Csv, &jd())?;
    let first = &out.records[0];
    assert_eq!(first.row, 3, "row 1 is a title, row 2 the header");
    assert_eq!(first.kind, RecordKind::Review);
    assert_eq!(first.shop.as_deref(), Some("灵犀京东旗舰店"), "the mapping's fixed shop");
    assert_eq!(first.rating, Some(5));
    assert_eq!(first.status.as_deref(), Some("answered"));
    assert_eq!(first.extra.get("商品编号").map(String::as_str), Some("100012345678"));
    let negative = out.records.iter().filter(|r| r.is_negative_review(2)).count();
    assert_eq!(negative, 8);
    Ok(())
}

#[test]
fn bad_rows_are_reported_by_row_and_column_and_never_half_read() -> TestResult {
    let out = csv(
        "退款编号,订单编号,退款金额,退款原因,申请时间\n\
         R1,O1,12.30,质量问题,2026-11-11 10:00\n\
         R2,,12.30,质量问题,2026-11-11 10:00\n\
         \n\
         R3,O3,12.345,质量问题,昨天\n\
         ,O4,1,原因,2026-11-11\n\
         R5,O5,¥1,299.00,x,2026-11-11\n\
         R6,O6,\"¥1,299.00\",发错货,2026/11/11 23:59\n",
        &refunds(),
    )?;
    assert_eq!(out.rows_read, 6);
    assert_eq!(out.records.iter().map(|r| r.row).collect::<Vec<_>>(), vec![2, 8]);
    assert_eq!(
        errors(&out),
        vec![
            (3, Some("订单编号")),
            (5, Some("退款金额")),
            (5, Some("申请时间")),
            (6, Some("退款编号")),
            (7, Some("申请时间")),
        ]
    );
    assert_eq!(out.rows_rejected, 4);
    let e = &out.errors[1];
    assert_eq!((e.field, e.message.as_str()), (Some(Field::Amount), "\"12.345\" has more than two decimals"));
    assert_eq!(e.message_zh, "“12.345”的小数超过两位");
    assert_eq!(out.records[1].amount_cents, Some(129_900));
    assert_eq!(out.to_apply(ApplyPolicy::ValidRows).map(<[_]>::len), Ok(2));
    assert_eq!(out.to_apply(ApplyPolicy::AllOrNothing).map(<[_]>::len), Err(4));
    Ok(())
}

#[test]
fn repeated_ids_are_dropped_when_identical_and_refused_when_different() -> TestResult {
    let out = csv(
        "退款编号,订单编号,退款金额,申请时间\n\
         R1,O1,10,2026-11-11 10:00\n\
         R1,O1,10.00,2026-11-11 10:00:00\n\
         R1,O1,11,2026-11-11 10:00\n",
        &refunds(),
    )?;
    assert_eq!((out.records.len(), out.duplicates, out.rows_rejected), (1, 1, 1));
    assert_eq!(errors(&out), vec![(4, Some("退款编号"))]);
    assert!(out.errors[0].message.contains("row 2"), "{}", out.errors[0].message);
    Ok(())
}

#[test]
fn gbk_utf16_bom_and_tab_separated_files_read_the_same() -> TestResult {
    let s = shipped("tmall-refunds").expect("shipped");
    let mapping = tmall();
    let reference = parse(s.sample, Format::Csv, &mapping)?;
    let text = std::str::from_utf8(s.sample)?.trim_start_matches('\u{feff}');
    // GB18030 (GBK's superset: GBK itself has no `¥`, which the sample uses).
    let (gbk, _, lossy) = encoding_rs::GB18030.encode(text);
    assert!(!lossy);
    assert!(std::str::from_utf8(&gbk).is_err(), "really not UTF-8");
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let no_bom = text.as_bytes().to_vec();
    for bytes in [gbk.into_owned(), utf16, no_bom] {
        assert_eq!(parse(&bytes, Format::Csv, &mapping)?, reference);
    }
    let (gbk, _, lossy) =
        encoding_rs::GBK.encode("退款编号,订单编号,退款金额,申请时间\n退款一,订单一,￥12.30,2026-11-11\n");
    assert!(!lossy);
    let out = parse(&gbk, Format::Csv, &refunds())?;
    assert_eq!((out.records[0].external_id.as_str(), out.records[0].amount_cents), ("退款一", Some(1_230)));
    let tsv = "退款编号\t订单编号\t退款金额\t申请时间\nR1\tO1\t1,299.50\t2026-11-11 10:00\n";
    let out = csv(tsv, &refunds())?;
    assert_eq!(out.records[0].amount_cents, Some(129_950));
    let mut forced = refunds();
    forced.encoding = Some("utf-16be".into());
    assert_eq!(parse(b"\xff\xfe\x00", Format::Csv, &refunds()), Err(IntakeError::NotText));
    assert!(matches!(parse(b"\xd8\x00", Format::Csv, &forced), Err(IntakeError::NotText)));
    Ok(())
}

#[test]
fn xlsx_cells_keep_their_types() -> TestResult {
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("退款")?;
    let date = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    // A title in row 2, the header in row 3, data from row 4 (row 1 left empty).
    sheet.write_string(1, 0, "退款导出")?;
    for (c, h) in ["退款编号", "订单编号", "退款金额", "申请时间", "买家昵称"].iter().enumerate() {
        sheet.write_string(2, c as u16, *h)?;
    }
    sheet.write_string(3, 0, "R1")?;
    sheet.write_number(3, 1, 123_456_789.0)?;
    sheet.write_number(3, 2, 19.99)?;
    sheet.write_datetime_with_format(3, 3, ExcelDateTime::parse_from_str("2026-11-11 23:59:59")?, &date)?;
    sheet.write_string(3, 4, "小**米")?;
    sheet.write_number(4, 0, 2.0)?;
    sheet.write_string(4, 1, "O2")?;
    sheet.write_number(4, 2, 1.005)?;
    sheet.write_number(4, 3, 46_337.5)?;
    sheet.write_string(5, 0, "R3")?;
    sheet.write_number(5, 1, 2.026_111_100_012_345e18)?;
    sheet.write_string(5, 2, "8")?;
    sheet.write_string(5, 3, "2026/11/11 8:00")?;
    let bytes = book.save_to_buffer()?;
    assert_eq!(Format::sniff(&bytes), Format::Xlsx);
    let mut mapping = refunds();
    mapping.sheet = Some("退款".into());
    let out = parse(&bytes, Format::Xlsx, &mapping)?;
    let r = &out.records[0];
    assert_eq!(r.row, 4);
    assert_eq!(r.order_id.as_deref(), Some("123456789"));
    assert_eq!(r.amount_cents, Some(1_999));
    assert_eq!(r.created_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-11T15:59:59+00:00"));
    assert_eq!(errors(&out), vec![(5, Some("退款金额")), (6, Some("订单编号"))]);
    assert!(out.errors[1].message.contains("lost its last digits"), "{}", out.errors[1].message);
    mapping.sheet = Some("Sheet9".into());
    assert_eq!(parse(&bytes, Format::Xlsx, &mapping), Err(IntakeError::NoSheet("Sheet9".into())));
    Ok(())
}

#[test]
fn the_shipped_samples_read_the_same_from_xlsx_and_json() -> TestResult {
    for s in SHIPPED {
        let mapping = s.mapping()?;
        let reference = parse(s.sample, Format::Csv, &mapping)?;
        let text = std::str::from_utf8(s.sample)?.trim_start_matches('\u{feff}');
        let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
            .collect::<Result<_, _>>()?;
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                sheet.write_string(r as u32, c as u16, v)?;
            }
        }
        let from_xlsx = parse(&book.save_to_buffer()?, Format::Xlsx, &mapping)?;
        assert_eq!(from_xlsx.records, reference.records, "{}", s.id);
        let header = rows.iter().position(|r| r.len() > 3).expect("a header");
        let objects: Vec<serde_json::Map<String, serde_json::Value>> = rows[header + 1..]
            .iter()
            .map(|r| rows[header].iter().cloned().zip(r.iter().cloned().map(serde_json::Value::String)).collect())
            .collect();
        let keys = |o: &ImportOutcome| o.records.iter().map(|r| r.key()).collect::<Vec<_>>();
        let array = parse(serde_json::to_string_pretty(&objects)?.as_bytes(), Format::Json, &mapping)?;
        assert_eq!(keys(&array), keys(&reference), "{}", s.id);
        assert_eq!(array.records[4].row, 5, "a JSON array numbers its objects");
        let lines: String = objects.iter().map(|o| format!("{}\n", serde_json::Value::Object(o.clone()))).collect();
        let jsonl = parse(lines.as_bytes(), Format::Json, &mapping)?;
        assert_eq!(keys(&jsonl), keys(&reference), "{}", s.id);
        for (a, b) in jsonl.records.iter().zip(&reference.records) {
            assert_eq!((&a.content, a.amount_cents, a.created_at), (&b.content, b.amount_cents, b.created_at));
        }
    }
    Ok(())
}

#[test]
fn json_wrappers_nesting_numbers_and_bad_lines() -> TestResult {
    let mut mapping = refunds();
    mapping.columns.insert(Field::Customer, vec!["buyer.nick".into()]);
    let doc = r#"{"code": 0, "data": {"total": 2, "list": [
        {"退款编号": 12345678901234567890, "订单编号": "O1", "退款金额": 12.5, "申请时间": 1794412799, "buyer": {"nick": "小米"}},
        {"退款编号": "R2", "订单编号": "O2", "退款金额": "abc", "申请时间": "2026-11-11"},
        [1, 2]
    ]}}"#;
    let out = parse(doc.as_bytes(), Format::Json, &mapping)?;
    let r = &out.records[0];
    assert_eq!(r.external_id, "12345678901234567890", "a u64 id keeps every digit");
    assert_eq!((r.amount_cents, r.customer.as_deref()), (Some(1_250), Some("小米")));
    assert_eq!(r.created_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-11T15:59:59+00:00"));
    assert_eq!(errors(&out), vec![(2, Some("退款金额")), (3, None)]);
    mapping.json_pointer = Some("/data/list".into());
    assert_eq!(parse(doc.as_bytes(), Format::Json, &mapping)?.records.len(), 1);
    mapping.json_pointer = Some("/data/nothing".into());
    assert!(matches!(parse(doc.as_bytes(), Format::Json, &mapping), Err(IntakeError::Json(_))));
    let lines = "{\"退款编号\":\"R1\",\"订单编号\":\"O1\",\"退款金额\":1,\"申请时间\":\"2026-11-11\"}\n\n{oops\n\
                 {\"订单编号\":\"O4\",\"退款金额\":1,\"申请时间\":\"2026-11-11\"}\n";
    let out = parse(lines.as_bytes(), Format::Json, &refunds())?;
    assert_eq!(errors(&out), vec![(3, None), (4, Some("退款编号"))]);
    assert_eq!(out.records.len(), 1);
    Ok(())
}

#[test]
fn whole_file_problems_are_errors_not_rows() -> TestResult {
    let m = refunds();
    assert_eq!(csv("", &m), Err(IntakeError::Empty));
    assert_eq!(csv("\u{feff}\n\n", &m), Err(IntakeError::Empty));
    let missing = csv("退款编号,订单编号\nR1,O1\n", &m);
    let Err(IntakeError::MissingColumns(cols)) = &missing else { panic!("{missing:?}") };
    assert_eq!(cols.iter().map(|(f, _)| *f).collect::<Vec<_>>(), vec![Field::Amount, Field::CreatedAt]);
    let e = missing.expect_err("missing");
    assert!(e.zh().contains("金额（“退款金额”）"), "{}", e.zh());
    let no_id = csv("foo,bar\n1,2\n", &m);
    assert!(matches!(&no_id, Err(IntakeError::MissingColumns(c)) if c[0].0 == Field::ExternalId), "{no_id:?}");
    assert!(matches!(parse(b"not a zip", Format::Xlsx, &m), Err(IntakeError::Xlsx(_))));
    assert!(matches!(parse(b"[1, 2", Format::Json, &m), Err(IntakeError::Json(_))));
    let mut bad = m.clone();
    bad.platform = "".into();
    let err = csv("退款编号\nR1\n", &bad).expect_err("invalid mapping");
    assert_eq!(err, IntakeError::Mapping(vec![MappingError::BadPlatform(String::new())]));
    assert!(err.zh().starts_with("映射无效"));
    Ok(())
}

#[test]
fn headers_match_loosely_and_prefer_the_first_alternative() -> TestResult {
    let mut m = refunds();
    m.columns.insert(Field::Amount, vec!["退款金额".into(), "金额".into()]);
    m.keep_unmapped = true;
    let out = csv(
        " 金额 ,ＲＥＦＵＮＤ编号,订单编号,退款金额（元）,申请时间：,备注\n5,x,O1,7,2026-11-11,hello\n",
        &{
            let mut m = m.clone();
            m.columns.insert(Field::ExternalId, vec!["refund编号".into()]);
            m.columns.insert(Field::Amount, vec!["退款金额(元)".into(), "金额".into()]);
            m
        },
    )?;
    let r = &out.records[0];
    assert_eq!(r.amount_cents, Some(700), "the preferred header wins even when it comes later");
    assert_eq!(r.extra.get("备注").map(String::as_str), Some("hello"));
    assert!(!r.extra.contains_key("金额"), "a field's other header is not an extra column");
    Ok(())
}

#[test]
fn re_reading_gives_the_same_keys_and_records() -> TestResult {
    let s = shipped("jd-reviews").expect("shipped");
    let a = parse(s.sample, Format::Csv, &jd())?;
    let b = parse(s.sample, Format::Csv, &jd())?;
    assert_eq!(a, b);
    let k = a.records[1].key();
    assert_eq!(k.to_string(), "jd:review:JDR2026111201");
    assert_eq!(serde_json::to_string(&k)?, r#"{"platform":"jd","kind":"review","external_id":"JDR2026111201"}"#);
    Ok(())
}

#[test]
fn refunds_and_negative_reviews_become_ticket_facts() -> TestResult {
    let tm = tmall();
    let refunds = parse(shipped("tmall-refunds").expect("shipped").sample, Format::Csv, &tm)?;
    let facts = refunds.records[0].ticket_facts(&tm).expect("a refund is a candidate");
    assert_eq!(facts.subject, "退款申请：七天无理由退换货（订单 20261111000053464097）");
    assert_eq!(facts.category.as_deref(), Some("售后/退款"));
    assert_eq!((facts.platform.as_str(), facts.shop.as_deref()), ("tmall", Some("灵犀旗舰店")));
    assert_eq!(facts.tags, vec!["import", "refund", "双11"]);
    assert_eq!(facts.source, "import");
    assert!(facts.body.contains("金额：649.50 CNY"), "{}", facts.body);
    assert!(facts.body.contains("时间：2026-11-11 20:00:00 +08:00"), "{}", facts.body);
    assert_eq!(facts.priority, "normal");
    let big = refunds.records.iter().find(|r| r.amount_cents >= Some(100_000)).expect("a big refund");
    assert_eq!(big.ticket_facts(&tm).map(|f| f.priority), Some("high"));

    let mut jd = jd();
    let reviews = parse(shipped("jd-reviews").expect("shipped").sample, Format::Csv, &jd)?;
    assert_eq!(reviews.records[0].ticket_facts(&jd), None, "a 5-star review is no candidate");
    let one_star = reviews.records[1].ticket_facts(&jd).expect("a 1-star review");
    assert_eq!(
        one_star.subject,
        "差评（1 星）：用了三天就坏了，联系客服没人回，非常失望！（订单 ".to_owned()
            + reviews.records[1].order_id.as_deref().unwrap_or_default()
            + "）"
    );
    assert_eq!(
        (one_star.priority, one_star.tags.as_slice()),
        ("high", &["import", "review", "negative_review", "差评"].map(String::from)[..])
    );
    jd.ticket.lang = lingxi_intake::Lang::En;
    let en = reviews.records[1].ticket_facts(&jd).expect("a 1-star review");
    assert!(en.subject.starts_with("Negative review (1★): "), "{}", en.subject);
    assert_eq!(en.category.as_deref(), Some("Reviews/Negative"));
    Ok(())
}

#[test]
fn progress_reaches_the_end() -> TestResult {
    let mut text = String::from("退款编号,订单编号,退款金额,申请时间\n");
    for i in 0..10_000 {
        text.push_str(&format!("R{i},O{i},{i}.5,2026-11-11 10:00\n"));
    }
    let mut seen: Vec<Progress> = Vec::new();
    let out = parse_with_progress(text.as_bytes(), Format::Csv, &refunds(), |p| seen.push(p))?;
    assert_eq!(out.records.len(), 10_000);
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].rows_done <= w[1].rows_done && w[0].fraction <= w[1].fraction));
    let last = seen.last().expect("a final report");
    assert_eq!((last.rows_done, last.rows_total, last.fraction), (10_000, Some(10_000), 1.0));
    Ok(())
}
