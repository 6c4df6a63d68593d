package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"
)

// whoami-many and login-many spread their requests over a whole population
// of sessions or users, one picked at random per request, so that a run
// with a million of them reads a million rows' worth of index and not one
// hot row.

func runWhoamiMany(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("whoami-many", errOut)
	var c common
	c.register(fs, 16, 0, 10*time.Second)
	public := fs.String("public", "", "public API base URL, e.g. http://127.0.0.1:4433 (loopback only)")
	seed := fs.String("tokens-seed", "", "the seed seed-sessions wrote the tokens with (default: $LANYARD_TOKENS_SEED); never printed")
	tokens := fs.Int("tokens-n", 0, "how many sessions seed-sessions wrote: each request uses one of 0..N-1 at random")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, err := parseTarget("public", *public)
	if err != nil {
		return nil, err
	}
	if *seed == "" {
		*seed = os.Getenv("LANYARD_TOKENS_SEED")
	}
	if *seed == "" {
		return nil, fmt.Errorf("%w: -tokens-seed (or $LANYARD_TOKENS_SEED) is required", errUsage)
	}
	if *tokens < 1 {
		return nil, fmt.Errorf("%w: -tokens-n must be at least 1", errUsage)
	}

	target := base.String() + "/sessions/whoami"
	hc := newClient(c.workers, c.timeout)
	defer hc.CloseIdleConnections()
	whoami := func(ctx context.Context, st *opStats, i int) error {
		a, err := sendWhoami(ctx, hc, target, seededToken(*seed, i))
		return check(st, "GET /sessions/whoami", a, err, http.StatusOK)
	}

	res := &result{Scenario: "whoami-many", Target: target, Workers: c.workers, Unit: "requests"}
	res.notes = append(res.notes, fmt.Sprintf("a random one of %d seeded session tokens per request", *tokens))
	// The first and the last token: a wrong seed or a short seeding is one
	// clear message.
	for _, i := range []int{0, *tokens - 1} {
		if err := whoami(ctx, newOpStats(), i); err != nil {
			return res, preflightError(fmt.Errorf("token %d: %w", i, err))
		}
	}
	op := func(ctx context.Context, rec *recorder, _ int) error {
		return whoami(ctx, rec.op("whoami"), rand.IntN(*tokens))
	}
	return res, c.measure(ctx, res, op, "whoami", nil)
}

// identifierOf fills the %d of format with i.
func identifierOf(format string, i int) string { return fmt.Sprintf(format, i) }

func validIdentifierFormat(format string) bool {
	return strings.Count(format, "%") == 1 && strings.Count(format, "%d") == 1
}

func runLoginMany(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("login-many", errOut)
	var c common
	c.register(fs, 4, 0, 10*time.Second)
	public := fs.String("public", "", "public API base URL, e.g. http://127.0.0.1:4433 (loopback only)")
	format := fs.String("identifier-format", "user%d@example.org", "login identifiers: %d is 0..N-1")
	users := fs.Int("users", 0, "how many users there are: each login picks one of 0..N-1 at random")
	password := fs.String("password", "", "the password all of them share (default: $LANYARD_LOGIN_PASSWORD); never printed")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, err := parseTarget("public", *public)
	if err != nil {
		return nil, err
	}
	if *password == "" {
		*password = os.Getenv("LANYARD_LOGIN_PASSWORD")
	}
	switch {
	case *password == "":
		return nil, fmt.Errorf("%w: -password (or $LANYARD_LOGIN_PASSWORD) is required", errUsage)
	case *users < 1:
		return nil, fmt.Errorf("%w: -users must be at least 1", errUsage)
	case !validIdentifierFormat(*format):
		return nil, fmt.Errorf("%w: -identifier-format must hold exactly one %%d and no other verb", errUsage)
	}

	hc := newClient(c.workers, c.timeout)
	defer hc.CloseIdleConnections()
	login := func(ctx context.Context, rec *recorder, user int) error {
		creds := map[string]any{"method": "password", "identifier": identifierOf(*format, user), "password": *password}
		return nativeLogin(ctx, hc, rec, base.String(), creds)
	}

	res := &result{Scenario: "login-many", Target: base.String() + "/self-service/login", Workers: c.workers, Unit: "logins"}
	res.notes = append(res.notes, fmt.Sprintf("a random one of %d users per login (%s)", *users, *format))
	for _, i := range []int{0, *users - 1} {
		if err := login(ctx, newRecorder(), i); err != nil {
			return res, preflightError(fmt.Errorf("user %d: %w", i, err))
		}
	}
	op := func(ctx context.Context, rec *recorder, _ int) error { return login(ctx, rec, rand.IntN(*users)) }
	return res, c.measure(ctx, res, op, "login", []string{"create flow", "submit"})
}
