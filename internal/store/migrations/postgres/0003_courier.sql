-- The courier's outgoing queue. A message being sent is "processing" and
-- holds a lease until lease_until; next_attempt_at is then set to the same
-- instant, so that one index finds both due messages and messages whose
-- sender died.
CREATE TABLE courier_messages (
    id              UUID PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('email', 'sms')),
    status          TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'sent', 'abandoned')),
    channel         TEXT NOT NULL DEFAULT '',
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    template_type   TEXT NOT NULL,
    template_data   JSONB NOT NULL DEFAULT '{}',
    send_count      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX courier_messages_due_idx ON courier_messages (next_attempt_at)
    WHERE status IN ('queued', 'processing');
CREATE INDEX courier_messages_list_idx ON courier_messages (created_at, id);
CREATE INDEX courier_messages_recipient_idx ON courier_messages (recipient, created_at, id);
CREATE INDEX courier_messages_status_idx ON courier_messages (status, created_at, id);

CREATE TABLE courier_message_dispatches (
    id         UUID PRIMARY KEY,
    message_id UUID NOT NULL REFERENCES courier_messages (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('failed', 'success')),
    error      JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX courier_message_dispatches_message_idx ON courier_message_dispatches (message_id, created_at);
