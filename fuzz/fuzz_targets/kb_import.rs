//! A knowledge-base file uploaded in the admin console or with `lingxi kb import` (CSV or xlsx), and the answer
//! HTML of every row through the sanitiser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lingxi_kb::{ALLOWED_TAGS, TableFormat, read_table, sanitize_answer};

/// Every tag in sanitised HTML is one of the allowed ones (text `<` is always escaped, so any `<` starts a tag).
fn only_allowed_tags(html: &str) {
    for (at, _) in html.match_indices('<') {
        let name: String = html[at + 1..]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(ALLOWED_TAGS.contains(&name.as_str()), "tag <{name}> left in {html:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let format = if selector % 2 == 0 { TableFormat::Csv } else { TableFormat::Xlsx };
    if let Ok(table) = read_table(format, bytes) {
        for row in &table.rows {
            let _ = format!("{row:?}");
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let answer = sanitize_answer(text);
        only_allowed_tags(&answer.html);
    }
});
