package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
)

// flakyIssuer answers discovery with 503 until up is set. While held,
// requests wait for release; inFlight and most count them.
type flakyIssuer struct {
	*httptest.Server
	up       atomic.Bool
	requests atomic.Int32

	mu            sync.Mutex
	hold          chan struct{} // nil: answer at once
	inFlight, max int
}

func startFlakyIssuer(t *testing.T) *flakyIssuer {
	f := &flakyIssuer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		f.mu.Lock()
		f.inFlight++
		f.max = max(f.max, f.inFlight)
		hold := f.hold
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.inFlight--
			f.mu.Unlock()
		}()
		if hold != nil {
			<-hold
		}
		if !f.up.Load() || r.URL.Path != "/.well-known/openid-configuration" {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.URL, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
			"jwks_uri": f.URL + "/keys",
		})
	}))
	t.Cleanup(f.Close)
	return f
}

func flakySetup(id, issuer string) ProviderSetup {
	return ProviderSetup{
		Config:      config.OIDCProvider{ID: id, Provider: "generic", ClientID: "c", ClientSecret: "s", IssuerURL: issuer},
		RedirectURI: redirect,
	}
}

func readyIDs(s *Providers) []string {
	var ids []string
	for _, p := range s.Ready() {
		ids = append(ids, p.cfg.ID)
	}
	return ids
}

func eventuallyReady(t *testing.T, s *Providers, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Equal(readyIDs(s), want) {
		if time.Now().After(deadline) {
			t.Fatalf("providers %v, want %v", readyIDs(s), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProviderDownAtStartIsOfferedOnceItAnswers(t *testing.T) {
	down, up := startFlakyIssuer(t), startFlakyIssuer(t)
	up.up.Store(true)
	setups := []ProviderSetup{flakySetup("late", down.URL), flakySetup("early", up.URL)}
	s := SetUpProviders(context.Background(), setups, nil, 5*time.Second, time.Millisecond)

	if got := readyIDs(s); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("at start: %v, want only the provider that answered", got)
	}
	if got := s.AuthOrigins(); !slices.Contains(got, down.URL) || !slices.Contains(got, up.URL) {
		t.Errorf("auth origins %v: want the waiting provider's issuer origin too, for the pages' form-action", got)
	}
	// Still down: attempts go on, and it stays out.
	for down.requests.Load() < 3 {
		s.Ready()
		time.Sleep(time.Millisecond)
	}
	if got := readyIDs(s); !slices.Equal(got, []string{"early"}) {
		t.Fatalf("while down: %v", got)
	}
	down.up.Store(true)
	// In its configured place, before the one that answered at start.
	eventuallyReady(t, s, []string{"late", "early"})
	if s.waiting.Load() != 0 {
		t.Errorf("%d providers still waiting", s.waiting.Load())
	}
	asked := down.requests.Load()
	s.Ready()
	time.Sleep(20 * time.Millisecond)
	if n := down.requests.Load(); n != asked {
		t.Errorf("discovery asked %d more times after the provider was set up", n-asked)
	}
}

func TestProviderRetryIsOneAttemptAtATimeAndNeverBlocks(t *testing.T) {
	f := startFlakyIssuer(t)
	s := SetUpProviders(context.Background(), []ProviderSetup{flakySetup("late", f.URL)}, nil, 5*time.Second, time.Millisecond)
	attempts := make(chan struct{}, 100)
	s.mu.Lock()
	s.attempted = func() { attempts <- struct{}{} }
	s.mu.Unlock()

	release := make(chan struct{})
	f.mu.Lock()
	f.hold = release
	f.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // the next attempt is due
	before := f.requests.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := s.Ready(); len(got) != 0 {
				t.Errorf("ready while discovery is held: %d", len(got))
			}
		})
	}
	wg.Wait() // every request answered while the one attempt waits
	deadline := time.Now().Add(10 * time.Second)
	for f.requests.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	f.up.Store(true)
	close(release)
	<-attempts
	f.mu.Lock()
	most := f.max
	f.mu.Unlock()
	if most != 1 {
		t.Errorf("%d discovery requests at once, want 1", most)
	}
	if n := f.requests.Load() - before; n != 1 {
		t.Errorf("50 requests started %d attempts, want 1", n)
	}
	eventuallyReady(t, s, []string{"late"})
}

func TestProviderRetryWaitsForTheInterval(t *testing.T) {
	f := startFlakyIssuer(t)
	s := SetUpProviders(context.Background(), []ProviderSetup{flakySetup("late", f.URL)}, nil, 5*time.Second, time.Hour)
	f.up.Store(true)
	for range 20 {
		s.Ready()
	}
	time.Sleep(20 * time.Millisecond)
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d discovery requests within the interval, want only the one at start", n)
	}
	if got := readyIDs(s); len(got) != 0 {
		t.Errorf("ready before the next attempt: %v", got)
	}
	if s.retryEvery != time.Hour {
		t.Errorf("retry interval %s", s.retryEvery)
	}
	if d := SetUpProviders(context.Background(), nil, nil, time.Second, 0); d.retryEvery != DefaultRetryInterval {
		t.Errorf("default retry interval %s, want %s", d.retryEvery, DefaultRetryInterval)
	}
}

func TestProviderThatCannotBeServedIsNotRetried(t *testing.T) {
	s := SetUpProviders(context.Background(), []ProviderSetup{
		{Config: config.OIDCProvider{ID: "x", Provider: "no-such-preset", ClientID: "c", ClientSecret: "s"}, RedirectURI: redirect},
		{Config: config.OIDCProvider{ID: "y", Provider: "generic", ClientID: "c", ClientSecret: "s"}, RedirectURI: redirect},
	}, nil, time.Second, time.Millisecond)
	if s.waiting.Load() != 0 || len(s.Ready()) != 0 || len(s.AuthOrigins()) != 0 {
		t.Errorf("waiting %d, ready %v, origins %v: want nothing", s.waiting.Load(), s.Ready(), s.AuthOrigins())
	}
}

func TestWaitingProviderOriginPrefersItsAuthURL(t *testing.T) {
	f := startFlakyIssuer(t)
	setup := flakySetup("late", f.URL)
	setup.Config.AuthURL = "https://login.example:8443/authorize?x=1"
	s := SetUpProviders(context.Background(), []ProviderSetup{setup}, nil, time.Second, time.Hour)
	if got := s.AuthOrigins(); !slices.Equal(got, []string{"https://login.example:8443"}) {
		t.Errorf("auth origins %v, want the auth_url's origin", got)
	}
}
