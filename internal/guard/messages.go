package guard

import (
	"context"
	"strings"

	"github.com/lanyard-id/lanyard/internal/store"
)

var messageSQL = strings.NewReplacer(
	":now", "CAST($2 AS BIGINT)",
	":window", "CAST($3 AS BIGINT)",
)

// messageCount counts one message for an address in the current window;
// a window starts with the first message after the previous one ended.
var messageCount = messageSQL.Replace(`
INSERT INTO guard_messages AS m (address_hash, messages, window_start)
VALUES ($1, 1, :now)
ON CONFLICT (address_hash) DO UPDATE SET
    messages = CASE WHEN m.window_start + :window > :now THEN m.messages + 1 ELSE 1 END,
    window_start = CASE WHEN m.window_start + :window > :now THEN m.window_start ELSE :now END
RETURNING messages`)

// AllowMessage counts one recovery, verification or login-code message for
// address (normalised here) and answers false once the address got
// protection.courier.max_messages_per_address in the current window. Call
// it in the transaction that queues the message, and skip queueing when it
// answers false, saying nothing: the answer to the request must stay the
// same for known and unknown addresses.
func (g *Guard) AllowMessage(ctx context.Context, q *store.Q, address string) (bool, error) {
	if !g.on() {
		return true, nil
	}
	a := normalize(address)
	if a == "" {
		return true, nil
	}
	var n int
	if err := q.QueryRow(ctx, messageCount, g.hash(a), g.now().UnixMicro(), micros(g.cfg.Courier.Window)).Scan(&n); err != nil {
		return false, err
	}
	if n > g.cfg.Courier.MaxPerAddress {
		g.refused(scopeMessages, ReasonCapped)
		return false, nil
	}
	return true, nil
}
