//go:build race

package rabbitmq

// raceEnabled: the race detector's instrumentation makes frames larger, so
// stack-size bounds hold only without it (`make test`'s scale pass runs
// TestScale* without it).
const raceEnabled = true
