package identity

import (
	"sync"

	"github.com/google/uuid"
)

// versionCacheSize bounds the cache: about 2 KiB an identity.
const versionCacheSize = 50_000

// versionCache keeps recently read identities; entries are checked
// against the database's updated_at before use, so they are never stale.
type versionCache struct {
	mu sync.RWMutex
	m  map[uuid.UUID]*Identity
}

func (c *versionCache) get(id uuid.UUID) *Identity {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id]
}

func (c *versionCache) put(i *Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[uuid.UUID]*Identity)
	}
	if len(c.m) >= versionCacheSize {
		// Evict an arbitrary tenth; map order is random enough.
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= versionCacheSize/10 {
				break
			}
		}
	}
	c.m[i.ID] = i
}
