package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// callbackBodyLimit caps a provider's form_post answer (code, state, a
// few more fields).
const callbackBodyLimit = 64 << 10

// Register implements flow.Router: the callbacks providers send browsers
// back to, and FedCM's endpoints.
func (m *Method) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/methods/oidc/callback/{provider}", m.callback)
	mux.HandleFunc("GET /self-service/methods/oidc/callback", m.callback)
	mux.HandleFunc("POST /self-service/methods/oidc/callback/{provider}", m.formPost)
	mux.HandleFunc("GET /self-service/fed-cm/parameters", m.fedcmParameters)
	mux.HandleFunc("POST /self-service/fed-cm/token", m.fedcmToken)
}

// formPost answers a provider that posts its answer (Apple's form_post):
// a cross-site POST carries no SameSite=Lax cookie, so the browser is sent
// on to the GET callback, which does, with the fields in the query.
func (m *Method) formPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, callbackBodyLimit)
	if err := r.ParseForm(); err != nil {
		m.kit.Fail(w, r, wire.BadRequest.WithReason("The provider's answer could not be read."))
		return
	}
	q := r.URL.Query()
	for k, vs := range r.PostForm {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	target := url.URL{Path: "/self-service/methods/oidc/callback/" + url.PathEscape(r.PathValue("provider")), RawQuery: q.Encode()}
	http.Redirect(w, r, m.kit.PublicURL+target.String()[1:], http.StatusFound)
}

// callback receives a provider's answer and resumes the flow its state
// names.
func (m *Method) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, secret, ok := parseState(q.Get("state"))
	if !ok {
		m.kit.Fail(w, r, errState)
		return
	}
	f, err := flow.Lookup(r.Context(), m.kit.Store.Read(), id)
	if err != nil {
		m.kit.Fail(w, r, err)
		return
	}
	code := q.Get("code")
	if code == "" {
		code = q.Get("authCode")
	}
	c := &callback{provider: r.PathValue("provider"), secret: secret, code: code}
	if e := q.Get("error"); e != "" {
		c.errorCode = errorCodeOf(e)
	}
	m.kit.Resume(w, r, f, flow.Payload{"method": ID, fieldProvider: c.provider}, c)
}

// fedcmKey is where a login begun for FedCM keeps its nonce's digest.
const fedcmKey = "oidc_fedcm"

// fedcmToken is a token the browser's FedCM API got from a provider.
type fedcmToken struct {
	token, nonce string
	secret       []byte
}

// fedcmProvider is the SDK's Provider of createFedcmFlowResponse.
type fedcmProvider struct {
	ConfigURL string `json:"config_url"`
	ClientID  string `json:"client_id"`
	Nonce     string `json:"nonce"`
}

func (m *Method) fedcmProviders() []*Provider {
	var out []*Provider
	for _, p := range m.visible() {
		if p.cfg.FedCMConfigURL != "" && p.SupportsIDToken() {
			out = append(out, p)
		}
	}
	return out
}

// fedcmParameters begins a browser login for FedCM: the page passes each
// provider's config and the nonce to navigator.credentials.get, then posts
// the token it gets to fedcmToken with the CSRF token.
func (m *Method) fedcmParameters(w http.ResponseWriter, r *http.Request) {
	f, err := m.kit.StartFlow(w, r, flow.Login, flow.TypeBrowser)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	nonce, digest := newState(f.ID)
	f.Internal[fedcmKey] = mustQuote(digest)
	if err := m.kit.Update(r.Context(), f); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	providers := []fedcmProvider{}
	for _, p := range m.fedcmProviders() {
		providers = append(providers, fedcmProvider{ConfigURL: p.cfg.FedCMConfigURL, ClientID: p.cfg.ClientID, Nonce: nonce})
	}
	csrf := ""
	if n := f.UI.Find("csrf_token"); n != nil {
		csrf, _ = n.Attributes.Value.(string)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"providers": providers, "csrf_token": csrf})
}

// fedcmToken signs in with the token FedCM gave the page, on the login
// the nonce names.
func (m *Method) fedcmToken(w http.ResponseWriter, r *http.Request) {
	p, err := flow.DecodePayload(w, r, nil)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	token, nonce := p.String("token"), p.String("nonce")
	if token == "" || nonce == "" {
		wire.WriteError(w, r, wire.BadRequest.WithReason("The token and the nonce are required."))
		return
	}
	id, secret, ok := parseState(nonce)
	if !ok {
		wire.WriteError(w, r, errState)
		return
	}
	f, err := flow.Get(r.Context(), m.kit.Store.Read(), flow.Login, id)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if err := m.kit.CSRF.Verify(r, p.String("csrf_token")); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	m.kit.Resume(w, r, f, flow.Payload{"method": ID}, &fedcmToken{token: token, nonce: nonce, secret: secret})
}

// finishFedCM checks a FedCM token: the nonce is the login's, used once,
// and the token verifies for one of the FedCM providers.
func (m *Method) finishFedCM(ctx context.Context, s *flow.Submission, t *fedcmToken) (*Result, error) {
	f := s.Flow
	var digest string
	if raw := f.Internal[fedcmKey]; raw == nil || unquote(raw, &digest) != nil {
		return nil, errStateUsed
	}
	if !sameDigest(t.secret, digest) {
		return nil, errState
	}
	if err := flow.Take(ctx, m.kit.Store, f, fedcmKey); err != nil {
		if errors.Is(err, flow.ErrCompleted) {
			return nil, errStateUsed
		}
		return nil, err
	}
	for _, p := range m.fedcmProviders() {
		claims, err := p.VerifyIDToken(ctx, t.token, t.nonce)
		if err == nil {
			return &Result{Provider: p.cfg.ID, Claims: claims, Tokens: Tokens{IDToken: t.token}}, nil
		}
		if !errors.Is(err, ErrIDTokenInvalid) {
			return nil, err
		}
	}
	return nil, wire.Forbidden.WithReason("The token is not valid for any FedCM provider.")
}
