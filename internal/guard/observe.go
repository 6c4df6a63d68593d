package guard

// Reasons for a refusal, as ReportRefusals names them.
const (
	ReasonLocked      = "locked"       // the identifier is locked everywhere
	ReasonDelayed     = "delayed"      // this client waits before its next try
	ReasonRateLimited = "rate_limited" // the client's bucket is empty
	ReasonCapped      = "capped"       // the address got its share of messages
)

// scopeMessages is the scope reported for the per-address message cap;
// rate limits report their bucket ("create" or "submit").
const scopeMessages = "messages"

// ReportRefusals has f told every refusal with its scope (login, code,
// second_factor, messages, or the rate limit's bucket) and reason. Call
// it before serving.
func (g *Guard) ReportRefusals(f func(scope, reason string)) {
	if g != nil {
		g.refusals = f
	}
}

func (g *Guard) refused(scope, reason string) {
	if g.refusals != nil {
		g.refusals(scope, reason)
	}
}
