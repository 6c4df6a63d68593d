// Package oidcop runs an OpenID Provider on loopback for tests of social
// sign-in. It is built on the zitadel/oidc op package, so discovery, JWKS,
// authorize, token and userinfo behave as that library does (redirect_uri
// must match, codes are single-use, PKCE S256 and plain are checked).
//
// There is no login page: the authorize endpoint signs in the user chosen
// with SetUser and redirects straight back with code and state.
package oidcop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Options configures a Server.
type Options struct {
	Clients []Client
	Users   []User
	// Wrap, when set, stands in front of every endpoint (a test's outage).
	Wrap func(http.Handler) http.Handler
}

// Request is one request the provider received at its authorize or token
// endpoint, kept for tests of state, nonce and PKCE binding.
type Request struct {
	Endpoint string // "authorize" or "token"
	// Params are the query and form parameters as received.
	Params url.Values
	// Authorize parameters, copied out of Params for convenience.
	ClientID, RedirectURI, ResponseType string
	Scopes                              []string
	State, Nonce                        string
	CodeChallenge, CodeChallengeMethod  string
	Prompt, LoginHint                   string
	// Token parameters.
	GrantType, Code, CodeVerifier string
}

// Server is a running provider.
type Server struct {
	// Issuer is the provider's issuer and base URL, http://127.0.0.1:port.
	Issuer string

	endpoints Endpoints
	t         testing.TB
	store     *storage
	mu        sync.Mutex
	requests  []Request
}

// Start runs a provider until the test ends. The first user, if any, signs
// in until SetUser picks another.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidcop: listen: %v", err)
	}
	issuer := "http://" + ln.Addr().String()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidcop: generate key: %v", err)
	}
	store := &storage{
		key:      signingKey{id: uuid.NewString(), key: rsaKey},
		clients:  make(map[string]*opClient, len(o.Clients)),
		users:    make(map[string]User, len(o.Users)),
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		tokens:   map[string]accessToken{},
	}
	callback := strings.TrimSuffix(issuer+op.DefaultEndpoints.Authorization.Relative(), "/") + "/callback"
	for _, c := range o.Clients {
		store.clients[c.ID] = &opClient{Client: c, callback: callback}
	}
	for _, u := range o.Users {
		store.users[u.Subject] = u
	}
	if len(o.Users) > 0 {
		store.current = o.Users[0].Subject
	}

	config := &op.Config{
		CodeMethodS256:  true,
		AuthMethodPost:  true,
		SupportedScopes: []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail},
	}
	if _, err := rand.Read(config.CryptoKey[:]); err != nil {
		t.Fatalf("oidcop: crypto key: %v", err)
	}
	provider, err := op.NewProvider(config, store, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("oidcop: provider: %v", err)
	}

	s := &Server{Issuer: issuer, t: t, store: store, endpoints: Endpoints{
		Authorization: provider.AuthorizationEndpoint().Absolute(issuer),
		Token:         provider.TokenEndpoint().Absolute(issuer),
		Userinfo:      provider.UserinfoEndpoint().Absolute(issuer),
		JWKS:          provider.KeysEndpoint().Absolute(issuer),
	}}
	mux := http.NewServeMux()
	mux.Handle("/", provider)
	mux.Handle(provider.AuthorizationEndpoint().Relative(), s.recordAuthorize(provider))
	mux.Handle(provider.TokenEndpoint().Relative(), s.recordToken(provider))

	var handler http.Handler = mux
	if o.Wrap != nil {
		handler = o.Wrap(mux)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return s
}

// Endpoints are the provider's absolute URLs, for configuring clients that
// do not use discovery (plain OAuth2 providers).
type Endpoints struct {
	Authorization, Token, Userinfo, JWKS string
}

// Endpoints returns the URLs that discovery also announces.
func (s *Server) Endpoints() Endpoints { return s.endpoints }

// SetUser chooses who signs in at the next authorization. The subject must
// be one of Options.Users.
func (s *Server) SetUser(subject string) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if _, ok := s.store.users[subject]; !ok {
		s.t.Fatalf("oidcop: SetUser(%q): no such user", subject)
	}
	s.store.current = subject
}

// Requests returns what the provider has received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// IDToken signs an id_token as the provider would issue it to clientID for
// subject, for tests of sign-in with an id_token obtained natively. aud
// defaults to clientID. Claims of a known subject are all included.
func (s *Server) IDToken(t testing.TB, clientID, subject, nonce string, aud ...string) string {
	t.Helper()
	if len(aud) == 0 {
		aud = []string{clientID}
	}
	now := time.Now()
	claims := oidc.NewIDTokenClaims(s.Issuer, subject, aud, now.Add(time.Hour), now, nonce, "", nil, clientID, 0)
	// The library adds clientID to the audience; a test asking for a foreign audience must get exactly that.
	claims.Audience = aud
	if u, ok := s.store.users[subject]; ok {
		info := new(oidc.UserInfo)
		u.fill(info, nil, true)
		claims.SetUserInfo(info)
	}
	signer, err := op.SignerFromKey(s.store.key)
	if err != nil {
		t.Fatalf("oidcop: signer: %v", err)
	}
	token, err := crypto.Sign(claims, signer)
	if err != nil {
		t.Fatalf("oidcop: sign id_token: %v", err)
	}
	return token
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func (s *Server) recordAuthorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil {
			p := r.Form
			s.record(Request{
				Endpoint:            "authorize",
				Params:              cloneValues(p),
				ClientID:            p.Get("client_id"),
				RedirectURI:         p.Get("redirect_uri"),
				ResponseType:        p.Get("response_type"),
				Scopes:              strings.Fields(p.Get("scope")),
				State:               p.Get("state"),
				Nonce:               p.Get("nonce"),
				CodeChallenge:       p.Get("code_challenge"),
				CodeChallengeMethod: p.Get("code_challenge_method"),
				Prompt:              p.Get("prompt"),
				LoginHint:           p.Get("login_hint"),
			})
		}
		next.ServeHTTP(w, r)
	})
}

// recordToken also strips the id_token from the answers to OAuth2-only
// clients, which the library would otherwise always include.
func (s *Server) recordToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		p := r.PostForm
		clientID := p.Get("client_id")
		if id, _, ok := r.BasicAuth(); ok {
			if unescaped, err := url.QueryUnescape(id); err == nil {
				clientID = unescaped
			}
		}
		params := cloneValues(p)
		params.Del("client_secret")
		s.record(Request{
			Endpoint:     "token",
			Params:       params,
			ClientID:     clientID,
			RedirectURI:  p.Get("redirect_uri"),
			GrantType:    p.Get("grant_type"),
			Code:         p.Get("code"),
			CodeVerifier: p.Get("code_verifier"),
		})
		c, ok := s.store.clients[clientID]
		if !ok || !c.OAuth2Only {
			next.ServeHTTP(w, r)
			return
		}
		buf := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(buf, r)
		body := buf.body.Bytes()
		if buf.status == http.StatusOK {
			if stripped, err := withoutIDToken(body); err == nil {
				body = stripped
			}
		}
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(buf.status)
		_, _ = w.Write(body)
	})
}

func withoutIDToken(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if _, ok := m["id_token"]; !ok {
		return nil, errors.New("no id_token")
	}
	delete(m, "id_token")
	return json.Marshal(m)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// bufferedResponse holds a handler's answer so it can be rewritten.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
