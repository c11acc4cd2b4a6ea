//! Outgoing e-mail through the operator's SMTP server (`lettre`): SLA escalations to the people a policy names and
//! public ticket replies to requesters who gave an e-mail address. E-mails go through the same outbox as webhooks
//! (a `mailto:` URL with a `{"subject","text"}` payload), so they are sent once across nodes and retried.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The operator's e-mail settings.
#[derive(Clone)]
pub struct MailConfig {
    /// `smtps://user:pass@smtp.example.com` (TLS), `smtp://…?tls=required` (STARTTLS), `smtp://host:port` (plain,
    /// for a relay on the same host).
    pub smtp_url: String,
    /// The sender: `灵犀客服 <support@example.com>`.
    pub from: String,
}

/// The URL's password stays out of logs and panics.
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = match reqwest::Url::parse(&self.smtp_url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("<redacted>"));
                }
                u.to_string()
            }
            Err(_) => "<unreadable>".into(),
        };
        f.debug_struct("MailConfig").field("smtp_url", &shown).field("from", &self.from).finish()
    }
}

/// Sends e-mail.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the settings, or why they do not work.
    pub fn new(config: &MailConfig) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| format!("the SMTP URL does not read: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from: Mailbox =
            config.from.parse().map_err(|e| format!("the sender {:?} is not an address: {e}", config.from))?;
        Ok(Mailer { transport, from })
    }

    /// The sender's address (lower-case), to recognise our own mail coming back.
    pub fn from_address(&self) -> String {
        self.from.email.to_string().to_lowercase()
    }

    /// Sends one plain-text e-mail.
    pub async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("{to:?} is not an address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
            .map_err(|e| e.to_string())?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| crate::outbound::with_causes(&e))
    }
}

/// The outbox URL of an e-mail to `address`.
pub fn mailto(address: &str) -> String {
    format!("mailto:{address}")
}
