package wheel

import (
	"math/bits"
	"time"
)

// splitmixGamma is the golden-ratio increment of splitmix64 (Steele, Lea and
// Flood, "Fast splittable pseudorandom number generators", 2014).
const splitmixGamma = 0x9e3779b97f4a7c15

// Rand is a tiny allocation-free splitmix64 generator for spreading timers. It
// is not safe for concurrent use (keep one per event loop, like the Wheel) and
// not cryptographic. The zero value is usable; NewRand seeds it.
type Rand struct{ state uint64 }

// NewRand returns a generator seeded with seed.
func NewRand(seed uint64) Rand { return Rand{state: seed} }

// Uint64 returns the next pseudo-random value.
func (r *Rand) Uint64() uint64 {
	r.state += splitmixGamma
	z := r.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Below returns a uniform value in [0, n) (Lemire's multiply-shift; the bias
// is below n/2^64), or 0 if n is 0.
func (r *Rand) Below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.Uint64(), n)
	return hi
}

// Jitter returns d plus a uniform random offset in [0, spread); spread <= 0
// returns d. It never shortens d, so it is safe for deadlines; for a heartbeat
// that must come at least every interval use Jitter(interval-spread, spread).
// Arming the first of many periodic timers at now+Jitter(0, interval) and
// re-arming each at due+interval spreads them evenly over the interval for good.
func (r *Rand) Jitter(d, spread time.Duration) time.Duration {
	if spread <= 0 {
		return d
	}
	return d + time.Duration(r.Below(uint64(spread)))
}
