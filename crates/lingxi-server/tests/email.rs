//! Tickets from incoming e-mail through the real SMTP listener (`lingxi_server::smtp`), with lettre as the
//! sending mail server, on SQLite always and PostgreSQL when `LINGXI_TEST_POSTGRES_URL` is set: unknown
//! recipients are refused at RCPT; a message makes one ticket (with its attachment, the sender as requester and an
//! acknowledgement queued) however often it is delivered; the requester's reply naming `[#N]` is added to that
//! ticket without the quoted history and reopens it; a stranger's or a reply to a closed ticket makes a new one;
//! automatic mail makes none; each tenant gets only the mail for its own addresses.

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lingxi_bus::Bus;
use lingxi_domain::ticket::TicketStatus;
use lingxi_service::mail::{MailConfig, Mailer};
use lingxi_service::{Authenticated, Services, TicketPatch};
use lingxi_store::testing::{POSTGRES_URL_VAR, scratch_postgres_url};
use lingxi_store::{Store, TicketFilter};
use lingxi_types::*;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_mail_becomes_tickets_and_replies() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("lingxi.db").display());
    run(Store::connect(&url).await?).await?;
    if let Some(pg) = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty()) {
        run(Store::connect(&scratch_postgres_url(&pg).await?).await?).await?;
    }
    Ok(())
}

/// The PNG signature plus a little: enough for the type check.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

fn mail(from: &str, to: &str, subject: &str, id: &str, text: &str) -> Result<Message, lettre::error::Error> {
    let from: Mailbox = from.parse().map_err(|_| lettre::error::Error::MissingFrom)?;
    let to: Mailbox = to.parse().map_err(|_| lettre::error::Error::MissingTo)?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(id.to_owned()))
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_owned())
}

async fn tickets(store: &Store, tenant: TenantId) -> Result<Vec<lingxi_store::Ticket>, lingxi_store::StoreError> {
    let (list, _) = store.list_tickets(tenant, &TicketFilter { limit: Some(100), ..Default::default() }).await?;
    Ok(list)
}

async fn run(store: Store) -> TestResult {
    let shop = store.create_tenant("shop", "小店 Shop", "wk_shop").await?;
    let other = store.create_tenant("other", "Other", "wk_other").await?;
    let agent = store.create_user(shop.id, "li@shop.test", "李娜", Role::Agent, "x").await?;
    let li = Authenticated::new(agent, shop.clone());
    let services = Services::new(store.clone(), Bus::default());
    // E-mail on (the acknowledgements wait in the outbox; nothing is delivered in this test).
    let config = MailConfig { smtp_url: "smtp://127.0.0.1:9".into(), from: "小店客服 <support@shop.test>".into() };
    services.set_mailer(Some(Mailer::new(&config)?));

    // The addresses: normalised, each held by one tenant.
    let saved = services.set_email_inboxes(shop.id, &[" Support@Shop.TEST ".into(), "help@shop.test".into()]).await?;
    assert_eq!(saved, ["help@shop.test", "support@shop.test"]);
    assert!(services.set_email_inboxes(other.id, &["not an address".into()]).await.is_err());
    let taken = services.set_email_inboxes(other.id, &["help@shop.test".into()]).await;
    assert!(matches!(taken, Err(lingxi_service::ServiceError::Conflict(_))), "{taken:?}");
    services.set_email_inboxes(other.id, &["care@other.test".into()]).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let server = tokio::spawn(lingxi_server::smtp::serve_smtp(listener, services.clone(), "test".into()));
    let smtp: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(port).build();

    // An unknown recipient is refused before the message is sent.
    let stray = mail("ann@example.com", "nobody@shop.test", "hi", "<stray@example.com>", "hello")?;
    let refused = smtp.send(stray).await;
    assert!(refused.as_ref().is_err_and(|e| e.is_permanent()), "{refused:?}");

    // A new message with a picture: one ticket, however often it arrives.
    let first = Message::builder()
        .from("王女士 <Wang@Example.com>".parse()?)
        .to("support@shop.test".parse()?)
        .subject("退款还没到账 refund missing")
        .message_id(Some("<order-1@example.com>".into()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("订单 A-1001 的退款一周了还没到账。\nOrder A-1001.".to_owned()))
                .singlepart(Attachment::new("receipt.png".into()).body(PNG.to_vec(), "image/png".parse()?))
                .singlepart(
                    Attachment::new("tool.exe".into())
                        .body(b"MZ\x90\0binary".to_vec(), "application/octet-stream".parse()?),
                ),
        )?;
    smtp.send(first.clone()).await?;
    smtp.send(first).await?;
    let list = tickets(&store, shop.id).await?;
    assert_eq!(list.len(), 1, "one ticket for a message delivered twice");
    let t = &list[0];
    assert_eq!((t.source.as_str(), t.title.as_str()), ("email", "退款还没到账 refund missing"));
    assert!(t.description.contains("A-1001 的退款一周了还没到账"), "{}", t.description);
    assert_eq!(t.requester_contact.as_deref(), Some("wang@example.com"));
    assert_eq!(t.requester_name.as_deref(), Some("王女士"));
    let visitor = store.visitor(shop.id, t.requester_id.ok_or("a requester")?).await?;
    assert_eq!(visitor.email.as_deref(), Some("wang@example.com"), "the requester is known by the address");
    let comments = store.ticket_comments(shop.id, t.id).await?;
    let files: Vec<&str> = comments.iter().flat_map(|c| c.attachments.iter().map(|a| a.name.as_str())).collect();
    assert_eq!(files, ["receipt.png"], "the picture is kept, the program is not");
    assert!(comments.iter().any(|c| c.body.contains("tool.exe")), "the refused file is named: {comments:?}");
    let outbox = store.webhook_records(shop.id, 10).await?;
    assert!(
        outbox.iter().any(|r| r.event == "ticket.received" && r.url == "mailto:wang@example.com"),
        "an acknowledgement is queued: {outbox:?}"
    );

    // The agent asks; the ticket waits on the customer; the customer's reply comes back to it.
    services.comment_ticket(&li, t.id, "请提供退款单号。", true).await?;
    let patch = TicketPatch { status: Some(TicketStatus::Pending), ..Default::default() };
    services.update_ticket(&li, t.id, &patch).await?;
    let reply_text =
        format!("退款单号 R-778。\n\n在 2026年12月7日 10:00，小店客服 写道：\n> 请提供退款单号。\n> [#{}]\n", t.number);
    let subject = format!("回复：[#{}] 退款还没到账 refund missing", t.number);
    let reply = mail("wang@example.com", "support@shop.test", &subject, "<reply-1@example.com>", &reply_text)?;
    smtp.send(reply.clone()).await?;
    smtp.send(reply).await?;
    let t2 = store.ticket(shop.id, t.id).await?;
    assert_eq!(t2.status, TicketStatus::Open, "the customer's reply reopens a pending ticket");
    let comments = store.ticket_comments(shop.id, t.id).await?;
    let from_customer: Vec<&lingxi_store::TicketComment> =
        comments.iter().filter(|c| c.author_id.is_none() && c.body.contains("R-778")).collect();
    assert_eq!(from_customer.len(), 1, "one comment for a reply delivered twice: {comments:?}");
    assert!(from_customer[0].public && from_customer[0].author_name == "wang");
    assert!(!from_customer[0].body.contains("写道") && !from_customer[0].body.contains('>'), "{:?}", from_customer[0]);
    assert_eq!(tickets(&store, shop.id).await?.len(), 1, "no new ticket for the reply");

    // Someone else naming the ticket does not get into it.
    let subject = format!("Re: [#{}] hijack", t.number);
    smtp.send(mail("eve@evil.test", "help@shop.test", &subject, "<eve-1@evil.test>", "let me in")?).await?;
    let list = tickets(&store, shop.id).await?;
    assert_eq!(list.len(), 2, "a stranger's mail is a new ticket");
    assert!(!store.ticket_comments(shop.id, t.id).await?.iter().any(|c| c.body.contains("let me in")));

    // A reply to a closed ticket opens a follow-up.
    for s in [TicketStatus::Solved, TicketStatus::Closed] {
        services.update_ticket(&li, t.id, &TicketPatch { status: Some(s), ..Default::default() }).await?;
    }
    let subject = format!("Re: [#{}] 退款还没到账", t.number);
    smtp.send(mail("wang@example.com", "support@shop.test", &subject, "<reply-2@example.com>", "又出问题了")?).await?;
    let list = tickets(&store, shop.id).await?;
    assert_eq!(list.len(), 3);
    let follow = list.iter().find(|x| x.description.contains("又出问题了")).ok_or("the follow-up")?;
    assert!(follow.description.contains(&format!("#{}", t.number)), "{}", follow.description);

    // Automatic mail (an out-of-office reply) is accepted and dropped.
    let auto = format!(
        "From: wang@example.com\r\nTo: support@shop.test\r\nSubject: 自动回复: [#{}]\r\nMessage-ID: <auto-1@example.com>\r\n\
         Auto-Submitted: auto-replied\r\n\r\n我正在休假。\r\n",
        t.number
    );
    let envelope =
        lettre::address::Envelope::new(Some("wang@example.com".parse()?), vec!["support@shop.test".parse()?])?;
    smtp.send_raw(&envelope, auto.as_bytes()).await?;
    assert_eq!(tickets(&store, shop.id).await?.len(), 3, "no ticket for an auto-reply");

    // One message to both tenants' addresses: a ticket in each, and each sees only its own.
    let both = Message::builder()
        .from("zhao@example.com".parse()?)
        .to("support@shop.test".parse()?)
        .to("care@other.test".parse()?)
        .subject("两家都问一下")
        .message_id(Some("<both-1@example.com>".into()))
        .body("请问发货时间？".to_owned())?;
    smtp.send(both).await?;
    let other_list = tickets(&store, other.id).await?;
    assert_eq!(other_list.len(), 1);
    assert_eq!(other_list[0].title, "两家都问一下");
    assert_eq!(tickets(&store, shop.id).await?.len(), 4);
    assert!(!other_list.iter().any(|x| x.title.contains("退款")), "the other tenant sees none of the shop's");

    // The HTTP route takes the same raw message (a provider's inbound hook or a mail server's pipe).
    let raw = "From: Sun <sun@example.com>\r\nSubject: =?UTF-8?B?5Y+R56Wo?=\r\nMessage-ID: <http-1@example.com>\r\n\
               Content-Type: text/html; charset=utf-8\r\n\r\n<p>需要<b>发票</b></p>\r\n";
    let r = services.receive_email(shop.id, raw.as_bytes()).await?;
    assert_eq!(r.outcome, lingxi_service::inbound::EmailOutcome::Created);
    let made = r.ticket.ok_or("a ticket")?;
    assert_eq!(made.title, "发票");
    assert!(made.description.contains("需要") && made.description.contains("发票") && !made.description.contains('<'));
    let again = services.receive_email(shop.id, raw.as_bytes()).await?;
    assert_eq!(again.outcome, lingxi_service::inbound::EmailOutcome::Duplicate);
    assert!(services.receive_email(shop.id, b"no headers, no sender").await.is_err(), "not an e-mail");
    server.abort();
    Ok(())
}
