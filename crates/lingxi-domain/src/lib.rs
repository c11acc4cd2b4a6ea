//! Lingxi's pure decision logic: when to hand a conversation to a human and to whom, the ticket life cycle and
//! rules (`ticket`), SLA calendars and clocks (`sla`).
//!
//! Architecture invariant: nothing here reads the clock, the network or the database. Inputs in, decisions out.

pub mod email;
pub mod fields;
pub mod handoff;
pub mod routing;
pub mod sla;
pub mod ticket;
pub mod workspace;

/// The language a reply should be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language of a visitor's text: Chinese as soon as it holds a CJK character, English otherwise.
    pub fn of(text: &str) -> Lang {
        if text.chars().any(lingxi_nlp::is_cjk) { Lang::Zh } else { Lang::En }
    }
}
