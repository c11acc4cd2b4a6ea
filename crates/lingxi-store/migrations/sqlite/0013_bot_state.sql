-- What the bot remembers of a conversation between turns (lingxi_bot::BotState as JSON): the previous question
-- for follow-ups, the suggestions just offered, a running task flow, the visitor's language.
ALTER TABLE conversations ADD COLUMN bot_state TEXT;
