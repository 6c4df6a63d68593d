package conformance

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
)

// raceCreates sends one create per server in servers (round robin) from n
// goroutines released at once, and returns the status codes seen.
func raceCreates(t *testing.T, servers []*Server, n int, body func(i int) any) map[int]int {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var failures []string
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := servers[i%len(servers)]
			<-start
			status, detail := s.post(s.AdminURL+"/admin/identities", body(i))
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status != http.StatusCreated && status != http.StatusConflict {
				failures = append(failures, fmt.Sprintf("%d %s", status, detail))
			}
		}(i)
	}
	close(start)
	wg.Wait()
	sort.Strings(failures)
	for _, f := range failures {
		t.Errorf("unexpected answer: %s", f)
	}
	return statuses
}

// post is a goroutine-safe raw POST: it reports instead of failing.
func (s *Server) post(u string, body any) (int, string) {
	var payload string
	switch b := body.(type) {
	case string:
		payload = b
	default:
		payload = asJSON(b)
	}
	res, err := s.HTTP.Post(u, "application/json", strings.NewReader(payload))
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, string(data)
}

func TestCreateIdentity_ConcurrentSameEmailCreatesExactlyOne(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		statuses := raceCreates(t, []*Server{s}, 20, func(i int) any {
			email := "race@example.org"
			if i%2 == 1 {
				email = "RACE@Example.org" // the same identifier once lower-cased
			}
			return withPassword(identityBody(email), testPassword)
		})
		if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != 19 {
			t.Errorf("statuses %v, want exactly one 201 and nineteen 409", statuses)
		}
		s.requireCount(t, 1, "after the race")
		ids, res, err := s.Admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier("race@example.org").Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(ids) != 1 {
			t.Errorf("credentials_identifier=race@example.org matches %d identities, want 1", len(ids))
		}
	})
}

func TestCreateIdentity_ParallelDistinctEmailsAllSucceed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		statuses := raceCreates(t, []*Server{s}, 50, func(i int) any {
			return withPassword(identityBody(fmt.Sprintf("parallel-%02d@example.org", i)), testPassword)
		})
		if statuses[http.StatusCreated] != 50 {
			t.Errorf("statuses %v, want fifty 201 (no \"database is locked\" or other failures)", statuses)
		}
		s.requireCount(t, 50, "after parallel creates")
	})
}

func TestPostgres_TwoServersOnOneDatabaseCreateOneIdentity(t *testing.T) {
	t.Parallel()
	dsn := newPostgresDatabase(t)
	a := startServer(t, serverSpec{store: storePostgres, dsn: dsn})
	b := startServer(t, serverSpec{store: storePostgres, dsn: dsn})

	statuses := raceCreates(t, []*Server{a, b}, 20, func(i int) any {
		return withPassword(identityBody("shared@example.org"), testPassword)
	})
	if statuses[http.StatusCreated] != 1 || statuses[http.StatusConflict] != 19 {
		t.Errorf("statuses %v, want exactly one 201 and nineteen 409 across both servers", statuses)
	}
	// Both servers see the same single identity: no state lives in a process.
	listA, listB := a.listAllIdentities(t), b.listAllIdentities(t)
	if len(listA) != 1 || len(listB) != 1 || listA[0].Id != listB[0].Id {
		t.Fatalf("server A sees %s, server B sees %s, want the same single identity", asJSON(listA), asJSON(listB))
	}
	created := b.createIdentity(t, identityBody("from-b@example.org"))
	if got := a.getIdentity(t, created.Id); got.Id != created.Id {
		t.Errorf("server A cannot read what server B wrote: %s", asJSON(got))
	}
}
