//! `lingxi bench …`: load commands that print measured numbers as JSON.

use anyhow::{Context, ensure};
use clap::{Args, Subcommand};
use lingxi_bus::Bus;
use lingxi_service::Services;
use lingxi_store::Store;
use lingxi_types::{AgentStatus, Channel, ConversationStatus, HandoffReason, Role};
use std::collections::HashMap;
use std::time::Instant;

/// `lingxi bench …`.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Assignments per second: N agents online, M conversations queued, then the queue is drained by D concurrent
    /// dispatchers. Checks afterwards that no agent exceeds capacity and nothing was assigned twice.
    Assign(AssignArgs),
    /// Load against running servers (loopback): N visitors ask and wait for answers for a duration, M agents answer
    /// handed-off conversations; prints messages per second, ack and answer latency percentiles, errors, lost
    /// messages and the server's memory per idle connection.
    Load(crate::load::LoadArgs),
    /// The ceiling for `bench load`: a WebSocket server on the same stack that acknowledges and answers at once.
    EchoServer(crate::load::EchoArgs),
}

/// Options of `lingxi bench assign`.
#[derive(Args)]
pub struct AssignArgs {
    /// Agents online.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Conversations queued before the drain.
    #[arg(long, default_value_t = 10_000)]
    queued: usize,
    /// Capacity of every agent.
    #[arg(long, default_value_t = 10)]
    capacity: i64,
    /// Concurrent dispatchers.
    #[arg(long, default_value_t = 1)]
    dispatchers: usize,
    /// A database URL (`postgres://…` for a scratch database on that server); default: a temporary SQLite file.
    #[arg(long)]
    database_url: Option<String>,
}

/// Runs a bench command.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Assign(args) => assign(args).await,
        BenchCommand::Load(args) => crate::load::load(args).await,
        BenchCommand::EchoServer(args) => crate::load::echo_server(args).await,
    }
}

async fn assign(args: AssignArgs) -> anyhow::Result<()> {
    ensure!(args.agents > 0 && args.queued > 0 && args.dispatchers > 0, "agents, queued and dispatchers must be > 0");
    let dir = tempfile::tempdir()?;
    let (url, backend) = match &args.database_url {
        Some(u) if u.starts_with("postgres") => {
            (lingxi_store::testing::scratch_postgres_url(u).await.context("creating a scratch database")?, "postgres")
        }
        Some(u) => (u.clone(), "sqlite"),
        None => (format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), "sqlite"),
    };
    let store = Store::connect(&url).await?;
    let tenant = store.create_tenant("bench", "Bench", &format!("wk_bench_{}", lingxi_service::new_token())).await?;
    let setup = Instant::now();
    let mut agents = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let u = store
            .create_user(tenant.id, &format!("agent{i}@bench.test"), &format!("Agent {i}"), Role::Agent, "x")
            .await?;
        store.set_agent_profile(tenant.id, u.id, args.capacity, &[]).await?;
        store.agent_connected(tenant.id, u.id).await?;
        store.set_agent_status(tenant.id, u.id, AgentStatus::Busy).await?;
        agents.push(u.id);
    }
    for i in 0..args.queued {
        let v = store.upsert_visitor(tenant.id, Some(&format!("v{i}")), &format!("Visitor {i}")).await?;
        let c = store.create_conversation(tenant.id, v.id, Channel::Web, None).await?;
        let priority = if i % 10 == 0 { 100 } else { 0 };
        store
            .enqueue(
                tenant.id,
                c.id,
                &[ConversationStatus::Bot],
                None,
                priority,
                HandoffReason::VisitorRequest,
                false,
                None,
            )
            .await?;
    }
    for a in &agents {
        store.set_agent_status(tenant.id, *a, AgentStatus::Online).await?;
        store.agent_connected(tenant.id, *a).await?;
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    eprintln!("set up {} agents and {} queued conversations in {setup_secs:.1} s; draining…", args.agents, args.queued);

    // The agents' workspaces stay "connected" during the drain: keep their heartbeats fresh as a server would.
    let beat = {
        let (store, tenant_id, agents) = (store.clone(), tenant.id, agents.clone());
        tokio::spawn(async move {
            loop {
                for a in &agents {
                    let _ = store.agent_heartbeat(tenant_id, *a).await;
                }
                tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            }
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.dispatchers {
        // Each dispatcher is a separate node: its own pool and bus.
        let services = Services::new(Store::connect(&url).await?, Bus::default());
        let tenant_id = tenant.id;
        tasks.push(tokio::spawn(async move { services.dispatch(tenant_id).await }));
    }
    let mut assigned = 0;
    for t in tasks {
        assigned += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    beat.abort();

    // Invariants.
    let mut loads: HashMap<_, i64> = HashMap::new();
    for a in &agents {
        let n = store.conversations_of_agent(tenant.id, *a).await?.len() as i64;
        ensure!(n <= args.capacity, "agent {a} serves {n} > capacity {}", args.capacity);
        loads.insert(*a, n);
    }
    let total: i64 = loads.values().sum();
    ensure!(total as usize == assigned, "{assigned} assignments reported but {total} conversations assigned");
    let expected = args.queued.min(args.agents * args.capacity as usize);
    let report = serde_json::json!({
        "backend": backend,
        "agents": args.agents,
        "capacity": args.capacity,
        "queued": args.queued,
        "dispatchers": args.dispatchers,
        "assigned": assigned,
        "expected": expected,
        "drain_seconds": (secs * 1000.0).round() / 1000.0,
        "assignments_per_second": (assigned as f64 / secs).round(),
        "max_load": loads.values().max(),
        "capacity_respected": true,
        "setup_seconds": (setup_secs * 10.0).round() / 10.0,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    ensure!(assigned == expected, "only {assigned} of {expected} conversations were assigned");
    Ok(())
}
