//! The client frames of the two WebSockets (`docs/protocol.md`): what the widget and the agent workspace send.
//! Parsing is here, in the crate without I/O, so that the fuzz target `widget_frame` exercises the very code the
//! server runs on every frame.

use crate::error::ErrorCode;
use crate::ids::{AttachmentId, ConversationId, EntryId, MessageId};
use serde::Deserialize;

/// The longest `client_id` (the sender's idempotency key).
pub const MAX_CLIENT_ID: usize = 64;

/// A frame from the widget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WidgetFrame {
    /// A visitor message (stored, then acknowledged with its `seq`).
    Message {
        /// The sender's idempotency key: a resent message with the same key is stored once.
        client_id: String,
        /// The text as typed.
        text: String,
        /// A file uploaded before.
        #[serde(default)]
        attachment_id: Option<AttachmentId>,
        /// The visitor clicked a suggestion or a guess: the bot answers this entry.
        #[serde(default)]
        choice: Option<ChoiceFrame>,
    },
    /// 👍 / 👎 on a bot answer.
    Feedback {
        /// The bot message.
        message_id: MessageId,
        /// Whether it helped.
        useful: bool,
    },
    /// Send what came after this `seq` (after a reconnect).
    Resume {
        /// The last `seq` the widget has.
        after_seq: i64,
    },
    /// The visitor is typing (or stopped).
    Typing {
        /// Typing now.
        typing: bool,
    },
    /// The widget received messages up to `seq`.
    Delivered {
        /// The highest `seq` received.
        seq: i64,
    },
    /// The visitor saw messages up to `seq`.
    Read {
        /// The highest `seq` seen.
        seq: i64,
    },
    /// Keep-alive.
    Ping,
}

/// A clicked suggestion or guess.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct ChoiceFrame {
    /// The knowledge-base entry.
    pub entry_id: EntryId,
    /// Where the visitor clicked it.
    pub source: ChoiceKind,
}

/// Where a clicked entry was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceKind {
    /// 您是不是想问 (after an unsure match).
    Suggestion,
    /// 猜你想问 (before the visitor asked).
    Guess,
}

/// A frame from the agent workspace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentFrame {
    /// Keep-alive.
    Ping,
    /// The agent is typing in a conversation (or stopped).
    Typing {
        /// The conversation.
        conversation_id: ConversationId,
        /// Typing now.
        typing: bool,
    },
}

/// Why a frame was refused: the error frame's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// `bad_request` for a frame that is not one of the protocol's, `invalid_field` for a bad value.
    pub code: ErrorCode,
    /// What was wrong, for the sender.
    pub message: String,
}

impl WidgetFrame {
    /// Reads one text frame: its JSON shape, then the values the shape cannot say (`client_id` 1 to 64
    /// characters, no control characters in it). The text itself is checked where it is stored.
    pub fn parse(text: &str) -> Result<WidgetFrame, FrameError> {
        let frame: WidgetFrame = serde_json::from_str(text)
            .map_err(|e| FrameError { code: ErrorCode::BadRequest, message: format!("bad frame: {e}") })?;
        if let WidgetFrame::Message { client_id, .. } = &frame
            && (client_id.is_empty()
                || client_id.chars().count() > MAX_CLIENT_ID
                || client_id.chars().any(char::is_control))
        {
            return Err(FrameError {
                code: ErrorCode::InvalidField,
                message: format!("client_id must be 1 to {MAX_CLIENT_ID} characters without control characters"),
            });
        }
        Ok(frame)
    }
}

impl AgentFrame {
    /// Reads one text frame from the workspace.
    pub fn parse(text: &str) -> Result<AgentFrame, FrameError> {
        serde_json::from_str(text)
            .map_err(|e| FrameError { code: ErrorCode::BadRequest, message: format!("bad frame: {e}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_bad_values_are_named() {
        let ok = WidgetFrame::parse(r#"{"type":"message","client_id":"c1","text":"你好"}"#);
        assert!(matches!(ok, Ok(WidgetFrame::Message { ref text, .. }) if text == "你好"), "{ok:?}");
        assert_eq!(WidgetFrame::parse(r#"{"type":"ping"}"#), Ok(WidgetFrame::Ping));
        let long = format!(r#"{{"type":"message","client_id":"{}","text":"x"}}"#, "a".repeat(65));
        assert_eq!(WidgetFrame::parse(&long).map_err(|e| e.code), Err(ErrorCode::InvalidField));
        let control = r#"{"type":"message","client_id":"a\u0000b","text":"x"}"#;
        assert_eq!(WidgetFrame::parse(control).map_err(|e| e.code), Err(ErrorCode::InvalidField));
        for bad in ["", "{", "[]", r#"{"type":"nope"}"#, r#"{"type":"resume","after_seq":"1"}"#] {
            assert_eq!(WidgetFrame::parse(bad).map_err(|e| e.code), Err(ErrorCode::BadRequest), "{bad}");
        }
        assert!(AgentFrame::parse(r#"{"type":"typing","conversation_id":"x","typing":true}"#).is_err());
    }
}
