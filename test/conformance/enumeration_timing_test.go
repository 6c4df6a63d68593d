package conformance

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"testing"
	"time"
)

// The timing tests ask for a message to a known and to an unknown address
// in interleaved pairs and compare how long the answers took. Interleaving
// cancels drift (other tests share the machine): both members of a pair
// see the same load. Each pair yields the log of the ratio of its two
// durations; under "the same work" the median of these is 0. A sign-test
// confidence interval for that median needs no assumption about the
// distribution, and noise only widens it, so a loaded machine makes the
// test less sensitive instead of failing it. The test fails when the
// interval lies wholly beyond a 20% difference either way: the defect it
// guards against was a difference of about 50% (4.5 ms against 2.9 ms).

const (
	// timingPairs is how many pairs are measured after timingWarmup.
	timingPairs  = 500
	timingWarmup = 20
	// timingTolerance is the ratio of medians the test tolerates.
	timingTolerance = 1.2
	// timingZ is the normal quantile of the interval (99.9%, two-sided).
	timingZ = 3.29
)

// TestEnumerationTiming_RecoveryAndVerification: asking to recover or
// verify an address takes as long whether or not an account uses it, with
// notify_unknown_recipients off and on, by code and by link.
func TestEnumerationTiming_RecoveryAndVerification(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		method string
		notify bool
	}{
		{"code", "code", false},
		{"link_notify", "link", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, store string) {
				s := verificationServer(t, store, nil, map[string]any{
					"selfservice.flows.recovery.enabled":                         true,
					"selfservice.flows.recovery.ui_url":                          recUI,
					"selfservice.flows.settings.ui_url":                          stSettingsUI,
					"selfservice.flows.recovery.use":                             c.method,
					"selfservice.flows.verification.use":                         c.method,
					"selfservice.flows.recovery.notify_unknown_recipients":       c.notify,
					"selfservice.flows.verification.notify_unknown_recipients":   c.notify,
					"selfservice.methods.password.config.haveibeenpwned_enabled": false,
					// Over a thousand requests from one address, each really queueing.
					"protection.rate_limits.enabled":              false,
					"protection.courier.max_messages_per_address": 100000,
				})
				known := uniqueEmail("timing-known")
				body := withPassword(identityBody(known), testPassword)
				body.MetadataAdmin = map[string]any{"note": "timing"}
				s.createIdentity(t, body)
				unknown := uniqueEmail("timing-unknown")
				for _, kind := range []string{"recovery", "verification"} {
					k, u := timeAddressRequests(t, s, kind, c.method, known, unknown)
					requireSameTiming(t, store+" "+kind+" by "+c.method, k, u)
				}
			})
		})
	}
}

// timeAddressRequests measures timingPairs interleaved submissions of the
// known and the unknown address, each to a fresh native flow of kind, and
// answers the durations in pair order.
func timeAddressRequests(t *testing.T, s *Server, kind, method, known, unknown string) (k, u []time.Duration) {
	t.Helper()
	submit := func(address string) time.Duration {
		f := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+kind+"/api", nil, jsonAccept)
		var created struct {
			ID string `json:"id"`
		}
		if f.status != http.StatusOK || json.Unmarshal(f.body, &created) != nil || created.ID == "" {
			t.Fatalf("creating a %s flow: %d %s", kind, f.status, f.body)
		}
		start := time.Now()
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL(kind, created.ID), map[string]any{"method": method, "email": address}, nil)
		took := time.Since(start)
		if res.status != http.StatusOK {
			t.Fatalf("asking for a %s message to %s: %d %s", kind, address, res.status, res.body)
		}
		return took
	}
	for i := range timingWarmup + timingPairs {
		var a, b time.Duration
		// Alternate which goes first: a request after another may find
		// warmer caches.
		if i%2 == 0 {
			a = submit(known)
			b = submit(unknown)
		} else {
			b = submit(unknown)
			a = submit(known)
		}
		if i >= timingWarmup {
			k, u = append(k, a), append(u, b)
		}
	}
	return k, u
}

// requireSameTiming fails when the paired durations show, with 99.9%
// confidence, that one kind of address is answered more than
// timingTolerance times slower than the other.
func requireSameTiming(t *testing.T, what string, known, unknown []time.Duration) {
	t.Helper()
	lo, mid, hi := medianRatioInterval(known, unknown)
	t.Logf("%s: median known %v, unknown %v; median paired ratio %.3f (99.9%% interval %.3f..%.3f) over %d pairs",
		what, median(known), median(unknown), mid, lo, hi, len(known))
	if lo > timingTolerance || hi < 1/timingTolerance {
		t.Errorf("%s: a known address is answered in %v and an unknown one in %v (medians); the paired ratio is %.3f, "+
			"with 99.9%% confidence between %.3f and %.3f: the timing tells which addresses exist",
			what, median(known), median(unknown), mid, lo, hi)
	}
}

// medianRatioInterval answers the median of the pairs' ratios a[i]/b[i]
// with a distribution-free (sign test) confidence interval at timingZ.
func medianRatioInterval(a, b []time.Duration) (lo, mid, hi float64) {
	logs := make([]float64, len(a))
	for i := range a {
		logs[i] = math.Log(float64(max(a[i], 1)) / float64(max(b[i], 1)))
	}
	sort.Float64s(logs)
	n := len(logs)
	// The number of pairs below the true median is Binomial(n, 1/2); its
	// normal approximation gives the ranks that bound the interval.
	k := int(math.Floor(float64(n)/2 - timingZ*math.Sqrt(float64(n))/2))
	k = min(max(k, 0), n/2)
	return math.Exp(logs[k]), math.Exp(medianOf(logs)), math.Exp(logs[n-1-k])
}

func medianOf(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func TestMedianRatioInterval(t *testing.T) {
	var a, b []time.Duration
	for i := range 200 {
		jitter := time.Duration(i%17) * 100 * time.Microsecond
		a = append(a, 3*time.Millisecond+jitter)
		b = append(b, 2*time.Millisecond+jitter)
	}
	lo, mid, hi := medianRatioInterval(a, b)
	if !(lo > timingTolerance && mid > lo && hi >= mid) {
		t.Errorf("a 1.5x slower side: interval %.3f..%.3f (median %.3f) should lie beyond %.1f", lo, hi, mid, timingTolerance)
	}
	lo, _, hi = medianRatioInterval(b, b)
	if lo > 1 || hi < 1 {
		t.Errorf("identical sides: interval %.3f..%.3f should hold 1", lo, hi)
	}
}
