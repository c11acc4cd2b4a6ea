//! A marketplace export (orders, refunds, reviews) uploaded to the Intake tab or `lingxi intake import`: CSV in
//! any encoding, xlsx or JSON, read through each shipped column mapping. Its amount and time parsers also read
//! the orders CSV import.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lingxi_intake::{Format, Mapping, parse, parse_amount, parse_rating, shipped};

fn mappings() -> &'static Vec<Mapping> {
    static M: OnceLock<Vec<Mapping>> = OnceLock::new();
    M.get_or_init(|| {
        ["tmall-refunds", "jd-reviews"]
            .iter()
            .filter_map(|id| shipped(id))
            .map(|s| s.mapping().expect("a shipped mapping is valid"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let format = match selector % 4 {
        0 => Format::Csv,
        1 => Format::Xlsx,
        2 => Format::Json,
        _ => Format::sniff(bytes),
    };
    let mapping = &mappings()[usize::from(selector / 4) % mappings().len()];
    if let Ok(outcome) = parse(bytes, format, mapping) {
        let _ = outcome.is_clean();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = parse_amount(text);
        let _ = parse_rating(text);
    }
});
