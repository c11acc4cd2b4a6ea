//! Ticket classification for routing: the category (or group) of a ticket's text with a calibrated confidence,
//! and whether it should go to a triage group instead of being routed automatically.
//!
//! It is the intent pipeline ([`IntentModel`]) trained on past tickets (text, label) and read differently: every
//! ticket gets its best label, and `needs_triage` says whether the confidence is too low to route on it.

use crate::error::NlpError;
use crate::intent::{Candidate, IntentConfig, IntentModel, Utterance};

/// The default confidence below which a ticket goes to triage: 0.5.
///
/// Confidence is the calibrated probability that the best label is right, so routing at `t` means every
/// auto-routed ticket is at least `t` likely to be right. A misrouted ticket costs at least as much as a triaged
/// one (someone still has to read and move it, after a delay, often with a customer waiting), so routing pays
/// only when the ticket is more likely right than wrong: `p > 1 − c_triage / c_misroute`, which is 0.5 when a
/// misroute costs twice a triage. It is not fitted to one data set; `lingxi eval classify` prints the sweep
/// (triage share and accuracy of the routed tickets for 0.3 … 0.9) to choose a tenant's own value.
pub const DEFAULT_TRIAGE_THRESHOLD: f32 = 0.5;

/// The classification of one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketClass {
    /// The most likely label; `None` only when the model could propose nothing.
    pub label: Option<String>,
    /// Calibrated probability that `label` is right, in `0..=1`.
    pub confidence: f32,
    /// Whether the confidence is below the threshold: a person should route it.
    pub needs_triage: bool,
    /// Up to five labels, most likely first (for the triage screen's suggestions).
    pub candidates: Vec<Candidate>,
}

/// A trained ticket classifier with its triage threshold. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct TicketClassifier {
    model: IntentModel,
    threshold: f32,
}

impl TicketClassifier {
    /// Trains on past tickets (text, label), with [`DEFAULT_TRIAGE_THRESHOLD`].
    pub fn train(examples: &[Utterance], config: &IntentConfig) -> Result<TicketClassifier, NlpError> {
        let model = IntentModel::train(examples, &[], config)?;
        Ok(TicketClassifier { model, threshold: DEFAULT_TRIAGE_THRESHOLD })
    }

    /// The same classifier with another triage threshold (clamped to `0..=1`).
    pub fn with_threshold(mut self, threshold: f32) -> TicketClassifier {
        self.threshold = if threshold.is_finite() { threshold.clamp(0.0, 1.0) } else { DEFAULT_TRIAGE_THRESHOLD };
        self
    }

    /// The triage threshold.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The labels it knows, sorted.
    pub fn labels(&self) -> &[String] {
        self.model.labels()
    }

    /// Classifies a ticket's text (see [`ticket_text`] to build it from a subject and a body).
    pub fn classify(&self, text: &str) -> TicketClass {
        let candidates = self.model.predict(text, 5);
        let (label, confidence) = candidates.first().map_or((None, 0.0), |c| (Some(c.label.clone()), c.confidence));
        TicketClass { label, confidence, needs_triage: confidence < self.threshold, candidates }
    }
}

/// The text a ticket is classified on: the subject, then the body. Only the first 600 characters are analysed,
/// so the subject must come first.
pub fn ticket_text(subject: &str, body: &str) -> String {
    match (subject.trim(), body.trim()) {
        ("", b) => b.to_owned(),
        (s, "") => s.to_owned(),
        (s, b) => format!("{s}. {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Utterance> {
        let rows = [
            ("退款申请：商品破损，要求退款", "refund"),
            ("申请退款，订单已取消但钱没退回", "refund"),
            ("退款什么时候到账？已经一周了", "refund"),
            ("I want a refund for my broken headphones", "refund"),
            ("Refund not received after returning the item", "refund"),
            ("Please refund my order, it arrived damaged", "refund"),
            ("物流一直没有更新，快递到哪里了", "shipping"),
            ("快递三天了还没到，请查一下物流", "shipping"),
            ("发货太慢了，什么时候发货", "shipping"),
            ("Where is my package? Tracking has not moved", "shipping"),
            ("My parcel is late, the courier never came", "shipping"),
            ("When will my order ship? Still not dispatched", "shipping"),
            ("发票抬头写错了，需要重新开发票", "invoice"),
            ("请帮我开增值税专用发票", "invoice"),
            ("发票什么时候寄出", "invoice"),
            ("I need a VAT invoice for my company", "invoice"),
            ("The invoice has the wrong company name", "invoice"),
            ("Please send me the invoice for order 1234", "invoice"),
        ];
        rows.iter().map(|(t, l)| Utterance::new(*t, *l)).collect()
    }

    #[test]
    fn classifies_chinese_and_english_tickets_with_a_triage_flag() -> Result<(), NlpError> {
        let c = TicketClassifier::train(&examples(), &IntentConfig::default())?;
        assert_eq!(c.labels(), ["invoice", "refund", "shipping"]);
        assert_eq!(c.threshold(), DEFAULT_TRIAGE_THRESHOLD);
        for (text, label) in [
            (ticket_text("退款", "东西坏了，我要退款"), "refund"),
            (ticket_text("Package late", "where is my parcel, tracking is stuck"), "shipping"),
            (ticket_text("发票", "需要开公司发票"), "invoice"),
        ] {
            let class = c.classify(&text);
            assert_eq!(class.label.as_deref(), Some(label), "{text}: {class:?}");
            assert!((0.0..=1.0).contains(&class.confidence));
            assert_eq!(class.needs_triage, class.confidence < c.threshold());
            assert!(!class.candidates.is_empty() && class.candidates.len() <= 5);
        }
        let everything = c.clone().with_threshold(1.0);
        assert!(everything.classify("我要退款").needs_triage, "nothing is certain");
        let nothing = c.with_threshold(0.0);
        assert!(!nothing.classify("完全无关的一句话 lorem ipsum").needs_triage);
        Ok(())
    }

    #[test]
    fn ticket_text_puts_the_subject_first() {
        assert_eq!(ticket_text(" 退款 ", "商品破损"), "退款. 商品破损");
        assert_eq!(ticket_text("", "body"), "body");
        assert_eq!(ticket_text("subject", " "), "subject");
    }

    #[test]
    fn training_needs_examples() {
        assert!(matches!(TicketClassifier::train(&[], &IntentConfig::default()), Err(NlpError::NoExamples)));
    }
}
