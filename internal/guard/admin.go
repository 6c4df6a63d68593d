package guard

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Identities finds the identity whose counters the admin API shows.
type Identities interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Identity, error)
}

// Admin returns the admin endpoints that show and clear the attempt
// counters and locks of an identity:
// GET and DELETE <prefix>/identities/{id}/login-attempts.
func (g *Guard) Admin(ids Identities) *AdminHandler {
	return &AdminHandler{g: g, ids: ids}
}

// AdminHandler serves the attempt counters of identities.
type AdminHandler struct {
	g   *Guard
	ids Identities
}

// Register adds the routes under prefix ("" or "/admin").
func (h *AdminHandler) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/identities/{id}/login-attempts", h.get)
	mux.HandleFunc("DELETE "+prefix+"/identities/{id}/login-attempts", h.clear)
}

// attemptsView is the answer of GET .../login-attempts.
type attemptsView struct {
	IdentityID uuid.UUID `json:"identity_id"`
	// Locked: some identifier of the identity is locked right now.
	Locked   bool          `json:"locked"`
	Counters []counterView `json:"counters"`
}

// counterView is the state of one identifier in one scope, on every
// client address together.
type counterView struct {
	Identifier      string       `json:"identifier"`
	Scope           string       `json:"scope"`
	Failures        int          `json:"failures"`
	WindowStartedAt *time.Time   `json:"window_started_at,omitempty"`
	LockedUntil     *time.Time   `json:"locked_until,omitempty"`
	Clients         []clientView `json:"clients"`
}

// clientView is the state of one identifier from one client address (an
// IPv4 address or an IPv6 /64).
type clientView struct {
	Address       string     `json:"address"`
	Failures      int        `json:"failures"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

func (h *AdminHandler) get(w http.ResponseWriter, r *http.Request) {
	i, ok := h.identity(w, r)
	if !ok {
		return
	}
	view, err := h.g.counters(r.Context(), i)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, view)
}

func (h *AdminHandler) clear(w http.ResponseWriter, r *http.Request) {
	i, ok := h.identity(w, r)
	if !ok {
		return
	}
	err := h.g.store.Write(r.Context(), func(q *store.Q) error {
		for _, id := range identifiersOf(i) {
			if _, err := q.Exec(r.Context(), `DELETE FROM guard_attempts WHERE identifier_hash = $1`, h.g.hash(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// identity loads the identity named by the path; a malformed id is as
// unknown as a missing one, as in the identity API.
func (h *AdminHandler) identity(w http.ResponseWriter, r *http.Request) (*identity.Identity, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		wire.WriteError(w, r, identity.ErrNotFound)
		return nil, false
	}
	i, err := h.ids.Get(r.Context(), id)
	if err != nil {
		wire.WriteError(w, r, err)
		return nil, false
	}
	return i, true
}

// identifiersOf are the normalised identifiers attempts for i are counted
// under: its credential identifiers and its addresses (for codes).
func identifiersOf(i *identity.Identity) []string {
	var out []string
	for _, c := range i.Credentials {
		for _, id := range c.Identifiers {
			out = append(out, normalize(id))
		}
	}
	for _, a := range i.VerifiableAddresses {
		out = append(out, normalize(a.Value))
	}
	for _, a := range i.RecoveryAddresses {
		out = append(out, normalize(a.Value))
	}
	slices.Sort(out)
	return slices.DeleteFunc(slices.Compact(out), func(s string) bool { return s == "" })
}

// counters reads what currently holds back attempts for i; rows whose
// window, delay and lock are over count as nothing, as the next attempt
// would start them afresh.
func (g *Guard) counters(ctx context.Context, i *identity.Identity) (attemptsView, error) {
	view := attemptsView{IdentityID: i.ID, Counters: []counterView{}}
	now := g.now().UnixMicro()
	window := micros(g.cfg.Attempts.Window)
	db := g.store.Read()
	for _, id := range identifiersOf(i) {
		rows, err := db.Query(ctx, `SELECT scope, ip, failures, window_start, next_attempt_at, locked_until FROM guard_attempts
			WHERE identifier_hash = $1 ORDER BY scope, ip`, g.hash(id))
		if err != nil {
			return view, err
		}
		byScope := map[string]*counterView{}
		var scopes []string
		for rows.Next() {
			var scope, ip string
			var failures int
			var start, next, locked int64
			if err := rows.Scan(&scope, &ip, &failures, &start, &next, &locked); err != nil {
				rows.Close()
				return view, err
			}
			live := start+window > now || next > now || locked > now
			if !live {
				continue
			}
			c := byScope[scope]
			if c == nil {
				c = &counterView{Identifier: id, Scope: scope, Clients: []clientView{}}
				byScope[scope] = c
				scopes = append(scopes, scope)
			}
			if ip == "" {
				c.Failures = failures
				c.WindowStartedAt = timePtr(start)
				if locked > now {
					c.LockedUntil = timePtr(locked)
					view.Locked = true
				}
				continue
			}
			cv := clientView{Address: ip, Failures: failures}
			if next > now {
				cv.NextAttemptAt = timePtr(next)
			}
			c.Clients = append(c.Clients, cv)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return view, err
		}
		for _, s := range scopes {
			view.Counters = append(view.Counters, *byScope[s])
		}
	}
	return view, nil
}

func timePtr(us int64) *time.Time {
	t := fromMicros(us)
	return &t
}
