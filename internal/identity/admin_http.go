package identity

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Limits of the admin identity API, as in Kratos.
const (
	maxListIDs     = 500
	maxBatch       = 2000
	batchBodyLimit = 32 << 20
)

// AdminHandler serves the identity part of the admin API.
type AdminHandler struct {
	m *Manager
	// adminURL is the admin base URL, for Link headers.
	adminURL string
}

// NewAdminHandler wires the admin identity endpoints.
func NewAdminHandler(m *Manager, adminBaseURL string) *AdminHandler {
	return &AdminHandler{m: m, adminURL: strings.TrimSuffix(adminBaseURL, "/")}
}

// Register adds the routes to mux under prefix ("/admin" or "").
func (h *AdminHandler) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/identities", h.list)
	mux.HandleFunc("POST "+prefix+"/identities", h.create)
	mux.HandleFunc("PATCH "+prefix+"/identities", h.batch)
	mux.HandleFunc("GET "+prefix+"/identities/{id}", h.get)
	mux.HandleFunc("PUT "+prefix+"/identities/{id}", h.replace)
	mux.HandleFunc("PATCH "+prefix+"/identities/{id}", h.patch)
	mux.HandleFunc("DELETE "+prefix+"/identities/{id}", h.delete)
	mux.HandleFunc("GET "+prefix+"/identities/by/external/{externalID}", h.getByExternalID)
}

// createBody is the SDK's CreateIdentityBody (and UpdateIdentityBody).
type createBody struct {
	SchemaID            string          `json:"schema_id"`
	State               string          `json:"state"`
	Traits              json.RawMessage `json:"traits"`
	MetadataPublic      json.RawMessage `json:"metadata_public"`
	MetadataAdmin       json.RawMessage `json:"metadata_admin"`
	ExternalID          *string         `json:"external_id"`
	Credentials         *credentialsIn  `json:"credentials"`
	VerifiableAddresses []struct {
		Value      string     `json:"value"`
		Via        string     `json:"via"`
		Verified   bool       `json:"verified"`
		VerifiedAt *time.Time `json:"verified_at"`
	} `json:"verifiable_addresses"`
	RecoveryAddresses json.RawMessage `json:"recovery_addresses"`
}

type credentialsIn struct {
	Password *struct {
		Config *struct {
			Password       *string `json:"password"`
			HashedPassword *string `json:"hashed_password"`
		} `json:"config"`
	} `json:"password"`
}

func (b *createBody) draft() Draft {
	d := Draft{
		SchemaID: b.SchemaID, State: b.State, Traits: b.Traits,
		MetadataPublic: b.MetadataPublic, MetadataAdmin: b.MetadataAdmin, ExternalID: b.ExternalID,
	}
	if b.Credentials != nil && b.Credentials.Password != nil && b.Credentials.Password.Config != nil {
		d.Password = b.Credentials.Password.Config.Password
		d.HashedPassword = b.Credentials.Password.Config.HashedPassword
	}
	for _, a := range b.VerifiableAddresses {
		if !a.Verified {
			continue
		}
		if d.VerifiedAddresses == nil {
			d.VerifiedAddresses = map[string]*time.Time{}
		}
		d.VerifiedAddresses[a.Via+":"+schema.NormalizeAddress(a.Via, a.Value)] = a.VerifiedAt
	}
	return d
}

func (h *AdminHandler) view(i *Identity, include []string) View {
	return i.View(ViewOptions{SchemaURL: h.m.SchemaURL(i.SchemaID), Admin: true, IncludeConfig: include, Declassify: h.m.declassify})
}

func (h *AdminHandler) create(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if err := wire.DecodeJSON(w, r, wire.DefaultBodyLimit, &body); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	i, err := h.m.Create(r.Context(), body.draft())
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", h.adminURL+"/admin/identities/"+i.ID.String())
	wire.WriteJSON(w, http.StatusCreated, h.view(i, nil))
}

func (h *AdminHandler) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	i, err := h.m.Get(r.Context(), id)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.view(i, r.URL.Query()["include_credential"]))
}

func (h *AdminHandler) getByExternalID(w http.ResponseWriter, r *http.Request) {
	i, err := h.m.GetByExternalID(r.Context(), r.PathValue("externalID"))
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.view(i, r.URL.Query()["include_credential"]))
}

func (h *AdminHandler) replace(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var body createBody
	if err := wire.DecodeJSON(w, r, wire.DefaultBodyLimit, &body); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if body.State == "" {
		wire.WriteError(w, r, wire.BadRequest.WithReason("state is required."))
		return
	}
	i, err := h.m.Replace(r.Context(), id, body.draft())
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.view(i, nil))
}

func (h *AdminHandler) patch(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var ops []json.RawMessage
	if err := wire.DecodeJSON(w, r, wire.DefaultBodyLimit, &ops); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	raw, _ := json.Marshal(ops)
	patch, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		wire.WriteError(w, r, wire.BadRequest.WithReason("The JSON Patch is invalid: %v", err))
		return
	}
	i, err := h.m.change(r.Context(), id, func(current *Identity) (Draft, error) {
		return h.applyPatch(current, patch)
	})
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.view(i, nil))
}

// applyPatch applies a JSON Patch to the identity as the API shows it and
// reads the result back as a draft. The id and timestamps are not patchable.
func (h *AdminHandler) applyPatch(current *Identity, patch jsonpatch.Patch) (Draft, error) {
	doc, err := json.Marshal(h.view(current, nil))
	if err != nil {
		return Draft{}, err
	}
	out, err := patch.ApplyWithOptions(doc, &jsonpatch.ApplyOptions{SupportNegativeIndices: true, EnsurePathExistsOnAdd: true})
	if err != nil {
		return Draft{}, wire.BadRequest.WithReason("The JSON Patch could not be applied: %v", err)
	}
	var patched struct {
		ID             string          `json:"id"`
		StateChangedAt json.RawMessage `json:"state_changed_at"`
		CreatedAt      json.RawMessage `json:"created_at"`
		createBody
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&patched); err != nil {
		return Draft{}, wire.BadRequest.WithReason("The patched identity is not valid: %v", err)
	}
	if patched.ID != current.ID.String() {
		return Draft{}, wire.BadRequest.WithReason("The identity's id cannot be changed.")
	}
	// As in Kratos, credentials change through PUT or the self-service
	// flows, never through a patch.
	var credsBefore, credsAfter struct {
		Credentials any `json:"credentials"`
	}
	_ = json.Unmarshal(doc, &credsBefore)
	_ = json.Unmarshal(out, &credsAfter)
	if !reflect.DeepEqual(credsBefore.Credentials, credsAfter.Credentials) {
		return Draft{}, wire.BadRequest.WithReason("The credentials of an identity cannot be changed with a JSON Patch; use PUT /admin/identities/{id}.")
	}
	var before struct {
		StateChangedAt json.RawMessage `json:"state_changed_at"`
		CreatedAt      json.RawMessage `json:"created_at"`
	}
	_ = json.Unmarshal(doc, &before)
	if !bytes.Equal(before.CreatedAt, patched.CreatedAt) || !bytes.Equal(before.StateChangedAt, patched.StateChangedAt) {
		return Draft{}, wire.BadRequest.WithReason("created_at and state_changed_at cannot be changed.")
	}
	patched.Credentials = nil
	return patched.draft(), nil
}

func (h *AdminHandler) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := h.m.Delete(r.Context(), id); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *AdminHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := wire.ParsePage(r)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	opts := ListOptions{PageSize: page.Size, After: page.After, Identifier: q.Get("credentials_identifier")}
	if err := searchOptions(q, &opts); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if ids := q["ids"]; len(ids) > 0 {
		if len(ids) > maxListIDs {
			wire.WriteError(w, r, wire.BadRequest.WithReason("At most %d ids can be listed at once.", maxListIDs))
			return
		}
		for _, s := range ids {
			// Kratos ignores ids that do not exist; malformed ones cannot exist.
			if id, err := uuid.Parse(s); err == nil {
				opts.IDs = append(opts.IDs, id)
			}
		}
		if len(opts.IDs) == 0 {
			wire.WriteJSON(w, http.StatusOK, []View{})
			return
		}
		opts.PageSize = maxListIDs
	}
	ids, more, err := h.m.List(r.Context(), opts)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	include := q["include_credential"]
	out := make([]View, 0, len(ids))
	for _, i := range ids {
		out = append(out, h.view(i, include))
	}
	var next *uuid.UUID
	if more && len(ids) > 0 {
		next = &ids[len(ids)-1].ID
	}
	wire.SetLinkHeader(w, r, h.adminURL, opts.PageSize, next)
	wire.WriteJSON(w, http.StatusOK, out)
}

type batchBody struct {
	Identities []struct {
		Create  *createBody `json:"create"`
		PatchID *string     `json:"patch_id"`
	} `json:"identities"`
}

type batchResult struct {
	Action   string      `json:"action"`
	Identity *string     `json:"identity,omitempty"`
	PatchID  *string     `json:"patch_id,omitempty"`
	Error    *wire.Error `json:"error,omitempty"`
}

// batchAnswerWindow is how long a batch's answer may take to write.
const batchAnswerWindow = time.Minute

func (h *AdminHandler) batch(w http.ResponseWriter, r *http.Request) {
	var body batchBody
	if err := wire.DecodeJSON(w, r, batchBodyLimit, &body); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if len(body.Identities) > maxBatch {
		wire.WriteError(w, r, wire.BadRequest.WithReason("At most %d identities can be patched at once.", maxBatch))
		return
	}
	drafts := make([]Draft, len(body.Identities))
	for k, p := range body.Identities {
		if p.Create == nil {
			wire.WriteError(w, r, wire.BadRequest.WithReason("identities[%d].create is required.", k))
			return
		}
		drafts[k] = p.Create.draft()
	}
	created, errs := h.m.CreateMany(r.Context(), drafts)
	// The server's write timeout counts from the request, and a batch can
	// queue behind others for the database for longer than that: give the
	// answer its own window, or the client loses what was committed.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(batchAnswerWindow))
	results := make([]batchResult, len(drafts))
	for k := range drafts {
		results[k].PatchID = body.Identities[k].PatchID
		if errs[k] != nil {
			e := wire.From(errs[k])
			if e.Code >= 500 {
				wire.WriteError(w, r, errs[k])
				return
			}
			results[k].Action, results[k].Error = "error", e
			continue
		}
		id := created[k].ID.String()
		results[k].Action, results[k].Identity = "create", &id
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"identities": results})
}

func pathID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		wire.WriteError(w, r, ErrNotFound)
		return uuid.Nil, false
	}
	return id, true
}
