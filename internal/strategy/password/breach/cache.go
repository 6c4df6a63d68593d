package breach

import (
	"container/list"
	"sync"
	"time"
)

// rangeCache keeps range answers for a while, so that a burst of sign-ups
// does not ask the API for the same prefix again and again. It holds at
// most max prefixes; when full, the oldest answer goes first (with one
// TTL for all, it is also the first to expire).
type rangeCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	order   *list.List // of *cached, oldest first
	entries map[string]*list.Element
}

type cached struct {
	prefix  string
	answer  rangeAnswer
	expires time.Time
}

func newRangeCache(max int, ttl time.Duration) *rangeCache {
	return &rangeCache{ttl: ttl, max: max, now: time.Now, order: list.New(), entries: map[string]*list.Element{}}
}

func (c *rangeCache) get(prefix string) (rangeAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[prefix]
	if !ok {
		return nil, false
	}
	v := e.Value.(*cached)
	if !c.now().Before(v.expires) {
		c.order.Remove(e)
		delete(c.entries, prefix)
		return nil, false
	}
	return v.answer, true
}

func (c *rangeCache) put(prefix string, answer rangeAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[prefix]; ok {
		c.order.Remove(e)
	}
	c.entries[prefix] = c.order.PushBack(&cached{prefix: prefix, answer: answer, expires: c.now().Add(c.ttl)})
	for c.order.Len() > c.max {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cached).prefix)
	}
}

// len is how many prefixes are cached.
func (c *rangeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
