package tokenexchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

var ctx = context.Background()

var codeRE = regexp.MustCompile(`^[A-Za-z0-9]{64}$`)

func TestNewInitCode(t *testing.T) {
	seen := map[string]bool{}
	for k := 0; k < 500; k++ {
		code, digest := NewInitCode()
		if !codeRE.MatchString(code) {
			t.Fatalf("code %q is not 64 alphanumerics", code)
		}
		if digest != Digest(code) || !isDigest(digest) {
			t.Fatalf("digest %q of %q", digest, code)
		}
		if seen[code] {
			t.Fatalf("code %q repeated", code)
		}
		seen[code] = true
	}
	// The SHA-256 of "abc", so the digest stays what flows already keep.
	if got := Digest("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Digest(abc) = %s", got)
	}
}

func TestPlausibleCode(t *testing.T) {
	for v, want := range map[string]bool{
		strings.Repeat("aZ9", 20):  true,
		strings.Repeat("a", 128):   true,
		strings.Repeat("a", 129):   false,
		"abc-def":                  false,
		"abc def":                  false,
		"abc\x00":                  false,
		"ünïcode":                  false,
		strings.Repeat("%", 10):    false,
		"ory_st_abcdefghijklmnopq": false,
	} {
		if got := plausibleCode(v); got != want {
			t.Errorf("plausibleCode(%q) = %v; want %v", v, got, want)
		}
	}
}

type fixture struct {
	db       *store.Store
	ids      *identity.Manager
	sessions *session.Manager
	x        *Exchanges
	mux      *http.ServeMux
}

func newCipher(t *testing.T, secret string) cipher.Cipher {
	t.Helper()
	c, err := cipher.New(cipher.XChaCha20Poly1305, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFixture(t *testing.T, db *store.Store) *fixture {
	t.Helper()
	ids, _ := identitytest.NewManager(t, db, "https://auth.example.com/")
	sessions, err := session.NewManager(db, ids, session.Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, ids: ids, sessions: sessions, mux: http.NewServeMux()}
	f.x = New(db, newCipher(t, "0123456789abcdef0123456789abcdef"), sessions, 0)
	f.x.Register(f.mux)
	return f
}

// pair is a completed exchange as the app sees it.
type pair struct {
	initCode, returnToCode string
	session                *session.Session
}

// complete signs a new identity in and completes a flow with it, in one
// transaction, as the OIDC callback does.
func (f *fixture) complete(t *testing.T) pair {
	t.Helper()
	i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + strings.ToLower(newCode()[:12]) + `@example.org"}`)})
	if err != nil {
		t.Fatal(err)
	}
	code, digest := NewInitCode()
	p := pair{initCode: code}
	err = f.db.Write(ctx, func(q *store.Q) error {
		s, err := f.sessions.Issue(ctx, q, i, "oidc", session.AAL1, nil)
		if err != nil {
			return err
		}
		p.session = s
		p.returnToCode, err = f.x.Complete(ctx, q, digest, s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !codeRE.MatchString(p.returnToCode) {
		t.Fatalf("return_to code %q is not 64 alphanumerics", p.returnToCode)
	}
	return p
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (f *fixture) get(t *testing.T, rawQuery string) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/sessions/token-exchange?"+rawQuery, nil)
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	a := answer{status: w.Code, raw: w.Body.String()}
	if err := json.Unmarshal(w.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %q", w.Code, a.raw)
	}
	return a
}

func (f *fixture) exchange(t *testing.T, initCode, returnToCode string) answer {
	t.Helper()
	return f.get(t, url.Values{"init_code": {initCode}, "return_to_code": {returnToCode}}.Encode())
}

// wantError checks Kratos's error shape and status.
func wantError(t *testing.T, a answer, status int, reason string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d; want %d: %s", a.status, status, a.raw)
	}
	e, _ := a.body["error"].(map[string]any)
	if e == nil || e["code"] != float64(status) || e["status"] != http.StatusText(status) || e["message"] == "" {
		t.Fatalf("not the error shape: %s", a.raw)
	}
	if reason != "" && e["reason"] != reason {
		t.Errorf("reason %v; want %q", e["reason"], reason)
	}
}

const noSession = "no session yet for this code"

func wantSuccess(t *testing.T, a answer, p pair) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d; want 200: %s", a.status, a.raw)
	}
	if a.body["session_token"] != p.session.Token {
		t.Errorf("session_token %v; want the session's token", a.body["session_token"])
	}
	s, _ := a.body["session"].(map[string]any)
	if s == nil || s["id"] != p.session.ID.String() || s["active"] != true {
		t.Fatalf("session %v", a.body["session"])
	}
	if i, _ := s["identity"].(map[string]any); i == nil || i["id"] != p.session.IdentityID.String() {
		t.Errorf("session identity %v", s["identity"])
	}
}

func countRows(t *testing.T, db *store.Store) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRow(ctx, `SELECT count(*) FROM session_token_exchanges`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExchangeOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		other := f.complete(t)

		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
		wantError(t, f.exchange(t, p.initCode, p.returnToCode), http.StatusNotFound, noSession)
		if n := countRows(t, db); n != 1 {
			t.Errorf("%d rows left; want only the other pair", n)
		}
		// The token handed over is a working session token.
		if s, err := f.sessions.ByToken(ctx, p.session.Token); err != nil || s.ID != p.session.ID {
			t.Errorf("ByToken after the exchange: %v, %v", s, err)
		}
		// Codes of different pairs do not combine.
		wantError(t, f.exchange(t, other.initCode, p.returnToCode), http.StatusNotFound, noSession)
		wantSuccess(t, f.exchange(t, other.initCode, other.returnToCode), other)
	})
}

func TestExchangeWrongReturnToCode(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		for _, wrong := range []string{newCode(), p.returnToCode[:63], p.returnToCode + "a", p.initCode, strings.ToUpper(p.returnToCode)} {
			if wrong == p.returnToCode {
				continue
			}
			wantError(t, f.exchange(t, p.initCode, wrong), http.StatusNotFound, noSession)
		}
		// Swapped codes do not match either.
		wantError(t, f.exchange(t, p.returnToCode, p.initCode), http.StatusNotFound, noSession)
		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
	})
}

func TestExchangeUnknownOrIncomplete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		// A flow that has an init code but has not completed: no row yet.
		code, _ := NewInitCode()
		wantError(t, f.exchange(t, code, newCode()), http.StatusNotFound, noSession)
	})
}

func TestExchangeExpired(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		f.x.lifespan = 10 * time.Minute
		p := f.complete(t)
		start := store.Now() // not before the pair was completed
		for _, after := range []time.Duration{10 * time.Minute, 11 * time.Minute, 48 * time.Hour} {
			f.x.now = func() time.Time { return start.Add(after) }
			wantError(t, f.exchange(t, p.initCode, p.returnToCode), http.StatusNotFound, noSession)
		}
		// Refusing it spent nothing: within the lifespan it still works.
		f.x.now = func() time.Time { return start.Add(9 * time.Minute) }
		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
	})
}

func TestExchangeDefaultLifespan(t *testing.T) {
	if x := New(nil, nil, nil, 0); x.lifespan != time.Hour {
		t.Errorf("lifespan %v; want 1h", x.lifespan)
	}
	if x := New(nil, nil, nil, 5*time.Minute); x.lifespan != 5*time.Minute {
		t.Errorf("lifespan %v; want 5m", x.lifespan)
	}
}

func TestExchangeMissingParameter(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		for _, q := range []string{
			"",
			"init_code=" + p.initCode,
			"return_to_code=" + p.returnToCode,
			"init_code=&return_to_code=" + p.returnToCode,
			"init_code=" + p.initCode + "&return_to_code=",
			"init=" + p.initCode + "&return=" + p.returnToCode,
		} {
			wantError(t, f.get(t, q), http.StatusBadRequest, "")
		}
		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
	})
}

func TestExchangeMalformedParameter(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		long := strings.Repeat("a", 100_000)
		for _, c := range [][2]string{
			{p.initCode + "-", p.returnToCode},
			{p.initCode, p.returnToCode + " "},
			{long, p.returnToCode},
			{p.initCode, long},
			{"' OR 1=1 --", p.returnToCode},
			{p.initCode, "%"},
			{"ünïcode", p.returnToCode},
		} {
			wantError(t, f.exchange(t, c[0], c[1]), http.StatusNotFound, noSession)
		}
		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
	})
}

func TestExchangeMethod(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		r := httptest.NewRequest(http.MethodPost, "/sessions/token-exchange?init_code="+p.initCode+"&return_to_code="+p.returnToCode, nil)
		w := httptest.NewRecorder()
		f.mux.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: status %d", w.Code)
		}
		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
	})
}

func TestExchangeEndedSession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		revoked := f.complete(t)
		if err := db.Write(ctx, func(q *store.Q) error { return f.sessions.Revoke(ctx, q, revoked.session.ID) }); err != nil {
			t.Fatal(err)
		}
		wantError(t, f.exchange(t, revoked.initCode, revoked.returnToCode), http.StatusNotFound, noSession)

		// An identity that was deactivated after signing in gets nothing either.
		inactive := f.complete(t)
		if err := db.Write(ctx, func(q *store.Q) error {
			_, err := q.Exec(ctx, `UPDATE identities SET state = $1, updated_at = $2 WHERE id = $3`, identity.StateInactive, store.Now(), inactive.session.IdentityID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		wantError(t, f.exchange(t, inactive.initCode, inactive.returnToCode), http.StatusNotFound, noSession)

		// A session deleted with its identity takes its pair along.
		gone := f.complete(t)
		if err := f.ids.Delete(ctx, gone.session.IdentityID); err != nil {
			t.Fatal(err)
		}
		wantError(t, f.exchange(t, gone.initCode, gone.returnToCode), http.StatusNotFound, noSession)
		if n := countRows(t, db); n != 0 {
			t.Errorf("%d rows left; want none", n)
		}
	})
}

func TestExchangeConcurrent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		const rounds, racers = 3, 12
		for round := 0; round < rounds; round++ {
			p := f.complete(t)
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				statuses = map[int]int{}
				start    = make(chan struct{})
			)
			for k := 0; k < racers; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r := httptest.NewRequest(http.MethodGet, "/sessions/token-exchange?init_code="+p.initCode+"&return_to_code="+p.returnToCode, nil)
					w := httptest.NewRecorder()
					f.mux.ServeHTTP(w, r)
					mu.Lock()
					statuses[w.Code]++
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			if statuses[http.StatusOK] != 1 || statuses[http.StatusNotFound] != racers-1 {
				t.Fatalf("round %d: statuses %v; want one 200 and %d 404", round, statuses, racers-1)
			}
		}
	})
}

// The table holds digests of the codes and the sealed token: a copy of the
// database redeems nothing.
func TestStoredRowKeepsNoSecret(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		rows, err := db.Read().Query(ctx, `SELECT * FROM session_token_exchanges`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
			values := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for k := range values {
				ptrs[k] = &values[k]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for k, v := range values {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&all, "%s=%v\n", cols[k], v)
			}
			stored := all.String()
			for name, secret := range map[string]string{
				"session token": p.session.Token, "init code": p.initCode, "return_to code": p.returnToCode,
				"token without prefix": strings.TrimPrefix(p.session.Token, "ory_st_"),
			} {
				if strings.Contains(stored, secret) {
					t.Errorf("the row holds the %s in the clear:\n%s", name, stored)
				}
			}
			for _, digest := range []string{Digest(p.initCode), Digest(p.returnToCode)} {
				if !strings.Contains(stored, digest) {
					t.Errorf("the row lacks the digest %s:\n%s", digest, stored)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d rows; want 1", n)
		}
		var sealed string
		if err := db.Read().QueryRow(ctx, `SELECT session_token FROM session_token_exchanges`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if plain, err := f.x.cipher.Decrypt(sealed); err != nil || string(plain) != p.session.Token {
			t.Errorf("the sealed token does not open to the session token: %v", err)
		}
	})
}

// A server whose secrets.cipher lost the key answers 500 and keeps the pair,
// which works again once the key is back.
func TestExchangeUndecryptableKeepsPair(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		right := f.x.cipher
		f.x.cipher = newCipher(t, "ffffffffffffffffffffffffffffffff")
		a := f.exchange(t, p.initCode, p.returnToCode)
		wantError(t, a, http.StatusInternalServerError, "")
		if strings.Contains(a.raw, p.session.Token) {
			t.Error("the answer carries the token")
		}
		f.x.cipher = right
		wantSuccess(t, f.exchange(t, p.initCode, p.returnToCode), p)
	})
}

func TestCompleteRefusesBadInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		f := newFixture(t, db)
		p := f.complete(t)
		_, digest := NewInitCode()
		noToken := *p.session
		noToken.Token = ""
		for name, c := range map[string]struct {
			digest string
			s      *session.Session
		}{
			"empty digest":     {"", p.session},
			"upper-case hex":   {strings.ToUpper(digest), p.session},
			"the code itself":  {newCode(), p.session},
			"no session":       {digest, nil},
			"no session token": {digest, &noToken},
		} {
			err := db.Write(ctx, func(q *store.Q) error {
				_, err := f.x.Complete(ctx, q, c.digest, c.s)
				return err
			})
			if err == nil {
				t.Errorf("%s: Complete succeeded", name)
			}
		}
		if n := countRows(t, db); n != 1 {
			t.Errorf("%d rows; want only the first pair", n)
		}
	})
}
