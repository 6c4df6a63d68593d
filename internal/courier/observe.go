package courier

import "context"

// Results of one delivery attempt, as ReportResults names them.
const (
	ResultSent      = "sent"
	ResultFailed    = "failed" // retried later
	ResultAbandoned = "abandoned"
)

// ReportResults has f told the result of every delivery attempt this
// process makes. Call it before Run.
func (c *Courier) ReportResults(f func(result string)) { c.results = f }

func (c *Courier) report(status string, sendErr error) {
	if c.results == nil {
		return
	}
	switch {
	case sendErr == nil:
		c.results(ResultSent)
	case status == StatusAbandoned:
		c.results(ResultAbandoned)
	default:
		c.results(ResultFailed)
	}
}

// CountByStatus answers how many messages the database holds in each
// status, in one query, for the queue depth gauge.
func (c *Courier) CountByStatus(ctx context.Context) (map[string]int, error) {
	rows, err := c.store.Read().Query(ctx, `SELECT status, COUNT(*) FROM courier_messages GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		counts[status] = n
	}
	return counts, rows.Err()
}
