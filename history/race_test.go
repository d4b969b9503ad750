//go:build race

package history

// raceEnabled shortens the long randomized runs under the race detector,
// which slows them tenfold and adds nothing to a single-goroutine structure.
const raceEnabled = true
