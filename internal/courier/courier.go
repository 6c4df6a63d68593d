// Package courier is Lanyard's outgoing message queue: flows enqueue
// emails and SMS messages inside their own transactions, and a worker
// delivers them over SMTP or HTTP, retrying with backoff. Any number of
// workers may share one PostgreSQL database: each message is claimed by
// one of them under a lease.
package courier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/store"
)

// Message types and statuses, as Kratos names them.
const (
	TypeEmail = "email"
	TypeSMS   = "sms"

	StatusQueued     = "queued"
	StatusProcessing = "processing"
	StatusSent       = "sent"
	StatusAbandoned  = "abandoned"
)

// sender delivers one message; a permanent error abandons the message at
// once instead of retrying it.
type sender interface {
	send(ctx context.Context, m *message) error
}

// permanentError marks failures that retrying cannot fix (e.g. SMTP 5xx).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Courier queues messages and, in Run, delivers them.
type Courier struct {
	store     *store.Store
	dev       bool
	retries   int
	pullCount int
	pullWait  time.Duration
	templates map[string]*messageTemplates
	// senders by message type; a type without a sender stays queued.
	senders map[string]sender
	// wake is signalled by Enqueue so that a worker in this process does
	// not wait for its next poll.
	wake chan struct{}
	// backoff computes the delay before retry n (n >= 1); tests shorten it.
	backoff func(n int) time.Duration
	log     *slog.Logger
	// results, when set, is told each delivery attempt's result (metrics).
	results func(result string)
	// outbound guards the HTTP channels' calls (nil: unguarded).
	outbound *egress.Guard
}

// Option adjusts a courier New builds.
type Option func(*Courier)

// WithOutbound makes the HTTP channels' calls, their remote Jsonnet
// bodies and remote templates follow clients.http's private-IP rule.
func WithOutbound(g *egress.Guard) Option { return func(c *Courier) { c.outbound = g } }

// New prepares a courier: it loads and parses every template and checks
// the delivery settings, so that mistakes surface at start-up.
func New(cfg config.Courier, dev bool, s *store.Store, opts ...Option) (*Courier, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &Courier{
		store:     s,
		dev:       dev,
		retries:   cfg.MessageRetries,
		pullCount: max(cfg.Worker.PullCount, 1),
		pullWait:  cfg.Worker.PullWait,
		senders:   map[string]sender{},
		wake:      make(chan struct{}, 1),
		backoff:   defaultBackoff,
		log:       slog.Default().With("component", "courier"),
	}
	if c.pullWait <= 0 {
		c.pullWait = time.Second
	}
	for _, o := range opts {
		o(c)
	}
	var err error
	if c.templates, err = loadTemplates(ctx, cfg, c.outbound); err != nil { // through the guard an option set
		return nil, err
	}
	switch {
	case cfg.DeliveryStrategy == "http":
		if cfg.HTTP == nil {
			return nil, errors.New("config key \"courier.http.request_config\": required when courier.delivery_strategy is http")
		}
		if c.senders[TypeEmail], err = newHTTPSender(*cfg.HTTP, c); err != nil {
			return nil, fmt.Errorf("config key \"courier.http.request_config\": %w", err)
		}
	case cfg.SMTP.ConnectionURI != "":
		if c.senders[TypeEmail], err = newSMTPSender(cfg.SMTP, c); err != nil {
			return nil, err
		}
	}
	for _, ch := range cfg.Channels {
		if ch.ID == "sms" {
			if c.senders[TypeSMS], err = newHTTPSender(ch.Request, c); err != nil {
				return nil, fmt.Errorf("config key \"courier.channels\" (sms): %w", err)
			}
		}
	}
	return c, nil
}

func defaultBackoff(n int) time.Duration {
	if n > 6 {
		return time.Minute
	}
	return min(time.Second<<(n-1), time.Minute)
}

// message is a row of courier_messages.
type message struct {
	ID            uuid.UUID
	Type          string
	Status        string
	Channel       string
	Recipient     string
	Subject       string
	Body          string
	TemplateType  string
	TemplateData  map[string]any
	SendCount     int
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Dispatches    []dispatch
}

type dispatch struct {
	ID        uuid.UUID
	MessageID uuid.UUID
	Status    string
	Error     json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Enqueue renders m and queues it inside the caller's transaction; it is
// sent once that transaction commits.
func (c *Courier) Enqueue(ctx context.Context, q *store.Q, m Message) (uuid.UUID, error) {
	row, err := c.prepare(m)
	if err != nil {
		return uuid.Nil, err
	}
	if err := c.insert(ctx, q, row); err != nil {
		return uuid.Nil, err
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return row.id, nil
}

// Rehearse does the work of Enqueue for m and takes it back: it renders m,
// writes its row and deletes the row again in the same transaction, so
// that no one ever sees it. With a notice, the notice's row is written in
// place of m's (and the deletion finds nothing). An address without an
// account gets this in place of m, so that asking for a message to it
// takes as long as asking for one to an address with an account: the
// deletion weighs about what reading the owner's identity rows does. m is
// rendered for a stand-in identity (and its traits) when it has none; a
// template that fails to render is no error here, as it may expect traits
// the stand-in lacks.
func (c *Courier) Rehearse(ctx context.Context, q *store.Q, m Message, notice *Message) error {
	row, _ := c.prepare(m.withStandIns())
	if notice != nil {
		if _, err := c.Enqueue(ctx, q, *notice); err != nil {
			return err
		}
	} else if err := c.insert(ctx, q, row); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM courier_messages WHERE id = $1`, row.id)
	return err
}

// queuedRow is a message ready to be inserted.
type queuedRow struct {
	id                           uuid.UUID
	channel, recipient, template string
	subject, body, data          string
}

// prepare renders m. On an error the row is still complete enough for
// Rehearse.
func (c *Courier) prepare(m Message) (queuedRow, error) {
	row := queuedRow{id: uuid.New(), channel: m.channel(), recipient: strings.TrimSpace(m.To), template: m.Template, data: "{}"}
	mt := c.templates[m.Template]
	if mt == nil {
		return row, fmt.Errorf("courier: unknown template type %q", m.Template)
	}
	goData, jsonData := m.data()
	raw, err := json.Marshal(jsonData)
	if err != nil {
		return row, fmt.Errorf("courier: encoding the template data: %w", err)
	}
	row.data = string(raw)
	r, err := mt.render(row.channel, goData)
	if err != nil {
		return row, fmt.Errorf("courier: rendering %s: %w", m.Template, err)
	}
	row.subject, row.body = r.subject, r.body
	if row.recipient == "" {
		return row, errors.New("courier: the message has no recipient")
	}
	return row, nil
}

func (c *Courier) insert(ctx context.Context, q *store.Q, row queuedRow) error {
	return q.Defer(ctx, `INSERT INTO courier_messages
		(id, type, status, channel, recipient, subject, body, template_type, template_data, send_count, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $10, $10)`,
		row.id, row.channel, StatusQueued, row.channel, row.recipient, row.subject, row.body, row.template, row.data, store.Now())
}

// canDeliver reports whether this courier has a way to send messages of
// type typ.
func (c *Courier) canDeliver(typ string) bool { return c.senders[typ] != nil }

// Describe says in one line where queued messages go, for the start-up
// banner.
func (c *Courier) Describe(watching bool) string {
	var ways []string
	if c.senders[TypeEmail] != nil {
		ways = append(ways, "email")
	}
	if c.senders[TypeSMS] != nil {
		ways = append(ways, "SMS")
	}
	switch {
	case len(ways) == 0 && c.dev:
		return "no SMTP configured: messages stay in the database; read them with GET /admin/courier/messages"
	case len(ways) == 0:
		return "no SMTP configured: messages are queued but not sent"
	case !watching:
		return "sends " + strings.Join(ways, " and ") + " when a worker runs (serve --watch-courier or lanyard courier watch)"
	}
	return "sends " + strings.Join(ways, " and ") + " from this process"
}
