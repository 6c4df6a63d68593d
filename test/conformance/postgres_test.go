package conformance

import (
	"testing"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// newPostgresDatabase creates an empty database for one test's servers
// (see testserver.PostgresDatabase).
func newPostgresDatabase(t *testing.T) string { return testserver.PostgresDatabase(t) }
