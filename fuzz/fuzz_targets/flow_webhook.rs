//! A task flow's webhook answer (any bytes a business's server sends back) rendered into the reply template, and
//! a visitor's text through the flow's slot patterns.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use lingxi_bot::flows::render;

const TEMPLATE: &str =
    "订单 {{slots.order_no}}：{{response.status}}，{{response.items.0.name}} {{response.eta}} {{unknown}} {{";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        if let Ok(text) = std::str::from_utf8(data) {
            // The bytes as a template: a tenant's admin writes these.
            let _ = render(text, &BTreeMap::new(), &serde_json::Value::Null);
        }
        return;
    };
    let slots = BTreeMap::from([("order_no".to_owned(), "LX20260001".to_owned())]);
    let out = render(TEMPLATE, &slots, &value);
    assert!(out.chars().count() <= TEMPLATE.chars().count() + 5 * 1000, "a value is cut at 1000 characters");
});
