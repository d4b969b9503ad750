//go:build race

package cluster_test

// raceEnabled: the race detector slows loopback I/O ~3x, so the scale test
// shrinks under -race; `make test` also runs it at full size without it.
const raceEnabled = true
