package loop

import (
	"time"

	"ssegw/wheel"
)

// rng is the loop's allocation-free randomness for jitter and retry hints
// (wheel.Rand, with the two shapes the loop needs). One per loop, loop
// goroutine only; not for secrets (tokens come from crypto/rand).
type rng struct{ wheel.Rand }

// between returns a uniform value in [lo, hi].
func (r *rng) between(lo, hi uint64) uint64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Below(hi-lo+1)
}

// upTo returns a uniform duration in [0, d].
func (r *rng) upTo(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(r.Below(uint64(d) + 1))
}
