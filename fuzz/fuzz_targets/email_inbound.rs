//! Incoming e-mail, as the SMTP listener and `POST /tickets/email` hand it to the service: the message parser
//! (`mail-parser`) and everything read from it (sender, subject, body, attachments, automatic-mail checks), the
//! ticket number in a reply's subject, the reply text without its quoted history, and SMTP command paths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lingxi_domain::email::{read_email, reply_text, smtp_path, smtp_size, ticket_number_in};

fuzz_target!(|data: &[u8]| {
    if let Ok(mail) = read_email(data, Some("noreply@shop.test")) {
        assert!(mail.sender.contains('@') && mail.sender == mail.sender.to_lowercase());
        assert!(mail.name.chars().count() <= 100);
        assert!(!mail.subject.chars().any(char::is_control));
        let _ = ticket_number_in(&mail.subject);
        let reply = reply_text(&mail.body);
        // The reply is cut from the body, never made up.
        assert!(reply.len() <= mail.body.len() + 1, "reply longer than the body");
    }
    if let Ok(line) = std::str::from_utf8(data) {
        if let Some((address, params)) = smtp_path(line, "FROM:") {
            assert!(address.len() <= 254);
            let _ = smtp_size(params);
        }
        let _ = ticket_number_in(line);
        let _ = reply_text(line);
    }
});
