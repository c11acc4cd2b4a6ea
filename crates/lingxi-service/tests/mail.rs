//! Outgoing e-mail over real SMTP (lettre talking to a small SMTP receiver in the test), on SQLite always and
//! PostgreSQL when set: an SLA breach e-mails the people its policy names exactly once across two nodes; a public
//! ticket reply reaches the requester who left an e-mail address, an internal note does not; without an SMTP
//! server the e-mails wait in the outbox with the reason.

use chrono::TimeDelta;
use lingxi_bus::Bus;
use lingxi_domain::sla::{SlaPolicy, WarnBefore};
use lingxi_service::mail::{MailConfig, Mailer};
use lingxi_service::{Authenticated, Services, TicketInput, TicketSettings};
use lingxi_store::{Actor, Store};
use lingxi_types::*;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[macro_use]
mod common;
use common::TestResult;

/// One received e-mail: the envelope recipients and the raw message.
#[derive(Clone, Debug)]
struct Received {
    to: Vec<String>,
    data: Vec<u8>,
}

/// A minimal SMTP receiver (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP, QUIT) on
/// loopback; returns its URL for lettre and what it received.
async fn smtp_receiver() -> Result<(String, Arc<Mutex<Vec<Received>>>), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let inbox: Arc<Mutex<Vec<Received>>> = Arc::default();
    let kept = inbox.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = sock.into_split();
                let mut lines = BufReader::new(read);
                let _ = write.write_all(b"220 test ESMTP ready\r\n").await;
                let mut to = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM") || upper.starts_with("NOOP") {
                        b"250 OK\r\n"
                    } else if upper.starts_with("RSET") {
                        to.clear();
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        let mut data = Vec::new();
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            let l = line.strip_prefix('.').unwrap_or(&line);
                            data.extend_from_slice(l.as_bytes());
                        }
                        if let Ok(mut all) = kept.lock() {
                            all.push(Received { to: std::mem::take(&mut to), data });
                        }
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"502 not implemented\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((url, inbox))
}

fn mailer(url: &str) -> Result<Mailer, String> {
    Mailer::new(&MailConfig { smtp_url: url.to_owned(), from: "灵犀客服 <support@shop.test>".into() })
}

/// The subject and the text body of a received e-mail.
fn read(mail: &Received) -> (String, String) {
    let parsed = mail_parser::MessageParser::default().parse(&mail.data);
    let subject = parsed.as_ref().and_then(|m| m.subject()).unwrap_or_default().to_owned();
    let body = parsed.as_ref().and_then(|m| m.body_text(0)).map(|b| b.into_owned()).unwrap_or_default();
    (subject, body)
}

both_backends!(an_sla_breach_emails_the_policys_people_once_across_two_nodes, breach_on);
async fn breach_on(a: Store, b: Store) -> TestResult {
    let t = a.create_tenant("m", "M", "wk_m").await?;
    let (url, inbox) = smtp_receiver().await?;
    let nodes = [Services::new(a.clone(), Bus::default()), Services::new(b, Bus::default())];
    for node in &nodes {
        node.set_mailer(Some(mailer(&url)?));
    }
    let mut policy = SlaPolicy {
        name: "vip".into(),
        conditions: vec![],
        first_response: Some(TimeDelta::seconds(600)),
        resolution: None,
        business_hours: false,
        warn_before: WarnBefore::Fraction(0.25),
        escalation: Default::default(),
    };
    policy.escalation.email_to = vec!["not an address".into()];
    let settings = |p: SlaPolicy| TicketSettings {
        rules: vec![],
        triage_group_id: None,
        auto_classify: false,
        threshold: 0.5,
        sla_policies: vec![p],
        calendar: None,
        custom_fields: vec![],
    };
    assert!(nodes[0].save_ticket_settings(t.id, settings(policy.clone())).await.is_err(), "a bad address");
    policy.escalation.email_to = vec!["lead@shop.test".into(), "boss@shop.test".into()];
    nodes[0].save_ticket_settings(t.id, settings(policy)).await?;
    let who = Actor { user_id: None, name: "api".into() };
    let input = TicketInput { title: "退款还没到账".into(), ..Default::default() };
    let (ticket, _) = nodes[0].create_ticket(t.id, &who, "api", input, None).await?;
    let late = ticket.created_at + TimeDelta::seconds(3600);
    let (f0, f1) = tokio::join!(nodes[0].sla_tick(late), nodes[1].sla_tick(late));
    assert!(f0? + f1? >= 1);
    let (d0, d1) = tokio::join!(nodes[0].deliver_webhooks(late), nodes[1].deliver_webhooks(late));
    assert_eq!(d0? + d1?, 2, "two e-mails, each sent by one node");
    assert_eq!(nodes[0].deliver_webhooks(late + TimeDelta::hours(1)).await?, 0, "nothing left");
    let got = inbox.lock().map(|i| i.clone()).unwrap_or_default();
    let mut to: Vec<String> = got.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["boss@shop.test", "lead@shop.test"], "{got:?}");
    let (subject, body) = read(&got[0]);
    assert!(subject.contains(&format!("#{}", ticket.number)) && subject.contains("退款还没到账"), "{subject}");
    assert!(body.contains("首次响应已超时") && body.contains("first response overdue"), "{body}");
    let records = a.webhook_records(t.id, 10).await?;
    assert!(records.iter().all(|r| r.url.starts_with("mailto:") && r.delivered_at.is_some()), "{records:?}");
    Ok(())
}

both_backends!(a_public_reply_is_emailed_to_the_requester_and_a_note_is_not, reply_on);
async fn reply_on(store: Store, _b: Store) -> TestResult {
    let t = store.create_tenant("r", "R Shop", "wk_r").await?;
    let user = store.create_user(t.id, "li@r.test", "李娜", Role::Agent, "x").await?;
    let li = Authenticated::new(user, t.clone());
    let services = Services::new(store.clone(), Bus::default());
    let who = Actor { user_id: None, name: "form".into() };
    let input = TicketInput {
        title: "发票抬头写错了".into(),
        requester_name: Some("张先生".into()),
        requester_contact: Some("Zhang@Example.COM".into()),
        ..Default::default()
    };
    let (ticket, _) = services.create_ticket(t.id, &who, "form", input, None).await?;

    // Without an SMTP server nothing is queued.
    services.comment_ticket(&li, ticket.id, "没有邮件服务器时的回复", true).await?;
    assert!(store.webhook_records(t.id, 10).await?.is_empty());

    let (url, inbox) = smtp_receiver().await?;
    services.set_mailer(Some(mailer(&url)?));
    services.comment_ticket(&li, ticket.id, "内部备注：先核对订单", false).await?;
    services.comment_ticket(&li, ticket.id, "您好，已为您重新开具发票，请查收。", true).await?;
    let now = chrono::Utc::now();
    assert_eq!(services.deliver_webhooks(now).await?, 1, "the reply, not the note");
    let got = inbox.lock().map(|i| i.clone()).unwrap_or_default();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["zhang@example.com"]);
    let (subject, body) = read(&got[0]);
    assert_eq!(subject, format!("[#{}] 发票抬头写错了", ticket.number));
    assert!(body.contains("张先生") && body.contains("已为您重新开具发票") && body.contains("李娜"), "{body}");
    assert!(!body.contains("内部备注"), "{body}");

    // E-mail turned off again: a queued e-mail waits with the reason (and is retried later).
    services.comment_ticket(&li, ticket.id, "再补充一句", true).await?;
    services.set_mailer(None);
    assert_eq!(services.deliver_webhooks(now + TimeDelta::seconds(1)).await?, 0);
    let records = store.webhook_records(t.id, 10).await?;
    let waiting = records.iter().find(|r| r.delivered_at.is_none()).ok_or("a waiting e-mail")?;
    assert!(waiting.last_error.as_deref().is_some_and(|e| e.contains("LINGXI_SMTP_URL")), "{waiting:?}");
    assert!(waiting.failed_at.is_none(), "retried later, not given up");
    Ok(())
}
