package courier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// redacted replaces subjects and bodies in the admin API outside dev mode:
// they carry codes and links that grant access to accounts.
const redacted = "<redacted-unless-dev-mode>"

// defaultListSize is Kratos's page size for courier messages.
const defaultListSize = 10

// Admin returns the admin API's courier endpoints:
// GET <prefix>/courier/messages and GET <prefix>/courier/messages/{id}.
func (c *Courier) Admin(adminBaseURL string) interface {
	Register(mux *http.ServeMux, prefix string)
} {
	return &adminHandler{c: c, base: adminBaseURL}
}

type adminHandler struct {
	c    *Courier
	base string
}

func (h *adminHandler) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/courier/messages", h.list)
	mux.HandleFunc("GET "+prefix+"/courier/messages/{id}", h.get)
}

// messageView is the courier message of Kratos's admin API.
type messageView struct {
	ID           uuid.UUID      `json:"id"`
	Type         string         `json:"type"`
	Status       string         `json:"status"`
	Channel      string         `json:"channel,omitempty"`
	Recipient    string         `json:"recipient"`
	Subject      string         `json:"subject"`
	Body         string         `json:"body"`
	TemplateType string         `json:"template_type"`
	SendCount    int            `json:"send_count"`
	CreatedAt    time.Time      `json:"created_at"`
	UpdatedAt    time.Time      `json:"updated_at"`
	Dispatches   []dispatchView `json:"dispatches,omitempty"`
}

type dispatchView struct {
	ID        uuid.UUID       `json:"id"`
	MessageID uuid.UUID       `json:"message_id"`
	Status    string          `json:"status"`
	Error     json.RawMessage `json:"error,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func (h *adminHandler) view(m *message) messageView {
	v := messageView{
		ID: m.ID, Type: m.Type, Status: m.Status, Channel: m.Channel, Recipient: m.Recipient,
		Subject: m.Subject, Body: m.Body, TemplateType: m.TemplateType, SendCount: m.SendCount,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}
	if !h.c.dev {
		v.Subject, v.Body = redacted, redacted
	}
	for _, d := range m.Dispatches {
		v.Dispatches = append(v.Dispatches, dispatchView(d))
	}
	return v
}

var statuses = map[string]bool{StatusQueued: true, StatusProcessing: true, StatusSent: true, StatusAbandoned: true}

func (h *adminHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, err := wire.ParsePage(r)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if !q.Has("page_size") && !q.Has("per_page") {
		pg.Size = defaultListSize
	}
	f := listFilter{recipient: q.Get("recipient"), after: pg.After, limit: pg.Size}
	if q.Has("status") {
		f.status = q.Get("status")
		if !statuses[f.status] {
			wire.WriteError(w, r, wire.BadRequest.WithReason("status must be one of queued, processing, sent or abandoned."))
			return
		}
	}
	page, more, total, err := h.c.listMessages(r.Context(), f)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	var next *uuid.UUID
	if more && len(page) > 0 {
		next = &page[len(page)-1].ID
	}
	out := make([]messageView, 0, len(page))
	for _, m := range page {
		out = append(out, h.view(m))
	}
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	wire.SetLinkHeader(w, r, h.base, pg.Size, next)
	wire.WriteJSON(w, http.StatusOK, out)
}

// ErrMessageNotFound answers an unknown message id.
var ErrMessageNotFound = wire.NotFound.WithReason("The courier message could not be found.")

func (h *adminHandler) get(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		wire.WriteError(w, r, wire.BadRequest.WithReason("The message id must be a UUID."))
		return
	}
	m, err := h.c.message(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		err = ErrMessageNotFound
	}
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.view(m))
}

// message loads one message with its dispatches, oldest first.
func (c *Courier) message(ctx context.Context, id uuid.UUID) (*message, error) {
	db := c.store.Read()
	m, err := scanMessage(db.QueryRow(ctx, "SELECT "+messageColumns+" FROM courier_messages WHERE id = $1", id))
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, "SELECT id, message_id, status, error, created_at, updated_at FROM courier_message_dispatches WHERE message_id = $1 ORDER BY created_at, id", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d      dispatch
			errTxt *string
			cr, up store.Time
		)
		if err := rows.Scan(&d.ID, &d.MessageID, &d.Status, &errTxt, &cr, &up); err != nil {
			return nil, err
		}
		if errTxt != nil {
			d.Error = json.RawMessage(*errTxt)
		}
		d.CreatedAt, d.UpdatedAt = cr.Time, up.Time
		m.Dispatches = append(m.Dispatches, d)
	}
	return m, rows.Err()
}
