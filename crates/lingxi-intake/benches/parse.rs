//! Reading a big-sale-day export: 100,000 synthetic refund rows as CSV (UTF-8 and GBK) and JSON Lines, 20,000 as
//! xlsx, through the shipped Tmall-style mapping.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lingxi_intake::{Format, Mapping, parse, shipped};
use std::hint::black_box;
use std::time::Duration;

const HEADER: [&str; 16] = [
    "退款编号",
    "订单编号",
    "店铺名称",
    "买家会员名",
    "手机号",
    "买家实际支付金额",
    "买家退款金额",
    "宝贝标题",
    "退款类型",
    "退款状态",
    "退款原因",
    "退款说明",
    "退款的申请时间",
    "物流公司",
    "退货运单号",
    "货物状态",
];

/// Row `i` of the synthetic export, deterministic.
fn row(i: usize) -> [String; 16] {
    let price = 990 + (i * 7919) % 200_000;
    [
        format!("R{:012}", i),
        format!("2026111{:013}", i * 31),
        ["灵犀旗舰店", "灵犀数码专营店", "灵犀家居店"][i % 3].to_owned(),
        format!("买家**{}", i % 997),
        format!("13{}****{:04}", i % 10, i % 10_000),
        format!("{}.{:02}", price / 100, price % 100),
        if i.is_multiple_of(2) { format!("¥{}.{:02}", price / 100, price % 100) } else { format!("{}", price / 100) },
        ["无线降噪耳机 Pro 黑色", "智能手表 S3 42mm", "保温杯 500ml 雾蓝", "空气炸锅 5L"][i % 4].to_owned(),
        ["仅退款", "退货退款"][i % 2].to_owned(),
        ["退款成功", "买家已经申请退款，等待卖家同意", "退款关闭"][i % 3].to_owned(),
        ["七天无理由退换货", "商品质量问题", "尺码不合适", "发错货"][i % 4].to_owned(),
        format!("第 {i} 单：收到的商品有问题，麻烦尽快处理，谢谢"),
        format!("2026-11-{:02} {:02}:{:02}:{:02}", 11 + i % 3, i % 24, i % 60, (i * 7) % 60),
        ["顺丰速运", "", "中通快递"][i % 3].to_owned(),
        if i % 3 == 1 { String::new() } else { format!("SF{:012}", i) },
        ["已收到货", "未收到货"][i % 2].to_owned(),
    ]
}

fn csv_bytes(rows: usize) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER).expect("in memory");
    for i in 0..rows {
        w.write_record(row(i)).expect("in memory");
    }
    w.into_inner().expect("in memory")
}

fn jsonl_bytes(rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..rows {
        let object: serde_json::Map<String, serde_json::Value> =
            HEADER.iter().zip(row(i)).map(|(h, v)| ((*h).to_owned(), serde_json::Value::String(v))).collect();
        serde_json::to_writer(&mut out, &object).expect("in memory");
        out.push(b'\n');
    }
    out
}

fn xlsx_bytes(rows: usize) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("in memory");
    }
    for i in 0..rows {
        for (c, v) in row(i).iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(i as u32 + 1, c as u16, v).expect("in memory");
            }
        }
    }
    book.save_to_buffer().expect("in memory")
}

fn mapping() -> Mapping {
    shipped("tmall-refunds").expect("shipped").mapping().expect("valid JSON")
}

fn check(bytes: &[u8], format: Format, mapping: &Mapping, rows: usize) {
    let outcome = parse(bytes, format, mapping).expect("readable");
    assert_eq!((outcome.records.len(), outcome.rows_rejected), (rows, 0), "{:?}", outcome.errors.first());
}

fn bench(c: &mut Criterion) {
    let mapping = mapping();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));

    let csv = csv_bytes(100_000);
    check(&csv, Format::Csv, &mapping, 100_000);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("csv_utf8_100k_refunds", |b| b.iter(|| parse(black_box(&csv), Format::Csv, &mapping)));

    let text = std::str::from_utf8(&csv).expect("UTF-8");
    let (gbk, _, _) = encoding_rs::GB18030.encode(text);
    check(&gbk, Format::Csv, &mapping, 100_000);
    group.bench_function("csv_gbk_100k_refunds", |b| b.iter(|| parse(black_box(&gbk), Format::Csv, &mapping)));

    let jsonl = jsonl_bytes(100_000);
    check(&jsonl, Format::Json, &mapping, 100_000);
    group.bench_function("jsonl_100k_refunds", |b| b.iter(|| parse(black_box(&jsonl), Format::Json, &mapping)));

    let xlsx = xlsx_bytes(20_000);
    check(&xlsx, Format::Xlsx, &mapping, 20_000);
    group.throughput(Throughput::Elements(20_000));
    group.bench_function("xlsx_20k_refunds", |b| b.iter(|| parse(black_box(&xlsx), Format::Xlsx, &mapping)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
