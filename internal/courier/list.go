package courier

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// listFilter selects messages for listMessages; empty fields match all.
type listFilter struct {
	status, recipient string
	// after is the last message of the page before (newest first).
	after *uuid.UUID
	limit int
}

// listMessages answers a page of messages, newest first, whether more
// follow, and how many match the filter in all (after aside).
func (c *Courier) listMessages(ctx context.Context, f listFilter) ([]*message, bool, int64, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.status != "" {
		where = append(where, "status = "+arg(f.status))
	}
	if f.recipient != "" {
		where = append(where, "recipient = "+arg(f.recipient))
	}
	db := c.store.Read()
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int64
	if err := db.QueryRow(ctx, "SELECT count(*) FROM courier_messages"+cond, args...).Scan(&total); err != nil {
		return nil, false, 0, err
	}
	if f.after != nil {
		a := arg(*f.after)
		where = append(where, "(created_at, id) < (SELECT created_at, id FROM courier_messages WHERE id = "+a+")")
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.Query(ctx, "SELECT "+messageColumns+" FROM courier_messages"+cond+" ORDER BY created_at DESC, id DESC LIMIT "+arg(f.limit+1), args...)
	if err != nil {
		return nil, false, 0, err
	}
	defer rows.Close()
	var page []*message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, false, 0, err
		}
		page = append(page, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, 0, err
	}
	more := len(page) > f.limit
	if more {
		page = page[:f.limit]
	}
	return page, more, total, nil
}

// Stored is a queued or sent message as the development mailbox shows it.
type Stored struct {
	ID           uuid.UUID
	Type         string // TypeEmail or TypeSMS
	Status       string
	Recipient    string
	Subject      string
	Body         string // the plain-text body
	TemplateType string
	CreatedAt    time.Time
}

// Recent answers the newest limit messages (to recipient, unless empty)
// and whether older ones exist. Outside dev mode subjects and bodies are
// redacted, as in the admin API: they carry codes and links.
func (c *Courier) Recent(ctx context.Context, recipient string, limit int) ([]Stored, bool, error) {
	page, more, _, err := c.listMessages(ctx, listFilter{recipient: recipient, limit: limit})
	if err != nil {
		return nil, false, err
	}
	out := make([]Stored, 0, len(page))
	for _, m := range page {
		s := Stored{ID: m.ID, Type: m.Type, Status: m.Status, Recipient: m.Recipient, Subject: m.Subject, Body: m.Body,
			TemplateType: m.TemplateType, CreatedAt: m.CreatedAt}
		if !c.dev {
			s.Subject, s.Body = redacted, redacted
		}
		out = append(out, s)
	}
	return out, more, nil
}
