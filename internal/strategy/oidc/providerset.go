package oidc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
)

// DefaultRetryInterval is the least time between two attempts at setting
// up the providers that were down.
const DefaultRetryInterval = 30 * time.Second

// ProviderSetup is what a provider is set up from.
type ProviderSetup struct {
	Config config.OIDCProvider
	// RedirectURI is the callback registered with the provider.
	RedirectURI string
}

// Providers are the configured providers, in the order they are shown.
// One whose discovery failed (its provider was down or unreachable) is
// left out until a later attempt sets it up: when a request asks for the
// providers and the last attempt is at least the retry interval old, one
// attempt starts in the background, never more than one at a time, and
// the request goes on with the providers set up so far. A configuration
// Lanyard cannot serve is not retried.
type Providers struct {
	hc         *http.Client
	timeout    time.Duration
	retryEvery time.Duration

	// ready is what requests read: the providers set up, in order.
	ready atomic.Pointer[[]*Provider]
	// waiting counts the slots still to set up, so that requests skip
	// the lock once every provider is there.
	waiting atomic.Int32

	mu       sync.Mutex
	slots    []providerSlot
	next     time.Time // no attempt before this
	retrying bool
	// attempted, when set, is called after each background attempt (tests).
	attempted func()
}

type providerSlot struct {
	setup    ProviderSetup
	provider *Provider // nil until set up
	retry    bool      // set-up failed and is worth another attempt
}

// SetUpProviders sets up every provider within ctx. hc makes every
// request to the providers and timeout bounds each later attempt at one;
// retryEvery (0: DefaultRetryInterval) spaces the attempts at those whose
// discovery failed.
func SetUpProviders(ctx context.Context, setups []ProviderSetup, hc *http.Client, timeout, retryEvery time.Duration) *Providers {
	if retryEvery <= 0 {
		retryEvery = DefaultRetryInterval
	}
	s := &Providers{hc: hc, timeout: timeout, retryEvery: retryEvery, slots: make([]providerSlot, len(setups))}
	for i, setup := range setups {
		s.slots[i].setup = setup
		p, err := NewProvider(ctx, setup.Config, setup.RedirectURI, hc)
		switch {
		case err == nil:
			s.slots[i].provider = p
		case errors.As(err, new(discoveryError)):
			s.slots[i].retry = true
			s.waiting.Add(1)
			slog.Error("selfservice.methods.oidc: a provider could not be set up and is not offered until it can be; retrying", "provider", setup.Config.ID, "every", retryEvery.String(), "error", err)
		default:
			slog.Error("selfservice.methods.oidc: a provider cannot be used and is not offered", "provider", setup.Config.ID, "error", err)
		}
	}
	s.publish()
	s.next = time.Now().Add(retryEvery)
	return s
}

// Ready answers the providers set up so far, in order, and starts an
// attempt at the others when one is due. It never waits for a provider.
func (s *Providers) Ready() []*Provider {
	if s.waiting.Load() > 0 {
		s.retryIfDue()
	}
	return *s.ready.Load()
}

// AuthOrigins are the origins of the providers' sign-in pages; for one
// not set up yet, the origin its configuration suggests (auth_url, else
// the issuer), where the sign-in page almost always is.
func (s *Providers) AuthOrigins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sl := range s.slots {
		if sl.provider != nil {
			if o := sl.provider.AuthOrigin(); o != "" {
				out = append(out, o)
			}
			continue
		}
		if !sl.retry {
			continue
		}
		guess := sl.setup.Config.AuthURL
		if guess == "" {
			guess = issuerURL(sl.setup.Config, presets[sl.setup.Config.Provider])
		}
		if u, err := url.Parse(guess); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	return out
}

func (s *Providers) retryIfDue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retrying || time.Now().Before(s.next) {
		return
	}
	s.retrying = true
	go s.retry()
}

// retry makes one attempt at each provider still waiting, one after the
// other.
func (s *Providers) retry() {
	type waiting struct {
		slot  int
		setup ProviderSetup
	}
	s.mu.Lock()
	var todo []waiting
	for i, sl := range s.slots {
		if sl.provider == nil && sl.retry {
			todo = append(todo, waiting{i, sl.setup})
		}
	}
	s.mu.Unlock()

	for _, w := range todo {
		i, setup := w.slot, w.setup
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		p, err := NewProvider(ctx, setup.Config, setup.RedirectURI, s.hc)
		cancel()
		s.mu.Lock()
		switch {
		case err == nil:
			s.slots[i].provider, s.slots[i].retry = p, false
			s.waiting.Add(-1)
			s.publish()
			slog.Info("selfservice.methods.oidc: a provider that could not be set up before is now offered", "provider", setup.Config.ID)
		case errors.As(err, new(discoveryError)):
			slog.Warn("selfservice.methods.oidc: a provider still cannot be set up; retrying", "provider", setup.Config.ID, "every", s.retryEvery.String(), "error", err)
		default:
			s.slots[i].retry = false
			s.waiting.Add(-1)
			slog.Error("selfservice.methods.oidc: a provider cannot be used and is not offered", "provider", setup.Config.ID, "error", err)
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	// Counted from the end of the attempt, so that slow providers never
	// make attempts follow each other back to back.
	s.next = time.Now().Add(s.retryEvery)
	s.retrying = false
	done := s.attempted
	s.mu.Unlock()
	if done != nil {
		done()
	}
}

// publish stores the providers set up, in order, for Ready; s.mu is
// held or s not yet shared.
func (s *Providers) publish() {
	ready := make([]*Provider, 0, len(s.slots))
	for _, sl := range s.slots {
		if sl.provider != nil {
			ready = append(ready, sl.provider)
		}
	}
	s.ready.Store(&ready)
}
