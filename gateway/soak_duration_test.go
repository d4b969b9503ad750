//go:build !stress

package gateway_test

import "time"

// soakDuration is how long TestScaleFaultSoak churns: 60 s in `make test`'s
// scale pass, 15 s under -race (the -tags stress build soaks longer).
var soakDuration = map[bool]time.Duration{false: 60 * time.Second, true: 15 * time.Second}[raceEnabled]
