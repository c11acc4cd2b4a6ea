//! A text frame on the widget's and the workspace's WebSockets, as the server reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lingxi_types::frames::{AgentFrame, WidgetFrame};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(WidgetFrame::Message { client_id, .. }) = WidgetFrame::parse(text) {
        assert!(!client_id.is_empty() && client_id.chars().count() <= lingxi_types::frames::MAX_CLIENT_ID);
    }
    let _ = AgentFrame::parse(text);
});
