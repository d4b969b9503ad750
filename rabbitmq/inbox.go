package rabbitmq

import "sync"

// inbox is a multi-producer queue drained by one goroutine: put appends under
// a mutex and never blocks (safe on an event loop), wake has a value whenever
// items may be waiting. It has no bound of its own; every user's contract
// bounds it (per stream: an Open, a Close, a setup result; per delivery: one
// settle), as the package doc lists.
type inbox[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{}
}

func (q *inbox[T]) init() { q.wake = make(chan struct{}, 1) }

// put adds v; after close it drops v and reports false.
func (q *inbox[T]) put(v T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns what is queued and keeps spare (emptied) for the next puts,
// so two slices alternate and a steady flow allocates nothing.
func (q *inbox[T]) take(spare []T) []T {
	clear(spare)
	q.mu.Lock()
	out := q.items
	q.items = spare[:0]
	q.mu.Unlock()
	return out
}

// close drops what is queued and every later put.
func (q *inbox[T]) close() { q.closeTake() }

// closeTake closes the inbox and returns what was still queued.
func (q *inbox[T]) closeTake() []T {
	q.mu.Lock()
	out := q.items
	q.closed, q.items = true, nil
	q.mu.Unlock()
	return out
}
