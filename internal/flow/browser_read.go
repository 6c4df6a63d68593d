package flow

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// ErrExpiredFlow means a flow read for showing has expired.
var ErrExpiredFlow = wire.Gone.WithID("self_service_flow_expired").WithReason("The flow expired; start a new one.")

// ForBrowser reads the flow of kind a page in this browser shows, with the
// checks of Fetch: ErrFlowNotFound for a bad or unknown id, a CSRF error
// for a browser flow another browser started, ErrExpiredFlow when expired.
func (k *Kit) ForBrowser(r *http.Request, kind Kind, rawID string) (*Flow, error) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return nil, ErrFlowNotFound
	}
	f, err := Get(r.Context(), k.Store.Read(), kind, id)
	if err != nil {
		return nil, err
	}
	if f.Type == TypeBrowser && !k.CSRF.MatchesFlow(r, f.CSRFHash) {
		return nil, wire.Forbidden.WithID("security_csrf_violation").WithReason("The flow was started by another browser, or its anti-CSRF cookie is missing.")
	}
	if f.Expired() {
		return nil, ErrExpiredFlow
	}
	return f, nil
}

// StoredError is an error kept for the error UI (selfservice_errors).
type StoredError struct {
	ID        string
	Error     json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ErrStoredErrorNotFound answers an unknown error id.
var ErrStoredErrorNotFound = wire.NotFound.WithReason("The error could not be found.")

// ReadError reads the stored error id, or one of the stub errors UIs test
// with; ErrStoredErrorNotFound when there is none.
func (k *Kit) ReadError(ctx context.Context, id string) (*StoredError, error) {
	if e, ok := stubErrors[id]; ok {
		now := time.Now().UTC()
		body, _ := json.Marshal(e)
		return &StoredError{ID: id, Error: body, CreatedAt: now, UpdatedAt: now}, nil
	}
	uid, err := uuid.Parse(id)
	if err != nil {
		return nil, ErrStoredErrorNotFound
	}
	var body string
	var created, updated store.Time
	err = k.Store.Read().QueryRow(ctx, `SELECT error, created_at, updated_at FROM selfservice_errors WHERE id = $1`, uid).Scan(&body, &created, &updated)
	if err == store.ErrNotFound {
		return nil, ErrStoredErrorNotFound
	}
	if err != nil {
		return nil, err
	}
	return &StoredError{ID: uid.String(), Error: json.RawMessage(body), CreatedAt: created.Time, UpdatedAt: updated.Time}, nil
}
