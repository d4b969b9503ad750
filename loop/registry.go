package loop

import "sync"

// registryShards spreads lock contention between loops registering streams and
// control handlers looking them up; 64 is what Centrifuge's hub uses.
const registryShards = 64

// registry maps tokens to connections. It is the one structure every goroutine
// touches: loops add and remove, control handlers look up.
type registry struct {
	shards [registryShards]registryShard
}

type registryShard struct {
	mu sync.RWMutex
	m  map[token]*conn
}

func newRegistry() *registry {
	r := &registry{}
	for i := range r.shards {
		r.shards[i].m = make(map[token]*conn)
	}
	return r
}

func (r *registry) shard(t token) *registryShard { return &r.shards[t[0]%registryShards] }

func (r *registry) add(t token, cs *conn) {
	s := r.shard(t)
	s.mu.Lock()
	s.m[t] = cs
	s.mu.Unlock()
}

func (r *registry) remove(t token) {
	s := r.shard(t)
	s.mu.Lock()
	delete(s.m, t)
	s.mu.Unlock()
}

func (r *registry) lookup(t token) *conn {
	s := r.shard(t)
	s.mu.RLock()
	cs := s.m[t]
	s.mu.RUnlock()
	return cs
}

// Len counts registered tokens (for tests and metrics).
func (r *registry) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
