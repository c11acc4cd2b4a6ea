//! `eval bot`: whole scripted conversations replayed against the bot, turn by turn, as the service runs it.
//!
//! The knowledge base is the import template (CSV or xlsx) with an `id` column that the conversations refer to;
//! each JSONL line is `{"id", "context"?, "turns": [{"visitor", "expect"}]}` with `expect` one of `faq:<id>`,
//! `suggest`, `suggest:<id>`, `admit`, `chitchat` or `handoff:<requested|low_confidence|emotion|vip|rule>`.
//! After a handoff the bot is silent (humans serve the conversation), so the turns after an early handoff count as
//! missed.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use lingxi_bot::{BotReply, BotSettings, BotState, KnowledgeBase, Turn, respond};
use lingxi_kb::{TableFormat, read_table};
use lingxi_types::{Channel, EntryId, HandoffReason, KbEntry, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Format;
use crate::metrics::quantile_ms;

/// Arguments of `eval bot`.
#[derive(Debug, clap::Args)]
pub struct BotArgs {
    /// The knowledge base: the import template as `.csv` or `.xlsx`, with an `id` column.
    #[arg(long)]
    pub kb: PathBuf,
    /// Scripted conversations, one JSON object per line.
    #[arg(long)]
    pub conversations: PathBuf,
    /// Bot settings as JSON (the document of `PUT /api/v1/admin/bot`); the defaults when absent.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Also write every turn (conversation, visitor text, expected, got, confidence, ms) to this JSONL file.
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Conversation {
    id: String,
    #[serde(default)]
    context: serde_json::Map<String, Value>,
    turns: Vec<ScriptTurn>,
}

#[derive(Debug, Deserialize)]
struct ScriptTurn {
    visitor: String,
    expect: String,
}

/// What a turn expects, parsed from `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    Faq(String),
    Suggest(Option<String>),
    Admit,
    ChitChat,
    Handoff(String),
}

const REASONS: [&str; 5] = ["requested", "low_confidence", "emotion", "vip", "rule"];

impl Expect {
    fn parse(s: &str, ids: &HashMap<String, EntryId>) -> Result<Expect, String> {
        let known = |id: &str| {
            if ids.contains_key(id) { Ok(id.to_owned()) } else { Err(format!("no entry has the id \"{id}\"")) }
        };
        match s.split_once(':') {
            Some(("faq", id)) => known(id).map(Expect::Faq),
            Some(("suggest", id)) => known(id).map(|id| Expect::Suggest(Some(id))),
            Some(("handoff", reason)) if REASONS.contains(&reason) => Ok(Expect::Handoff(reason.to_owned())),
            Some(("handoff", reason)) => {
                Err(format!("\"{reason}\" is not a handoff reason (one of {})", REASONS.join(", ")))
            }
            None if s == "suggest" => Ok(Expect::Suggest(None)),
            None if s == "admit" => Ok(Expect::Admit),
            None if s == "chitchat" => Ok(Expect::ChitChat),
            _ => Err(format!(
                "\"{s}\" is not an expectation (faq:<id>, suggest, suggest:<id>, admit, chitchat, handoff:<reason>)"
            )),
        }
    }

    fn kind(&self) -> String {
        match self {
            Expect::Faq(_) => "faq".into(),
            Expect::Suggest(_) => "suggest".into(),
            Expect::Admit => "admit".into(),
            Expect::ChitChat => "chitchat".into(),
            Expect::Handoff(reason) => format!("handoff:{reason}"),
        }
    }
}

/// The handoff reason as the eval format names it.
fn reason_name(reason: HandoffReason) -> &'static str {
    match reason {
        HandoffReason::VisitorRequest => "requested",
        HandoffReason::LowConfidence => "low_confidence",
        HandoffReason::NegativeEmotion => "emotion",
        HandoffReason::Vip => "vip",
        HandoffReason::Rule => "rule",
        _ => "other",
    }
}

/// What the bot did with a turn, in the eval's terms.
#[derive(Clone, Debug, PartialEq)]
enum Got {
    Answer(String, f32),
    Suggest(Vec<String>),
    Admit,
    ChitChat,
    Flow,
    Handoff(&'static str),
    /// The conversation was handed off earlier: the bot no longer speaks.
    Silent,
}

impl Got {
    fn label(&self) -> String {
        match self {
            Got::Answer(id, _) => format!("faq:{id}"),
            Got::Suggest(ids) => format!("suggest[{}]", ids.join(",")),
            Got::Admit => "admit".into(),
            Got::ChitChat => "chitchat".into(),
            Got::Flow => "flow".into(),
            Got::Handoff(reason) => format!("handoff:{reason}"),
            Got::Silent => "silent".into(),
        }
    }

    fn meets(&self, expect: &Expect) -> bool {
        match (expect, self) {
            (Expect::Faq(want), Got::Answer(got, _)) => want == got,
            (Expect::Suggest(None), Got::Suggest(_)) => true,
            (Expect::Suggest(Some(want)), Got::Suggest(ids)) => ids.contains(want),
            (Expect::Admit, Got::Admit) | (Expect::ChitChat, Got::ChitChat) => true,
            (Expect::Handoff(want), Got::Handoff(got)) => want == got,
            _ => false,
        }
    }

    /// An answer from an entry the turn did not ask for: the "答非所问" the bot must avoid. Answering the entry a
    /// `suggest:<id>` turn names is not wrong.
    fn confidently_wrong(&self, expect: &Expect) -> bool {
        match (self, expect) {
            (Got::Answer(got, _), Expect::Faq(want) | Expect::Suggest(Some(want))) => got != want,
            (Got::Answer(..), _) => true,
            _ => false,
        }
    }
}

/// The knowledge base read from its file: the entries, and the file's ids both ways.
struct FileKb {
    entries: Vec<KbEntry>,
    by_name: HashMap<String, EntryId>,
    by_id: HashMap<EntryId, String>,
}

/// Reads the knowledge base file into entries, keeping the file's ids.
fn read_kb(path: &Path) -> anyhow::Result<FileKb> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let format = TableFormat::from_file_name(name)
        .with_context(|| format!("{}: the knowledge base must be a .csv or .xlsx file", path.display()))?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let table = read_table(format, &bytes).with_context(|| format!("reading {}", path.display()))?;
    if let Some(e) = table.errors.first() {
        bail!(
            "{}: {} bad row(s); the first is row {}{}: {}",
            path.display(),
            table.errors.len(),
            e.row,
            e.column.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
            e.message
        );
    }
    let tenant = TenantId::generate();
    let now = Utc::now();
    let (mut entries, mut by_name, mut by_id) = (Vec::new(), HashMap::new(), HashMap::new());
    for row in table.rows {
        let name = row.id.unwrap_or_else(|| format!("row-{}", row.row));
        let id = EntryId::generate();
        if by_name.insert(name.clone(), id).is_some() {
            bail!("{}: row {}: the id \"{name}\" repeats an earlier row's", path.display(), row.row);
        }
        by_id.insert(id, name);
        let f = row.entry;
        entries.push(KbEntry {
            id,
            tenant_id: tenant,
            question: f.question,
            similar_questions: f.similar_questions,
            answer: f.answer,
            answer_text: f.answer_text,
            channel_answers: f.channel_answers,
            category: f.category,
            tags: f.tags,
            enabled: f.enabled,
            valid_from: f.valid_from,
            valid_until: f.valid_until,
            created_by: None,
            updated_by: None,
            created_at: now,
            updated_at: now,
        });
    }
    Ok(FileKb { entries, by_name, by_id })
}

fn read_conversations(path: &Path, ids: &HashMap<String, EntryId>) -> anyhow::Result<Vec<(Conversation, Vec<Expect>)>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}: line {}", path.display(), i + 1);
        let conversation: Conversation = serde_json::from_str(&line).with_context(at)?;
        let expects = conversation
            .turns
            .iter()
            .enumerate()
            .map(|(t, turn)| {
                Expect::parse(&turn.expect, ids).map_err(|e| anyhow::anyhow!("{}, turn {}: {e}", at(), t + 1))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        out.push((conversation, expects));
    }
    Ok(out)
}

/// The visitor facts the business context carries: `vip` (a flag) and `tags` (a list of strings).
fn visitor_facts(context: &serde_json::Map<String, Value>) -> (bool, Vec<String>) {
    let vip = context.get("vip").and_then(Value::as_bool).unwrap_or(false);
    let tags = context
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    (vip, tags)
}

#[derive(Default)]
struct Tally {
    turns: usize,
    expected: usize,
}

pub(crate) fn run(args: &BotArgs) -> anyhow::Result<Value> {
    let settings = match &args.settings {
        None => BotSettings::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let settings: BotSettings =
                serde_json::from_str(&text).with_context(|| format!("{}: not a settings document", path.display()))?;
            settings.validated().with_context(|| format!("{}", path.display()))?
        }
    };
    let FileKb { entries, by_name, by_id } = read_kb(&args.kb)?;
    let conversations = read_conversations(&args.conversations, &by_name)?;
    eprintln!("training on {} entries", entries.len());
    let started = Instant::now();
    let kb = KnowledgeBase::train(&entries, Utc::now())?;
    let train_seconds = started.elapsed().as_secs_f64();
    let n_turns: usize = conversations.iter().map(|(c, _)| c.turns.len()).sum();
    eprintln!("trained in {train_seconds:.2} s; replaying {} conversations ({n_turns} turns)", conversations.len());
    // Warm the caches so the first turns do not carry the first-use cost.
    for (conversation, _) in conversations.iter().take(20) {
        for turn in &conversation.turns {
            let _ = respond(&kb, &settings, &BotState::default(), &Turn::text(&turn.visitor, Utc::now()));
        }
    }

    let mut dump = args.dump.as_ref().map(std::fs::File::create).transpose()?.map(std::io::BufWriter::new);
    let (mut expected, mut wrong, mut handoff_expected, mut handed_off, mut handed_right) = (0, 0, 0, 0, 0);
    let (mut handoffs, mut handoffs_expected) = (0usize, 0usize);
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut conversations_right = 0usize;
    let mut latencies: Vec<Duration> = Vec::with_capacity(n_turns);
    for (conversation, expects) in &conversations {
        let (vip, tags) = visitor_facts(&conversation.context);
        let mut state = BotState::default();
        let mut silent = false;
        let mut all_right = true;
        for (turn, expect) in conversation.turns.iter().zip(expects) {
            let (got, ms) = if silent {
                (Got::Silent, None)
            } else {
                let now = Utc::now();
                let started = Instant::now();
                let out = respond(
                    &kb,
                    &settings,
                    &state,
                    &Turn { text: &turn.visitor, choice: None, vip, tags: &tags, channel: Channel::Web, now },
                );
                let took = started.elapsed();
                latencies.push(took);
                state = out.state;
                let name = |id: &EntryId| by_id.get(id).cloned().unwrap_or_default();
                let got = match out.reply {
                    BotReply::Answer { entry_id, confidence, .. } => Got::Answer(name(&entry_id), confidence),
                    BotReply::Suggest { suggestions, .. } => {
                        Got::Suggest(suggestions.iter().map(|s| name(&s.entry_id)).collect())
                    }
                    BotReply::Admit { .. } => Got::Admit,
                    BotReply::ChitChat { .. } => Got::ChitChat,
                    BotReply::FlowAsk { .. } | BotReply::FlowCall { .. } | BotReply::FlowEnd { .. } => Got::Flow,
                    BotReply::Handoff { reason, .. } => {
                        silent = true;
                        Got::Handoff(reason_name(reason))
                    }
                };
                (got, Some(took.as_secs_f64() * 1000.0))
            };
            let met = got.meets(expect);
            let tally = by_kind.entry(expect.kind()).or_default();
            tally.turns += 1;
            if met {
                tally.expected += 1;
                expected += 1;
            } else {
                all_right = false;
            }
            if got.confidently_wrong(expect) {
                wrong += 1;
            }
            let expects_handoff = matches!(expect, Expect::Handoff(_));
            if let Got::Handoff(_) = got {
                handoffs += 1;
                if expects_handoff {
                    handoffs_expected += 1;
                }
            }
            if expects_handoff {
                handoff_expected += 1;
                if matches!(got, Got::Handoff(_)) {
                    handed_off += 1;
                }
                if met {
                    handed_right += 1;
                }
            }
            if let Some(w) = dump.as_mut() {
                let confidence = match &got {
                    Got::Answer(_, c) => Some(*c),
                    _ => None,
                };
                let line = json!({
                    "conversation": conversation.id,
                    "visitor": turn.visitor,
                    "expect": turn.expect,
                    "got": got.label(),
                    "ok": met,
                    "confidence": confidence,
                    "ms": ms,
                });
                writeln!(w, "{line}")?;
            }
        }
        if all_right {
            conversations_right += 1;
        }
    }
    if let Some(mut w) = dump {
        w.flush()?;
    }
    let share = |a: usize, b: usize| {
        if b == 0 { Value::Null } else { json!(a as f64 / b as f64) }
    };
    let by_expect: serde_json::Map<String, Value> = by_kind
        .into_iter()
        .map(|(kind, t)| (kind, json!({ "turns": t.turns, "expected_rate": share(t.expected, t.turns) })))
        .collect();
    Ok(json!({
        "entries": entries.len(),
        "conversations": conversations.len(),
        "turns": n_turns,
        "expected_rate": share(expected, n_turns),
        "confident_wrong_rate": share(wrong, n_turns),
        "handoff_recall": share(handed_off, handoff_expected),
        "handoff_reason_accuracy": share(handed_right, handoff_expected),
        "handoff_precision": share(handoffs_expected, handoffs),
        "conversation_success_rate": share(conversations_right, conversations.len()),
        "by_expect": by_expect,
        "p50_ms": quantile_ms(&mut latencies, 0.5),
        "p99_ms": quantile_ms(&mut latencies, 0.99),
        "train_seconds": train_seconds,
        "settings": {
            "answer_threshold": settings.answer_threshold,
            "suggest_threshold": settings.suggest_threshold,
            "max_failures": settings.max_failures,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> HashMap<String, EntryId> {
        HashMap::from([("a".to_owned(), EntryId::generate()), ("b".to_owned(), EntryId::generate())])
    }

    #[test]
    fn expectations_parse_and_unknown_ids_are_refused() {
        let ids = ids();
        assert_eq!(Expect::parse("faq:a", &ids), Ok(Expect::Faq("a".into())));
        assert_eq!(Expect::parse("suggest", &ids), Ok(Expect::Suggest(None)));
        assert_eq!(Expect::parse("suggest:b", &ids), Ok(Expect::Suggest(Some("b".into()))));
        assert_eq!(Expect::parse("handoff:vip", &ids), Ok(Expect::Handoff("vip".into())));
        assert!(Expect::parse("faq:zzz", &ids).is_err());
        assert!(Expect::parse("handoff:bored", &ids).is_err());
        assert!(Expect::parse("answer", &ids).is_err());
    }

    #[test]
    fn a_wrong_answer_is_confidently_wrong_and_a_named_suggestion_answered_is_not() {
        let answer_a = Got::Answer("a".into(), 0.9);
        assert!(answer_a.meets(&Expect::Faq("a".into())));
        assert!(!answer_a.confidently_wrong(&Expect::Faq("a".into())));
        assert!(answer_a.confidently_wrong(&Expect::Faq("b".into())));
        assert!(answer_a.confidently_wrong(&Expect::Admit));
        assert!(!answer_a.meets(&Expect::Suggest(Some("a".into()))));
        assert!(!answer_a.confidently_wrong(&Expect::Suggest(Some("a".into()))));
        assert!(Got::Suggest(vec!["b".into(), "a".into()]).meets(&Expect::Suggest(Some("a".into()))));
        assert!(!Got::Suggest(vec!["b".into()]).meets(&Expect::Suggest(Some("a".into()))));
        assert!(!Got::Handoff("emotion").meets(&Expect::Handoff("rule".into())));
        assert!(!Got::Silent.meets(&Expect::Admit));
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lingxi-eval-bot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    const KB: &str = "id,standard_question,similar_questions,answer,category\n\
        hours,What are your opening hours?,\"When are you open\nopening times\nare you open on sunday\",9 to 5,Shop\n\
        return,How do I return an item?,\"I want to return my order\nreturn policy\nsend something back\",Within 7 days,After-sales\n\
        pay,Which payment methods do you accept?,\"can I pay by card\npayment options\ndo you take paypal\",Card and PayPal,Payment\n";

    #[test]
    fn a_replay_scores_each_turn_against_its_expectation() {
        let kb = write("kb.csv", KB);
        let conversations = write(
            "conv.jsonl",
            concat!(
                r#"{"id":"a","turns":[{"visitor":"hello","expect":"chitchat"},{"visitor":"when are you open?","expect":"faq:hours"}]}"#,
                "\n",
                r#"{"id":"b","turns":[{"visitor":"I want to talk to a human","expect":"handoff:requested"},{"visitor":"hello?","expect":"chitchat"}]}"#,
                "\n",
                r#"{"id":"c","context":{"vip":true},"turns":[{"visitor":"how do I return an item","expect":"handoff:vip"}]}"#,
                "\n"
            ),
        );
        let args = BotArgs { kb, conversations, settings: None, format: Format::Json, dump: None };
        let report = run(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report["turns"], 5);
        assert_eq!(report["entries"], 3);
        // The turn after a handoff is silent, so it cannot meet its expectation.
        assert_eq!(report["expected_rate"], json!(0.8));
        assert_eq!(report["handoff_recall"], json!(1.0));
        assert_eq!(report["confident_wrong_rate"], json!(0.0));
        assert!(report["p99_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    }

    #[test]
    fn a_conversation_naming_an_unknown_entry_is_refused_with_its_line() {
        let kb = write("kb2.csv", KB);
        let conversations = write("bad.jsonl", r#"{"id":"x","turns":[{"visitor":"hi","expect":"faq:nope"}]}"#);
        let args = BotArgs { kb, conversations, settings: None, format: Format::Json, dump: None };
        match run(&args) {
            Ok(_) => panic!("an unknown id must be refused"),
            Err(e) => assert!(format!("{e:#}").contains("line 1, turn 1"), "{e:#}"),
        }
    }
}
