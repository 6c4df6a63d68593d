package courier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// sendTimeout bounds one delivery attempt.
const sendTimeout = 15 * time.Second

// lease is how long a claimed batch belongs to its worker: long enough to
// send the whole batch one by one, after which another worker may take
// over the messages of a worker that died.
func (c *Courier) lease() time.Duration {
	return max(2*time.Minute, time.Duration(c.pullCount)*sendTimeout*3/2)
}

// Run delivers queued messages until ctx is done, polling every
// courier.worker.pull_wait and right after an Enqueue in this process.
func (c *Courier) Run(ctx context.Context) error {
	var types []string
	for _, t := range []string{TypeEmail, TypeSMS} {
		if c.canDeliver(t) {
			types = append(types, t)
		}
	}
	switch {
	case len(types) == 0 && c.dev:
		c.log.Info("no email or SMS delivery is configured: messages are kept in the database and readable at GET /admin/courier/messages")
	case len(types) == 0:
		c.log.Warn("no email or SMS delivery is configured (set courier.smtp.connection_uri): messages stay queued")
	case !c.canDeliver(TypeEmail):
		c.log.Warn("no email delivery is configured (set courier.smtp.connection_uri): emails stay queued")
	}
	if len(types) == 0 {
		<-ctx.Done()
		return nil
	}
	for {
		n, err := c.deliverBatch(ctx, types)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.log.Error("courier: processing the queue failed", "error", err)
		}
		if err == nil && n == c.pullCount {
			continue // a full batch: more may be due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
			// Enqueue ran inside a transaction that may not have
			// committed yet; give it a moment.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(25 * time.Millisecond):
			}
		case <-time.After(c.pullWait):
		}
	}
}

// deliverBatch claims due messages and sends them one after the other. It
// answers how many it claimed.
func (c *Courier) deliverBatch(ctx context.Context, types []string) (int, error) {
	batch, lease, err := c.claim(ctx, types)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	for i, m := range batch {
		if ctx.Err() != nil {
			c.release(batch[i:], lease)
			break
		}
		sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
		sendErr := c.senders[m.Type].send(sendCtx, m)
		cancel()
		if sendErr != nil && ctx.Err() != nil {
			// Shutting down mid-send is not the message's fault.
			c.release(batch[i:], lease)
			break
		}
		if err := c.finish(context.WithoutCancel(ctx), m, lease, sendErr); err != nil {
			return len(batch), err
		}
	}
	return len(batch), nil
}

const messageColumns = `id, type, status, channel, recipient, subject, body, template_type, template_data, send_count, next_attempt_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanMessage(r scanner) (*message, error) {
	var (
		m          message
		data       string
		next, c, u store.Time
	)
	if err := r.Scan(&m.ID, &m.Type, &m.Status, &m.Channel, &m.Recipient, &m.Subject, &m.Body, &m.TemplateType, &data, &m.SendCount, &next, &c, &u); err != nil {
		return nil, err
	}
	m.NextAttemptAt, m.CreatedAt, m.UpdatedAt = next.Time, c.Time, u.Time
	if err := json.Unmarshal([]byte(data), &m.TemplateData); err != nil {
		return nil, err
	}
	return &m, nil
}

// claim marks up to pull_count due messages as processing under a lease
// and returns them. Due means queued and past next_attempt_at, or
// processing with an expired lease (next_attempt_at holds the lease end).
// On PostgreSQL, SKIP LOCKED lets concurrent workers take disjoint
// batches; on SQLite the single writer serialises claims.
func (c *Courier) claim(ctx context.Context, types []string) ([]*message, time.Time, error) {
	now := store.Now()
	lease := now.Add(c.lease())
	quoted := make([]string, len(types))
	for i, t := range types {
		quoted[i] = "'" + t + "'" // constants, not input
	}
	var batch []*message
	err := c.store.Write(ctx, func(q *store.Q) error {
		lock := ""
		if q.Dialect() == store.Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := q.Query(ctx, `UPDATE courier_messages
			SET status = 'processing', lease_until = $1, next_attempt_at = $1, updated_at = $2
			WHERE id IN (
				SELECT id FROM courier_messages
				WHERE status IN ('queued', 'processing') AND next_attempt_at <= $2 AND type IN (`+strings.Join(quoted, ", ")+`)
				ORDER BY next_attempt_at
				LIMIT $3`+lock+`)
			RETURNING `+messageColumns, lease, now, c.pullCount)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			batch = append(batch, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return batch, lease, nil
}

// release hands claimed but unsent messages back to the queue.
func (c *Courier) release(ms []*message, lease time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := store.Now()
	err := c.store.Write(ctx, func(q *store.Q) error {
		for _, m := range ms {
			if _, err := q.Exec(ctx, `UPDATE courier_messages SET status = $2, next_attempt_at = $3, lease_until = NULL, updated_at = $3
				WHERE id = $1 AND status = 'processing' AND lease_until = $4`, m.ID, StatusQueued, now, lease); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.log.Warn("courier: could not release messages; they are retried when their lease ends", "error", err)
	}
}

// finish records the outcome of one delivery attempt.
func (c *Courier) finish(ctx context.Context, m *message, lease time.Time, sendErr error) error {
	now := store.Now()
	count := m.SendCount + 1
	status, next := StatusSent, now
	var errJSON any // NULL unless the attempt failed
	if sendErr != nil {
		var perm permanentError
		switch {
		case errors.As(sendErr, &perm) || count > c.retries:
			status = StatusAbandoned
		default:
			status, next = StatusQueued, now.Add(c.backoff(count))
		}
		b, _ := json.Marshal(map[string]any{
			"code":    http.StatusInternalServerError,
			"status":  http.StatusText(http.StatusInternalServerError),
			"message": sendErr.Error(),
		})
		errJSON = string(b)
	}
	dispatchStatus := "success"
	if sendErr != nil {
		dispatchStatus = "failed"
	}
	var held bool
	err := c.store.Write(ctx, func(q *store.Q) error {
		res, err := q.Exec(ctx, `UPDATE courier_messages
			SET status = $2, send_count = send_count + 1, next_attempt_at = $3, lease_until = NULL, updated_at = $4
			WHERE id = $1 AND status = 'processing' AND lease_until = $5`, m.ID, status, next, now, lease)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		held = n == 1
		id, err := uuid.NewRandom()
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `INSERT INTO courier_message_dispatches (id, message_id, status, error, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, id, m.ID, dispatchStatus, errJSON, now)
		return err
	})
	if err != nil {
		return err
	}
	c.report(status, sendErr)
	attrs := []any{"message_id", m.ID, "message_type", m.Type, "template_type", m.TemplateType, "send_count", count}
	switch {
	case !held:
		c.log.Warn("courier: a message's lease ran out while it was being sent; another worker may send it again", attrs...)
	case sendErr == nil:
		c.log.Info("courier delivered a message", attrs...)
	case status == StatusAbandoned:
		c.log.Error("courier gave up on a message", append(attrs, "error", sendErr)...)
	default:
		c.log.Warn("courier could not deliver a message; it will be retried", append(attrs, "error", sendErr, "retry_at", next)...)
	}
	return nil
}
