//go:build stress

package gateway_test

import "time"

// soakDuration under the stress tag: ten minutes of faults (`make test-stress`).
var soakDuration = 10 * time.Minute
