package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// schemaHandler serves identity schemas on the public listener.
type schemaHandler struct {
	registry *schema.Registry
}

type schemaContainer struct {
	ID     string          `json:"id"`
	Schema json.RawMessage `json:"schema"`
}

func (h *schemaHandler) list(w http.ResponseWriter, r *http.Request) {
	all := h.registry.All()
	// Offset pagination (page/per_page), as Kratos offers for this endpoint.
	page, perPage := 0, 250
	if v, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 1000)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("page_size")); err == nil && v > 0 {
		perPage = min(v, 1000)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && v > 0 {
		page = v
	}
	out := []schemaContainer{}
	for k := page * perPage; k < len(all) && k < (page+1)*perPage; k++ {
		out = append(out, schemaContainer{ID: all[k].ID, Schema: all[k].Raw})
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(all)))
	wire.WriteJSON(w, http.StatusOK, out)
}

// get answers the schema by id; the id may also come base64url-encoded, as
// it does in an identity's schema_url.
func (h *schemaHandler) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s, ok := h.registry.Get(id)
	if !ok {
		if dec, err := base64.RawURLEncoding.DecodeString(id); err == nil {
			s, ok = h.registry.Get(string(dec))
		}
	}
	if !ok {
		wire.WriteError(w, r, wire.NotFound.WithReason("Identity schema %q does not exist.", id))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.Raw)
}
