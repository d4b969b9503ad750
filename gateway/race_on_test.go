//go:build race

package gateway_test

// raceEnabled: the race detector slows loopback I/O ~3x, so scale tests shrink
// under -race; `make test` also runs them at full size without it.
const raceEnabled = true
