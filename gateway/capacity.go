package gateway

import "ssegw/config"

// CapacityFor is the capacity a process with the given open-file limit
// derives at start (what RaiseFDLimit returns once the limit is raised): the
// numbers deploy/systemd's LimitNOFILE is chosen by.
func CapacityFor(limit uint64, cfg *config.Config) Capacity { return deriveCapacity(limit, cfg) }
