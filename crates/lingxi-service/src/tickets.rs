//! Ticket use cases: create (API, from a conversation in one click, from the widget's "leave a message"), change
//! with the life cycle enforced and every change in the history, comment, and bulk actions that are atomic per
//! ticket and report each failure.

use crate::auth::Authenticated;
use crate::flow::WidgetGrant;
use crate::{ServiceError, ServiceResult, Services};
use lingxi_domain::Lang;
use lingxi_domain::ticket::{Action, Rule, RuleSet, TicketFacts, TicketPriority, TicketStatus, transition};
use lingxi_nlp::{TicketClassifier, Utterance, ticket_text};
use lingxi_store::{Actor, NewTicket, Ticket, TicketComment, TicketSettingsRow};
use lingxi_types::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Fewest categorised past tickets before new tickets are classified automatically.
pub const MIN_CLASSIFIER_EXAMPLES: i64 = 20;
/// Most past tickets a classifier is trained on (the newest).
const MAX_CLASSIFIER_EXAMPLES: i64 = 20_000;

/// A tenant's ticket classifier and how many examples it learned from.
pub(crate) struct TrainedClassifier {
    classifier: TicketClassifier,
    examples: i64,
}

/// Per-tenant ticket classifiers, trained from past tickets on first use and retrained in the background as the
/// tenant's categorised tickets grow by a tenth.
#[derive(Default)]
pub(crate) struct TicketModels {
    models: Mutex<HashMap<TenantId, Arc<TrainedClassifier>>>,
    training: Mutex<HashSet<TenantId>>,
}

/// A tenant's ticket settings: dispatch rules, the triage group and the classifier's threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketSettings {
    /// Rules applied to every new ticket, in order.
    pub rules: Vec<Rule>,
    /// Where tickets the classifier is unsure about go.
    pub triage_group_id: Option<GroupId>,
    /// Classify new tickets that come without a category.
    pub auto_classify: bool,
    /// Confidence below which a ticket goes to triage (0 to 1).
    pub threshold: f32,
    /// SLA policies; the first whose conditions hold covers a ticket.
    pub sla_policies: Vec<lingxi_domain::sla::SlaPolicy>,
    /// Business hours, holidays and make-up workdays; none = around the clock.
    pub calendar: Option<lingxi_domain::sla::CalendarSpec>,
    /// Typed custom fields; without any, custom fields are free-form.
    pub custom_fields: Vec<lingxi_domain::fields::FieldDef>,
}

/// Where tickets may come from.
pub const TICKET_SOURCES: &[&str] = &["api", "conversation", "widget", "form", "email", "import"];

/// A ticket as a user or a client submits it.
#[derive(Clone, Debug, Default)]
pub struct TicketInput {
    /// Title (1 to 200 characters).
    pub title: String,
    /// Description (at most 20,000 characters).
    pub description: String,
    /// The customer, when known.
    pub requester_id: Option<VisitorId>,
    /// The customer's name.
    pub requester_name: Option<String>,
    /// The customer's phone or e-mail.
    pub requester_contact: Option<String>,
    /// Shop.
    pub shop: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// Type.
    pub ticket_type: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Priority (default normal).
    pub priority: Option<TicketPriority>,
    /// Assignee.
    pub assignee_id: Option<UserId>,
    /// Group.
    pub group_id: Option<GroupId>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom fields.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Idempotency key: a second create with the same key returns the first ticket.
    pub external_key: Option<String>,
}

/// A change to a ticket; `None` leaves a field as it is. `Some(None)` clears an optional field.
#[derive(Clone, Debug, Default)]
pub struct TicketPatch {
    /// Title.
    pub title: Option<String>,
    /// Status (the life cycle is enforced).
    pub status: Option<TicketStatus>,
    /// Priority.
    pub priority: Option<TicketPriority>,
    /// Assignee.
    pub assignee_id: Option<Option<UserId>>,
    /// Group.
    pub group_id: Option<Option<GroupId>>,
    /// Category.
    pub category: Option<Option<String>>,
    /// Type.
    pub ticket_type: Option<Option<String>>,
    /// Replace the tags.
    pub tags: Option<Vec<String>>,
    /// Add these tags.
    pub add_tags: Vec<String>,
    /// Custom fields to set (null removes one).
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// The version the caller read; a ticket changed since is a conflict.
    pub expected_version: Option<i64>,
}

fn actor(who: &Authenticated) -> Actor {
    Actor { user_id: Some(who.user.id), name: who.user.name.clone() }
}

fn bounded(field: &str, v: Option<String>, max: usize) -> ServiceResult<Option<String>> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if v.as_ref().is_some_and(|s| s.chars().count() > max) {
        return Err(ServiceError::Invalid(format!("{field} is longer than {max} characters")));
    }
    Ok(v)
}

/// A checked new ticket from its input (the checks of [`Services::create_ticket`] that need no database).
fn new_ticket(
    settings: &TicketSettings,
    source: &str,
    input: TicketInput,
    conversation_id: Option<ConversationId>,
    require_fields: bool,
) -> ServiceResult<NewTicket> {
    if !TICKET_SOURCES.contains(&source) {
        return Err(ServiceError::Invalid(format!("source must be one of {}", TICKET_SOURCES.join(", "))));
    }
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ServiceError::Invalid("title must have 1 to 200 characters".into()));
    }
    if input.description.chars().count() > 20_000 {
        return Err(ServiceError::Invalid("description is longer than 20000 characters".into()));
    }
    check_custom_fields(&input.custom_fields)?;
    if !settings.custom_fields.is_empty() {
        lingxi_domain::fields::check_values(&settings.custom_fields, &input.custom_fields, require_fields)
            .map_err(ServiceError::Invalid)?;
    }
    let custom_fields = input.custom_fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
    Ok(NewTicket {
        title: title.to_owned(),
        description: input.description.trim().to_owned(),
        requester_id: input.requester_id,
        requester_name: bounded("requester_name", input.requester_name, 100)?,
        requester_contact: bounded("requester_contact", input.requester_contact, 200)?,
        source: source.to_owned(),
        shop: bounded("shop", input.shop, 100)?,
        platform: bounded("platform", input.platform, 100)?,
        ticket_type: bounded("ticket_type", input.ticket_type, 60)?,
        category: bounded("category", input.category, 100)?,
        priority: input.priority.unwrap_or_default(),
        assignee_id: input.assignee_id,
        group_id: input.group_id,
        tags: clean_tags(&input.tags)?,
        custom_fields,
        conversation_id,
        external_key: bounded("external_key", input.external_key, 200)?,
        dispatch: None,
    })
}

/// The ticket a new one will be once stored (number 0), to compute its SLA before it is.
fn provisional_ticket(id: TicketId, new: &NewTicket, now: chrono::DateTime<chrono::Utc>) -> Ticket {
    Ticket {
        id,
        number: 0,
        title: new.title.clone(),
        description: new.description.clone(),
        requester_id: new.requester_id,
        requester_name: new.requester_name.clone(),
        requester_contact: new.requester_contact.clone(),
        source: new.source.clone(),
        shop: new.shop.clone(),
        platform: new.platform.clone(),
        ticket_type: new.ticket_type.clone(),
        category: new.category.clone(),
        priority: new.priority,
        status: TicketStatus::New,
        assignee_id: new.assignee_id,
        assignee_name: None,
        group_id: new.group_id,
        tags: new.tags.clone(),
        custom_fields: new.custom_fields.clone(),
        conversation_id: new.conversation_id,
        external_key: new.external_key.clone(),
        created_by: None,
        version: 1,
        created_at: now,
        updated_at: now,
        first_response_at: None,
        solved_at: None,
        closed_at: None,
        dispatch: new.dispatch.clone(),
        sla_policy: None,
        first_response_due: None,
        resolution_due: None,
    }
}

fn clean_tags(tags: &[String]) -> ServiceResult<Vec<String>> {
    if tags.len() > 30 {
        return Err(ServiceError::Invalid("at most 30 tags".into()));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if t.chars().count() > 40 {
            return Err(ServiceError::Invalid("a tag has at most 40 characters".into()));
        }
        if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

fn check_custom_fields(fields: &serde_json::Map<String, serde_json::Value>) -> ServiceResult<()> {
    if fields.len() > 50 {
        return Err(ServiceError::Invalid("at most 50 custom fields".into()));
    }
    for (k, v) in fields {
        if k.trim().is_empty() || k.chars().count() > 60 {
            return Err(ServiceError::Invalid("custom field names have 1 to 60 characters".into()));
        }
        let ok = match v {
            serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => true,
            serde_json::Value::String(s) => s.chars().count() <= 2000,
            _ => false,
        };
        if !ok {
            return Err(ServiceError::Invalid(format!(
                "custom field \"{k}\" must be text (at most 2000 characters), a number, true/false or null"
            )));
        }
    }
    Ok(())
}

impl Services {
    /// Tells the workspaces a ticket changed.
    pub(crate) fn ticket_changed(&self, tenant_id: TenantId, t: &Ticket) {
        self.bus.publish(lingxi_bus::Event::TicketChanged { tenant_id, ticket_id: t.id, number: t.number });
    }

    /// Checks custom field values: against the tenant's typed definitions when it has any (`require`: required
    /// fields must be given, for tickets agents create), free-form otherwise.
    async fn check_fields(
        &self,
        tenant_id: TenantId,
        values: &serde_json::Map<String, serde_json::Value>,
        require: bool,
    ) -> ServiceResult<()> {
        check_custom_fields(values)?;
        let defs = self.ticket_settings(tenant_id).await?.custom_fields;
        if defs.is_empty() {
            return Ok(());
        }
        lingxi_domain::fields::check_values(&defs, values, require).map_err(ServiceError::Invalid)
    }

    /// The tenant's ticket settings.
    pub async fn ticket_settings(&self, tenant_id: TenantId) -> ServiceResult<TicketSettings> {
        let row = self.store.ticket_settings(tenant_id).await?;
        let rules: Vec<Rule> = serde_json::from_value(row.rules)
            .map_err(|e| ServiceError::Invalid(format!("stored ticket rules are unreadable: {e}")))?;
        let sla_policies = serde_json::from_value(row.sla_policies)
            .map_err(|e| ServiceError::Invalid(format!("stored SLA policies are unreadable: {e}")))?;
        let calendar = row
            .calendar
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| ServiceError::Invalid(format!("stored calendar is unreadable: {e}")))?;
        let custom_fields = serde_json::from_value(row.custom_fields)
            .map_err(|e| ServiceError::Invalid(format!("stored custom fields are unreadable: {e}")))?;
        Ok(TicketSettings {
            custom_fields,
            rules,
            triage_group_id: row.triage_group_id,
            auto_classify: row.auto_classify,
            threshold: row.threshold_permille as f32 / 1000.0,
            sla_policies,
            calendar,
        })
    }

    /// Validates and saves the tenant's ticket settings.
    pub async fn save_ticket_settings(&self, tenant_id: TenantId, s: TicketSettings) -> ServiceResult<TicketSettings> {
        if s.rules.len() > 200 {
            return Err(ServiceError::Invalid("at most 200 ticket rules".into()));
        }
        if !(0.0..=1.0).contains(&s.threshold) {
            return Err(ServiceError::Invalid("threshold must be between 0 and 1".into()));
        }
        let mut seen = HashSet::new();
        for r in &s.rules {
            r.validate().map_err(|e| ServiceError::Invalid(format!("rule \"{}\": {}", r.name, e.message(Lang::En))))?;
            if !seen.insert(r.id.clone()) {
                return Err(ServiceError::Invalid(format!("rule id \"{}\" is used twice", r.id)));
            }
            for a in &r.actions {
                match a {
                    Action::SetGroup(g) => {
                        let gid: GroupId = g
                            .parse()
                            .map_err(|_| ServiceError::Invalid(format!("rule \"{}\": no group {g}", r.name)))?;
                        self.check_refs(tenant_id, None, Some(gid)).await?;
                    }
                    Action::SetAssignee(u) => {
                        let uid: UserId = u
                            .parse()
                            .map_err(|_| ServiceError::Invalid(format!("rule \"{}\": no user {u}", r.name)))?;
                        self.check_refs(tenant_id, Some(uid), None).await?;
                    }
                    Action::SetPriority(_) | Action::AddTag(_) => {}
                }
            }
        }
        self.check_refs(tenant_id, None, s.triage_group_id).await?;
        if s.sla_policies.len() > 50 {
            return Err(ServiceError::Invalid("at most 50 SLA policies".into()));
        }
        for p in &s.sla_policies {
            if p.name.trim().is_empty() || p.name.chars().count() > 80 {
                return Err(ServiceError::Invalid("an SLA policy name has 1 to 80 characters".into()));
            }
            if let Some(url) = &p.escalation.webhook_url {
                let ok = url.len() <= 500
                    && (url.starts_with("https://") || url.starts_with("http://"))
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(ServiceError::Invalid(format!(
                        "SLA policy \"{}\": the webhook must be an http(s) URL of at most 500 characters",
                        p.name
                    )));
                }
                if let Err(e) = self.outbound().check(url) {
                    return Err(ServiceError::Invalid(format!("SLA policy \"{}\": {e}", p.name)));
                }
            }
            if p.escalation.email_to.len() > 10 {
                return Err(ServiceError::Invalid(format!("SLA policy \"{}\": at most 10 e-mail addresses", p.name)));
            }
            for to in &p.escalation.email_to {
                crate::customers::normalise_email(to).map_err(|_| {
                    ServiceError::Invalid(format!("SLA policy \"{}\": {to:?} is not an e-mail address", p.name))
                })?;
            }
            if let Some(g) = &p.escalation.reassign_group_id {
                let g = g.parse().map_err(|_| ServiceError::NotFound("group"))?;
                self.check_refs(tenant_id, None, Some(g)).await?;
            }
            for target in [p.first_response, p.resolution].into_iter().flatten() {
                if target <= chrono::TimeDelta::zero() || target > chrono::TimeDelta::days(365) {
                    return Err(ServiceError::Invalid(format!(
                        "SLA policy \"{}\": targets are 1 s to 365 days",
                        p.name
                    )));
                }
            }
        }
        lingxi_domain::fields::check_defs(&s.custom_fields).map_err(ServiceError::Invalid)?;
        if let Some(c) = &s.calendar {
            lingxi_domain::sla::BusinessCalendar::try_from(c.clone())
                .map_err(|e| ServiceError::Invalid(format!("calendar: {e}")))?;
        }
        let row = TicketSettingsRow {
            rules: serde_json::to_value(&s.rules).map_err(|e| ServiceError::Invalid(e.to_string()))?,
            triage_group_id: s.triage_group_id,
            auto_classify: s.auto_classify,
            threshold_permille: (s.threshold * 1000.0).round() as i64,
            sla_policies: serde_json::to_value(&s.sla_policies).map_err(|e| ServiceError::Invalid(e.to_string()))?,
            calendar: s
                .calendar
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| ServiceError::Invalid(e.to_string()))?,
            custom_fields: serde_json::to_value(&s.custom_fields).map_err(|e| ServiceError::Invalid(e.to_string()))?,
        };
        self.store.save_ticket_settings(tenant_id, &row).await?;
        self.ticket_settings(tenant_id).await
    }

    async fn train_ticket_classifier(&self, tenant_id: TenantId) -> ServiceResult<Option<Arc<TrainedClassifier>>> {
        let rows = self.store.labelled_tickets(tenant_id, MAX_CLASSIFIER_EXAMPLES).await?;
        let labels: HashSet<&str> = rows.iter().map(|(_, _, c)| c.as_str()).collect();
        if (rows.len() as i64) < MIN_CLASSIFIER_EXAMPLES || labels.len() < 2 {
            return Ok(None);
        }
        let examples: Vec<Utterance> =
            rows.iter().map(|(t, d, c)| Utterance::new(ticket_text(t, d), c.clone())).collect();
        let count = examples.len() as i64;
        let config = self.intent_config();
        let trained = tokio::task::spawn_blocking(move || TicketClassifier::train(&examples, &config))
            .await
            .map_err(|e| ServiceError::Invalid(format!("training was interrupted: {e}")))?;
        let Ok(classifier) = trained else {
            return Ok(None);
        };
        let model = Arc::new(TrainedClassifier { classifier, examples: count });
        if let Ok(mut m) = self.tickets.models.lock() {
            m.insert(tenant_id, model.clone());
        }
        Ok(Some(model))
    }

    /// The tenant's classifier: trained now on first use, retrained in the background once the categorised tickets
    /// grew by a tenth (at least 20).
    async fn ticket_classifier(&self, tenant_id: TenantId) -> ServiceResult<Option<Arc<TrainedClassifier>>> {
        let count = self.store.count_labelled_tickets(tenant_id).await?;
        if count < MIN_CLASSIFIER_EXAMPLES {
            return Ok(None);
        }
        let cached = self.tickets.models.lock().ok().and_then(|m| m.get(&tenant_id).cloned());
        let Some(cached) = cached else {
            return self.train_ticket_classifier(tenant_id).await;
        };
        if count >= cached.examples + (cached.examples / 10).max(20)
            && self.tickets.training.lock().is_ok_and(|mut t| t.insert(tenant_id))
        {
            let services = self.clone();
            tokio::spawn(async move {
                if let Err(e) = services.train_ticket_classifier(tenant_id).await {
                    tracing::warn!(error = %e, "ticket classifier retraining failed");
                }
                if let Ok(mut t) = services.tickets.training.lock() {
                    t.remove(&tenant_id);
                }
            });
        }
        Ok(Some(cached))
    }

    /// Classifies a new ticket without a category (with the tenant's classifier, when there is one) and applies
    /// the tenant's rules, recording how in `dispatch`. Fields the creator set explicitly (group, assignee,
    /// priority, category) are kept.
    async fn dispatch_with(
        &self,
        tenant_id: TenantId,
        settings: &TicketSettings,
        model: Option<&TrainedClassifier>,
        new: &mut NewTicket,
        priority_given: bool,
    ) -> ServiceResult<()> {
        let mut dispatch = serde_json::Map::new();
        if new.category.is_none()
            && settings.auto_classify
            && let Some(model) = model
        {
            let class = model.classifier.classify(&ticket_text(&new.title, &new.description));
            let triage = class.label.is_none() || class.confidence < settings.threshold;
            dispatch.insert(
                "classification".into(),
                json!({
                    "label": class.label,
                    "confidence": (class.confidence * 1000.0).round() / 1000.0,
                    "threshold": settings.threshold,
                    "triage": triage,
                    "trained_on": model.examples,
                    "candidates": class.candidates.iter().take(3)
                        .map(|c| json!({"label": c.label, "confidence": (c.confidence * 1000.0).round() / 1000.0}))
                        .collect::<Vec<_>>(),
                }),
            );
            if !triage {
                new.category = class.label;
            } else if new.group_id.is_none()
                && let Some(g) = settings.triage_group_id
            {
                new.group_id = Some(g);
                dispatch.insert("triage_group".into(), json!(g));
            }
        }
        if !settings.rules.is_empty() {
            let tier = match new.requester_id {
                Some(v) => self.store.visitor(tenant_id, v).await.ok().filter(|v| v.vip).map(|_| "vip".to_owned()),
                None => None,
            };
            let facts = TicketFacts {
                subject: new.title.clone(),
                body: new.description.clone(),
                priority: new.priority,
                category: new.category.clone(),
                ticket_type: new.ticket_type.clone(),
                shop: new.shop.clone(),
                platform: new.platform.clone(),
                source: Some(new.source.clone()),
                customer_tier: tier,
                tags: new.tags.clone(),
            };
            let outcome = RuleSet::new(settings.rules.clone()).evaluate(&facts);
            if new.group_id.is_none()
                && let Some(g) = outcome.group.as_deref().and_then(|g| g.parse::<GroupId>().ok())
                && self.store.group(tenant_id, g).await.is_ok()
            {
                new.group_id = Some(g);
            }
            if new.assignee_id.is_none()
                && let Some(u) = outcome.assignee.as_deref().and_then(|u| u.parse::<UserId>().ok())
                && self.store.user(tenant_id, u).await.is_ok()
            {
                new.assignee_id = Some(u);
            }
            if !priority_given && let Some(p) = outcome.priority {
                new.priority = p;
            }
            let mut tags = new.tags.clone();
            tags.extend(outcome.tags_added.iter().cloned());
            new.tags = clean_tags(&tags)?;
            if !outcome.matched.is_empty() {
                dispatch.insert("rules".into(), serde_json::to_value(&outcome.matched).unwrap_or_default());
                dispatch.insert("explain_zh".into(), json!(outcome.explain(Lang::Zh)));
                dispatch.insert("explain_en".into(), json!(outcome.explain(Lang::En)));
            }
        }
        if new.assignee_id.is_none()
            && let Some(g) = new.group_id
            && let Some(note) = self.assign_ticket_in_group(tenant_id, g, new).await?
        {
            dispatch.insert("assignment".into(), note);
        }
        if !dispatch.is_empty() {
            new.dispatch = Some(serde_json::Value::Object(dispatch));
        }
        Ok(())
    }

    /// The member of `group` a ticket with this title and category would be given now (see
    /// `assign_ticket_in_group`), if anyone is available.
    pub(crate) async fn pick_ticket_assignee(
        &self,
        tenant_id: TenantId,
        group: GroupId,
        title: &str,
        category: Option<&str>,
    ) -> ServiceResult<Option<UserId>> {
        let mut probe =
            NewTicket { title: title.to_owned(), category: category.map(str::to_owned), ..Default::default() };
        self.assign_ticket_in_group(tenant_id, group, &mut probe).await?;
        Ok(probe.assignee_id)
    }

    /// Picks the assignee of a new ticket among the group's members who are not offline, by the group's strategy
    /// (load = unsolved tickets; there is no capacity cap for tickets). Returns the explanation.
    async fn assign_ticket_in_group(
        &self,
        tenant_id: TenantId,
        group_id: GroupId,
        new: &mut NewTicket,
    ) -> ServiceResult<Option<serde_json::Value>> {
        let group = self.store.group(tenant_id, group_id).await?;
        let profiles = self.store.agent_profiles(tenant_id).await?;
        let loads: HashMap<UserId, (i64, i64)> =
            self.store.ticket_loads(tenant_id).await?.into_iter().map(|(u, n, last)| (u, (n, last))).collect();
        let members: Vec<_> = profiles
            .iter()
            .filter(|p| group.members.contains(&p.user_id) && p.status != AgentStatus::Offline)
            .collect();
        let slots: Vec<lingxi_domain::routing::AgentSlot<'_>> = members
            .iter()
            .map(|p| {
                let (load, last) = loads.get(&p.user_id).copied().unwrap_or((0, 0));
                lingxi_domain::routing::AgentSlot {
                    agent: p.user_id,
                    load,
                    capacity: 1_000_000,
                    last_assigned_ms: last,
                    skills: &p.skills,
                }
            })
            .collect();
        let lang = match Lang::of(&new.title) {
            Lang::Zh => "zh",
            Lang::En => "en",
        };
        let needs = lingxi_domain::routing::needs(&group.skills, Some(lang), new.category.as_deref());
        let Some(pick) = lingxi_domain::routing::pick(group.strategy, &slots, &needs) else {
            return Ok(Some(json!({"group": group.name, "assignee": null,
                "reason": "no member of the group is available; the ticket waits in the group's unassigned view"})));
        };
        new.assignee_id = Some(pick.agent);
        let name = members.iter().find(|p| p.user_id == pick.agent).map(|p| p.name.clone());
        let load = slots.iter().find(|s| s.agent == pick.agent).map_or(0, |s| s.load);
        let reason = match group.strategy {
            RoutingStrategy::LeastLoaded => format!("fewest unsolved tickets ({load})"),
            RoutingStrategy::RoundRobin => "round robin: longest since their last new ticket".to_owned(),
            RoutingStrategy::SkillMatch => format!(
                "best skill match: {} of {} needs ({}), {load} unsolved tickets",
                pick.score.unwrap_or(0),
                needs.len(),
                needs.join(", ")
            ),
        };
        Ok(Some(json!({"group": group.name, "strategy": group.strategy, "assignee": name,
            "considered": slots.len(), "reason": reason})))
    }

    async fn check_refs(
        &self,
        tenant_id: TenantId,
        assignee: Option<UserId>,
        group: Option<GroupId>,
    ) -> ServiceResult<()> {
        if let Some(a) = assignee
            && self.store.user(tenant_id, a).await.is_err()
        {
            return Err(ServiceError::NotFound("assignee"));
        }
        if let Some(g) = group {
            self.store.group(tenant_id, g).await.map_err(|_| ServiceError::NotFound("group"))?;
        }
        Ok(())
    }

    /// Creates a ticket. With an `external_key` already used in the tenant, returns that ticket instead (and
    /// `false`).
    pub async fn create_ticket(
        &self,
        tenant_id: TenantId,
        actor: &Actor,
        source: &str,
        input: TicketInput,
        conversation_id: Option<ConversationId>,
    ) -> ServiceResult<(Ticket, bool)> {
        let settings = self.ticket_settings(tenant_id).await?;
        let require = actor.user_id.is_some() && source == "api";
        let (priority_given, assignee, group, requester) =
            (input.priority.is_some(), input.assignee_id, input.group_id, input.requester_id);
        let mut new = new_ticket(&settings, source, input, conversation_id, require)?;
        if let Some(k) = &new.external_key
            && let Some(existing) = self.store.ticket_by_key(tenant_id, k).await?
        {
            return Ok((existing, false));
        }
        self.check_refs(tenant_id, assignee, group).await?;
        if let Some(v) = requester {
            self.store.visitor(tenant_id, v).await?;
        }
        let model = if new.category.is_none() && settings.auto_classify {
            self.ticket_classifier(tenant_id).await?
        } else {
            None
        };
        self.dispatch_with(tenant_id, &settings, model.as_deref(), &mut new, priority_given).await?;
        self.store_ticket(tenant_id, new, actor).await
    }

    /// Tickets for imported records (record id, ticket), created many per transaction: the settings and the
    /// classifier are read once, existing tickets are found by their keys in one query, and a batch is stored with
    /// a few multi-row statements. A ticket the rules put in a group is assigned there, and so created on its own
    /// (each assignment counts the load the previous ones made). Returns how many tickets were created.
    pub(crate) async fn create_import_tickets(
        &self,
        tenant_id: TenantId,
        actor: &Actor,
        items: Vec<(String, TicketInput)>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> ServiceResult<usize> {
        const BATCH: usize = 500;
        let total = items.len();
        let settings = self.ticket_settings(tenant_id).await?;
        let model = if settings.auto_classify { self.ticket_classifier(tenant_id).await? } else { None };
        let business = crate::sla::calendar_of(settings.calendar.as_ref());
        let keys: Vec<String> = items.iter().filter_map(|(_, i)| i.external_key.clone()).collect();
        let existing = self.store.tickets_by_keys(tenant_id, &keys).await?;
        let mut created = 0;
        let mut batch: Vec<lingxi_store::BatchTicket> = Vec::new();
        for (done, (record, input)) in items.into_iter().enumerate() {
            if done % 100 == 0 {
                progress(done, total);
            }
            if let Some((id, _)) = input.external_key.as_ref().and_then(|k| existing.get(k)) {
                self.store.set_intake_ticket(tenant_id, &record, *id).await?;
                continue;
            }
            let priority_given = input.priority.is_some();
            let mut new = new_ticket(&settings, "import", input, None, false)?;
            self.dispatch_with(tenant_id, &settings, model.as_deref(), &mut new, priority_given).await?;
            if new.group_id.is_some() || new.assignee_id.is_some() {
                let (ticket, was_created) = self.store_ticket(tenant_id, new, actor).await?;
                self.store.set_intake_ticket(tenant_id, &record, ticket.id).await?;
                created += usize::from(was_created);
                continue;
            }
            let id = TicketId::generate();
            // Milliseconds, as stored: the deadlines count from the created_at the ticket will have.
            let now = chrono::Utc::now();
            let now = chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
            let probe = provisional_ticket(id, &new, now);
            let history = [lingxi_domain::sla::StatusChange { at: now, status: TicketStatus::New }];
            let plan = crate::sla::sla_plan(&settings, &business, &probe, &history, now);
            batch.push(lingxi_store::BatchTicket {
                id,
                new,
                sla_policy: plan.policy,
                first_response_due: plan.dues[0],
                resolution_due: plan.dues[1],
                timers: plan.timers,
                intake_record: Some(record),
                created_at: now,
            });
            if batch.len() >= BATCH {
                created += self.flush_ticket_batch(tenant_id, actor, std::mem::take(&mut batch)).await?;
            }
        }
        created += self.flush_ticket_batch(tenant_id, actor, batch).await?;
        if created >= 1000 {
            self.store.refresh_statistics("tickets").await?;
        }
        progress(total, total);
        Ok(created)
    }

    /// Stores a batch; if one of its keys was taken meanwhile (a concurrent import), one ticket at a time.
    async fn flush_ticket_batch(
        &self,
        tenant_id: TenantId,
        actor: &Actor,
        batch: Vec<lingxi_store::BatchTicket>,
    ) -> ServiceResult<usize> {
        match self.store.create_tickets_batch(tenant_id, &batch, actor).await {
            Ok(numbers) => {
                for (item, number) in batch.iter().zip(&numbers) {
                    self.bus.publish(lingxi_bus::Event::TicketChanged {
                        tenant_id,
                        ticket_id: item.id,
                        number: *number,
                    });
                }
                Ok(numbers.len())
            }
            Err(lingxi_store::StoreError::AlreadyExists(_)) => {
                let mut created = 0;
                for item in batch {
                    let (ticket, was_created) = self.store_ticket(tenant_id, item.new, actor).await?;
                    if let Some(record) = &item.intake_record {
                        self.store.set_intake_ticket(tenant_id, record, ticket.id).await?;
                    }
                    created += usize::from(was_created);
                }
                Ok(created)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores one dispatched ticket with its SLA; a key another create took first returns that ticket (`false`).
    async fn store_ticket(&self, tenant_id: TenantId, new: NewTicket, actor: &Actor) -> ServiceResult<(Ticket, bool)> {
        let key = new.external_key.clone();
        match self.store.create_ticket(tenant_id, new, actor).await {
            Ok(t) => {
                self.apply_sla(tenant_id, &t).await?;
                self.ticket_changed(tenant_id, &t);
                Ok((self.store.ticket(tenant_id, t.id).await?, true))
            }
            Err(lingxi_store::StoreError::AlreadyExists(_)) if key.is_some() => {
                let key = key.unwrap_or_default();
                Ok((self.store.ticket_by_key(tenant_id, &key).await?.ok_or(ServiceError::NotFound("ticket"))?, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One click in the workspace: a ticket from a conversation (the transcript as description, the visitor as
    /// requester, linked). A conversation that already has a ticket returns it (and `false`).
    pub async fn ticket_from_conversation(
        &self,
        who: &Authenticated,
        id: ConversationId,
        title: Option<&str>,
    ) -> ServiceResult<(Ticket, bool)> {
        let tenant_id = who.tenant.id;
        let c = self.store.conversation(tenant_id, id).await?;
        if let Some(t) = self.store.ticket_of_conversation(tenant_id, id).await? {
            return Ok((t, false));
        }
        let messages = self.store.visitor_messages_after(tenant_id, id, 0, 1000).await?;
        let first_question = messages.iter().find(|m| m.author == Author::Visitor).map(|m| m.text.clone());
        let title = title
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .or(first_question)
            .unwrap_or_else(|| format!("会话 Conversation {}", c.visitor_name));
        let title: String = title.chars().take(80).collect();
        let mut transcript = String::new();
        for m in &messages {
            let who = match m.author {
                Author::Visitor => c.visitor_name.as_str(),
                Author::Bot => "Bot",
                Author::Agent => m.author_name.as_deref().unwrap_or("Agent"),
                Author::System | Author::Note => continue,
            };
            transcript.push_str(&format!("[{}] {who}: {}\n", m.created_at.format("%Y-%m-%d %H:%M"), m.text));
        }
        let description: String = transcript.chars().take(20_000).collect();
        let input = TicketInput {
            title,
            description,
            requester_id: Some(c.visitor_id),
            requester_name: Some(c.visitor_name.clone()),
            category: c.category.clone(),
            group_id: c.group_id,
            ..Default::default()
        };
        self.create_ticket(tenant_id, &actor(who), "conversation", input, Some(id)).await
    }

    /// The widget's "leave a message" when nobody can serve: a ticket for the visitor, linked to their conversation.
    pub async fn leave_message(
        &self,
        grant: WidgetGrant,
        name: Option<&str>,
        contact: Option<&str>,
        text: &str,
    ) -> ServiceResult<Ticket> {
        crate::validate_text(text)?;
        let visitor = self.store.visitor(grant.tenant_id, grant.visitor_id).await?;
        let title: String = text.trim().chars().take(80).collect();
        let input = TicketInput {
            title,
            description: text.trim().to_owned(),
            requester_id: Some(visitor.id),
            requester_name: name.map(str::to_owned).or(Some(visitor.name.clone())),
            requester_contact: contact.map(str::to_owned),
            ..Default::default()
        };
        let given = name.map(str::trim).filter(|n| !n.is_empty());
        let actor = Actor { user_id: None, name: given.unwrap_or(&visitor.name).to_owned() };
        let (t, _) = self.create_ticket(grant.tenant_id, &actor, "widget", input, Some(grant.conversation_id)).await?;
        // The agents serving the conversation see it in the chat too.
        self.post_system(
            grant.tenant_id,
            grant.conversation_id,
            &format!("访客已留言，工单 #{0} / The visitor left a message: ticket #{0}", t.number),
        )
        .await?;
        Ok(t)
    }

    /// The public web form (no sign-in): a ticket with source `form` for the tenant of `widget_key`. The requester is
    /// the visitor known by the e-mail or phone given (created when new), so the ticket shows on their visitor card.
    pub async fn submit_form(
        &self,
        widget_key: &str,
        name: &str,
        contact: &str,
        title: &str,
        description: &str,
    ) -> ServiceResult<Ticket> {
        let tenant = self.store.tenant_by_widget_key(widget_key).await?.ok_or(ServiceError::UnknownWidgetKey)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ServiceError::Invalid("name must have 1 to 100 characters".into()));
        }
        let contact = contact.trim();
        let customer = if contact.contains('@') {
            crate::CustomerRef { email: Some(contact.to_owned()), ..Default::default() }
        } else {
            crate::CustomerRef { phone: Some(contact.to_owned()), ..Default::default() }
        };
        let identities = crate::identities_of(&customer, None)
            .map_err(|_| ServiceError::Invalid("contact must be an e-mail address or a phone number".into()))?;
        if identities.is_empty() {
            return Err(ServiceError::Invalid("contact must be an e-mail address or a phone number".into()));
        }
        if description.trim().is_empty() || description.chars().count() > 5000 {
            return Err(ServiceError::Invalid("description must have 1 to 5000 characters".into()));
        }
        let visitor = self.store.resolve_visitor(tenant.id, &identities, name).await?;
        let input = TicketInput {
            title: title.trim().to_owned(),
            description: description.trim().to_owned(),
            requester_id: Some(visitor.id),
            requester_name: Some(name.to_owned()),
            requester_contact: Some(identities[0].1.clone()),
            ..Default::default()
        };
        let actor = Actor { user_id: None, name: name.to_owned() };
        Ok(self.create_ticket(tenant.id, &actor, "form", input, None).await?.0)
    }

    /// Applies a patch to a ticket, enforcing the life cycle and recording every changed field.
    pub async fn update_ticket(&self, who: &Authenticated, id: TicketId, patch: &TicketPatch) -> ServiceResult<Ticket> {
        let tenant_id = who.tenant.id;
        let old = self.store.ticket(tenant_id, id).await?;
        if let Some(v) = patch.expected_version
            && v != old.version
        {
            return Err(ServiceError::Conflict(format!(
                "ticket #{} changed since you read it (version {} now); reload it",
                old.number, old.version
            )));
        }
        let mut new = old.clone();
        if let Some(t) = &patch.title {
            let t = t.trim();
            if t.is_empty() || t.chars().count() > 200 {
                return Err(ServiceError::Invalid("title must have 1 to 200 characters".into()));
            }
            new.title = t.to_owned();
        }
        if let Some(s) = patch.status
            && s != old.status
        {
            // English, like every API message; the workspace says it in the agent's language (`code` + the statuses).
            new.status = transition(old.status, s).map_err(|e| ServiceError::Conflict(e.to_string()))?;
            let now = chrono::Utc::now();
            match new.status {
                TicketStatus::Solved => new.solved_at = Some(now),
                TicketStatus::Closed => new.closed_at = Some(now),
                _ => {}
            }
        }
        if let Some(p) = patch.priority {
            new.priority = p;
        }
        if let Some(a) = patch.assignee_id {
            new.assignee_id = a;
        }
        if let Some(g) = patch.group_id {
            new.group_id = g;
        }
        self.check_refs(
            tenant_id,
            new.assignee_id.filter(|a| Some(*a) != old.assignee_id),
            new.group_id.filter(|g| Some(*g) != old.group_id),
        )
        .await?;
        if let Some(c) = &patch.category {
            new.category = bounded("category", c.clone(), 100)?;
        }
        if let Some(t) = &patch.ticket_type {
            new.ticket_type = bounded("ticket_type", t.clone(), 60)?;
        }
        if let Some(tags) = &patch.tags {
            new.tags = clean_tags(tags)?;
        }
        if !patch.add_tags.is_empty() {
            let mut all = new.tags.clone();
            all.extend(patch.add_tags.iter().cloned());
            new.tags = clean_tags(&all)?;
        }
        self.check_fields(tenant_id, &patch.custom_fields, false).await?;
        for (k, v) in &patch.custom_fields {
            if v.is_null() {
                new.custom_fields.remove(k);
            } else {
                new.custom_fields.insert(k.clone(), v.clone());
            }
        }
        if new.status == TicketStatus::Closed && old.status == TicketStatus::Closed && new != old {
            return Err(ServiceError::Conflict(format!("ticket #{} is closed; create a follow-up", old.number)));
        }
        match self.store.save_ticket(tenant_id, &old, &new, &actor(who)).await? {
            Some(t) => {
                self.apply_sla(tenant_id, &t).await?;
                self.ticket_changed(tenant_id, &t);
                Ok(self.store.ticket(tenant_id, t.id).await?)
            }
            None => Err(ServiceError::Conflict(format!("ticket #{} changed meanwhile; reload it", old.number))),
        }
    }

    /// Adds a public reply or an internal note. An agent's public reply to a new ticket opens it.
    pub async fn comment_ticket(
        &self,
        who: &Authenticated,
        id: TicketId,
        body: &str,
        public: bool,
    ) -> ServiceResult<TicketComment> {
        self.comment_ticket_with(who, id, body, public, &[]).await
    }

    /// [`Services::comment_ticket`] carrying files uploaded before with `upload_ticket_attachment` (the text may
    /// then be empty).
    pub async fn comment_ticket_with(
        &self,
        who: &Authenticated,
        id: TicketId,
        body: &str,
        public: bool,
        attachments: &[AttachmentId],
    ) -> ServiceResult<TicketComment> {
        let body = body.trim();
        if attachments.len() > 10 {
            return Err(ServiceError::Invalid("a comment carries at most 10 files".into()));
        }
        if (body.is_empty() && attachments.is_empty()) || body.chars().count() > 20_000 {
            return Err(ServiceError::Invalid("a comment has 1 to 20000 characters".into()));
        }
        let t = self.store.ticket(who.tenant.id, id).await?;
        if t.status == TicketStatus::Closed {
            return Err(ServiceError::Conflict(format!("ticket #{} is closed; create a follow-up", t.number)));
        }
        let comment = self.store.add_ticket_comment(who.tenant.id, id, &actor(who), public, body, attachments).await?;
        if public && t.first_response_at.is_none() {
            let now = self.store.ticket(who.tenant.id, id).await?;
            self.apply_sla(who.tenant.id, &now).await?;
        }
        if public && t.status == TicketStatus::New {
            let patch = TicketPatch { status: Some(TicketStatus::Open), ..Default::default() };
            // Someone else may have moved it meanwhile; the reply stands either way.
            let _ = self.update_ticket(who, id, &patch).await;
        }
        if public && !body.is_empty() && self.mailer().is_some() {
            self.email_reply(who, &t, body).await?;
        }
        self.ticket_changed(who.tenant.id, &t);
        Ok(comment)
    }

    /// Queues a public reply as an e-mail to the ticket's requester, when they gave an e-mail address (the contact
    /// of a form or "leave a message", else the requester's known e-mail).
    async fn email_reply(&self, who: &Authenticated, t: &Ticket, body: &str) -> ServiceResult<()> {
        let from_contact = t.requester_contact.as_deref().and_then(|c| crate::customers::normalise_email(c).ok());
        let to = match from_contact {
            Some(e) => Some(e),
            None => match t.requester_id {
                Some(v) => self.store.visitor(who.tenant.id, v).await.ok().and_then(|v| v.email),
                None => None,
            },
        };
        let Some(to) = to else { return Ok(()) };
        let subject = format!("[#{}] {}", t.number, t.title);
        let greeting = t.requester_name.as_deref().map(|n| format!("{n}，您好 / Hello {n},\n\n")).unwrap_or_default();
        let text = format!(
            "{greeting}{body}\n\n— {} · {}\n工单号 Ticket #{}。回复请引用工单号 / Please quote the ticket number when you write back.",
            who.user.name, who.tenant.name, t.number
        );
        let payload = serde_json::json!({"subject": subject, "text": text});
        let now = chrono::Utc::now().timestamp_millis();
        self.store.queue_notification(who.tenant.id, "ticket.reply", &crate::mail::mailto(&to), &payload, now).await?;
        Ok(())
    }

    /// Checks and stores a file for a ticket; a comment then sends it.
    pub async fn upload_ticket_attachment(
        &self,
        who: &Authenticated,
        id: TicketId,
        name: &str,
        declared_type: &str,
        data: Vec<u8>,
    ) -> ServiceResult<AttachmentRef> {
        self.store.ticket(who.tenant.id, id).await?;
        let (name, kind) = crate::workspace::check_upload(name, declared_type, &data)?;
        let by = format!("agent:{}", who.user.id);
        Ok(self.store.store_ticket_attachment(who.tenant.id, id, &by, name, kind, data).await?)
    }

    /// Applies one patch to many tickets, each atomically on its own; returns each ticket's outcome in order.
    pub async fn bulk_update_tickets(
        &self,
        who: &Authenticated,
        ids: &[TicketId],
        patch: &TicketPatch,
    ) -> ServiceResult<Vec<(TicketId, ServiceResult<Ticket>)>> {
        if ids.is_empty() || ids.len() > 500 {
            return Err(ServiceError::Invalid("give 1 to 500 tickets".into()));
        }
        let patch = TicketPatch { expected_version: None, ..patch.clone() };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push((*id, self.update_ticket(who, *id, &patch).await));
        }
        Ok(out)
    }
}
