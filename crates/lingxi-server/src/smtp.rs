//! The SMTP listener (`lingxi serve --smtp-listen ADDR`): receives support mail for the addresses tenants set in
//! the admin console and makes tickets of it ([`lingxi_service::Services::receive_email`]). It speaks the part of
//! RFC 5321 a relaying mail server uses (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, with `SIZE` and 8-bit
//! bodies), refuses unknown recipients at RCPT, and answers `250` to DATA only once the ticket is stored (`451`,
//! so the sender retries, when storage fails). No TLS and no AUTH: put it behind the MX that receives the domain's
//! mail (Postfix, a provider's forwarding) or on a private network.
//!
//! Hand-written on tokio: the `mailin` crates' handlers are synchronous, and the acknowledgement has to wait for
//! the asynchronous store.

use lingxi_domain::email::{smtp_path, smtp_size};
use lingxi_service::inbound::{EmailOutcome, MAX_EMAIL_BYTES};
use lingxi_service::{ServiceError, Services};
use lingxi_types::TenantId;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Connections served at once; more are told to come back later.
const MAX_CONNECTIONS: usize = 200;
/// A client silent this long is disconnected (RFC 5321 suggests minutes).
const IDLE: Duration = Duration::from_secs(300);
/// Longest command line taken.
const MAX_LINE: usize = 2048;
/// Recipients per message.
const MAX_RECIPIENTS: usize = 100;
/// Bad commands before the connection is closed.
const MAX_ERRORS: usize = 10;

/// Accepts SMTP connections on `listener` until the task is dropped. `hostname` is the name the server greets with.
pub async fn serve_smtp(listener: TcpListener, services: Services, hostname: String) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let hostname: Arc<str> = hostname.into();
    loop {
        let Ok((mut stream, _peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            let _ = stream.write_all(b"421 4.3.2 too busy, try again later\r\n").await;
            continue;
        };
        let (services, hostname) = (services.clone(), hostname.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = session(stream, &services, &hostname).await {
                tracing::debug!(error = %e, "SMTP connection ended");
            }
        });
    }
}

/// One envelope being received.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<(String, TenantId)>,
}

async fn session(stream: TcpStream, services: &Services, host: &str) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(format!("220 {host} Lingxi ESMTP ready\r\n").as_bytes()).await?;
    let mut env = Envelope::default();
    let mut errors = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match tokio::time::timeout(IDLE, (&mut read).take(MAX_LINE as u64).read_until(b'\n', &mut line)).await {
            Ok(r) => r?,
            Err(_) => {
                write.write_all(b"421 4.4.2 idle too long, closing\r\n").await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            // Longer than any command: drop the rest of the line.
            write.write_all(b"500 5.5.6 line too long\r\n").await?;
            skip_line(&mut read).await?;
            errors += 1;
            if errors >= MAX_ERRORS {
                write.write_all(b"421 4.7.0 too many errors\r\n").await?;
                return Ok(());
            }
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let reply: String = match verb.as_str() {
            "EHLO" => {
                env = Envelope::default();
                format!("250-{host}\r\n250-SIZE {MAX_EMAIL_BYTES}\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            }
            "HELO" => {
                env = Envelope::default();
                format!("250 {host}\r\n")
            }
            "MAIL" => match smtp_path(arg, "FROM:") {
                Some((from, params)) => {
                    if smtp_size(params).is_some_and(|s| s > MAX_EMAIL_BYTES) {
                        "552 5.3.4 message too big\r\n".into()
                    } else {
                        env = Envelope { from: Some(from), to: vec![] };
                        "250 2.1.0 OK\r\n".into()
                    }
                }
                None => "501 5.5.4 syntax: MAIL FROM:<address>\r\n".into(),
            },
            "RCPT" => match (env.from.is_some(), smtp_path(arg, "TO:")) {
                (false, _) => "503 5.5.1 MAIL first\r\n".into(),
                (true, None) => "501 5.5.4 syntax: RCPT TO:<address>\r\n".into(),
                (true, Some(_)) if env.to.len() >= MAX_RECIPIENTS => "452 4.5.3 too many recipients\r\n".into(),
                (true, Some((to, _))) => match services.email_inbox_tenant(&to).await {
                    Ok(Some(tenant)) => {
                        env.to.push((to, tenant));
                        "250 2.1.5 OK\r\n".into()
                    }
                    Ok(None) => format!("550 5.1.1 <{}>: no such mailbox here\r\n", printable(&to)),
                    Err(_) => "451 4.3.0 try again later\r\n".into(),
                },
            },
            "DATA" if env.from.is_none() => "503 5.5.1 MAIL first\r\n".into(),
            "DATA" if env.to.is_empty() => "554 5.5.1 no valid recipients\r\n".into(),
            "DATA" => {
                write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let body = read_data(&mut read).await?;
                let reply = match body {
                    None => "552 5.3.4 message too big\r\n".into(),
                    Some(raw) => deliver(services, &env, &raw).await,
                };
                env = Envelope::default();
                reply
            }
            "RSET" => {
                env = Envelope::default();
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "VRFY" => "252 2.5.0 cannot verify, send the message\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => {
                errors += 1;
                if errors >= MAX_ERRORS {
                    write.write_all(b"421 4.7.0 too many errors\r\n").await?;
                    return Ok(());
                }
                "500 5.5.2 command not recognised\r\n".into()
            }
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// Takes in the message once per tenant among the recipients; one reply for all.
async fn deliver(services: &Services, env: &Envelope, raw: &[u8]) -> String {
    let mut tenants: Vec<TenantId> = env.to.iter().map(|(_, t)| *t).collect();
    tenants.dedup();
    let mut tickets = Vec::new();
    for tenant in tenants {
        match services.receive_email(tenant, raw).await {
            Ok(r) => {
                if let (Some(t), false) = (r.ticket, matches!(r.outcome, EmailOutcome::Ignored(_))) {
                    tickets.push(format!("#{}", t.number));
                }
            }
            Err(ServiceError::Invalid(m)) => return format!("550 5.6.0 message refused: {}\r\n", printable(&m)),
            Err(ServiceError::TooLarge(_)) => return "552 5.3.4 message too big\r\n".into(),
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "incoming e-mail not stored");
                return "451 4.3.0 not stored, try again later\r\n".into();
            }
        }
    }
    if tickets.is_empty() {
        "250 2.0.0 OK\r\n".into()
    } else {
        format!("250 2.0.0 OK: ticket {}\r\n", tickets.join(", "))
    }
}

/// Reads the message after `354` up to the lone dot, undoing dot-stuffing. `None` when it is over the size limit
/// (read to its end all the same, so the session stays in step).
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        line.clear();
        let n = tokio::time::timeout(IDLE, read.read_until(b'\n', &mut line))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "DATA timed out"))??;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed in DATA"));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(if too_big { None } else { Some(data) });
        }
        let content = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
        if data.len() + content.len() > MAX_EMAIL_BYTES {
            too_big = true;
            data = Vec::new();
        }
        if !too_big {
            data.extend_from_slice(content);
        }
    }
}

async fn skip_line<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> std::io::Result<()> {
    loop {
        let buf = read.fill_buf().await?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            read.consume(i + 1);
            return Ok(());
        }
        let len = buf.len();
        read.consume(len);
    }
}

/// Text safe to echo in a reply line.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn data_is_unstuffed_and_bounded() {
        let input: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\nline\r\n.\r\nNEXT\r\n";
        let mut r = BufReader::new(input);
        let data = read_data(&mut r).await.ok().flatten().unwrap_or_default();
        assert_eq!(data, b"Subject: x\r\n\r\n.leading dot\r\nline\r\n");
        let mut rest = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut r, &mut rest).await;
        assert_eq!(rest, "NEXT\r\n");
    }
}
