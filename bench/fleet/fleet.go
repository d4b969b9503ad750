// Package fleet spreads a load over several client processes. One process
// holds at most loadclient.MaxStreamsPerProcess streams (the open-file limit),
// so for more the bench starts child processes of itself ("ssegw-bench
// worker"), drives each over a line protocol (JSON commands on its stdin, one
// JSON reply per line on its stdout) and merges their counters and histograms.
// With one process the same Worker interface wraps an in-process Client.
//
// Ownership: a Fleet and its Workers belong to the goroutine running the
// scenario; each child's pipes are used under that worker's mutex, so Counters
// may also be called from a progress goroutine.
package fleet

import (
	"errors"
	"fmt"
	"os"

	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
)

// ErrWorker reports a child process that failed or answered nonsense.
var ErrWorker = errors.New("fleet: worker failed")

// Worker is one client process (or the in-process client).
type Worker interface {
	Open(group, n int) error
	CloseGroup(group int) error
	Counters() ([loadclient.MaxGroups]loadclient.Counters, error)
	Result() (loadclient.Result, error)
	Close() error
}

// Fleet is a set of workers sharing one load.
type Fleet struct {
	workers []Worker
}

// ProcsFor is the number of processes n streams need.
func ProcsFor(n int) int {
	return max(1, (n+loadclient.MaxStreamsPerProcess-1)/loadclient.MaxStreamsPerProcess)
}

// Start starts procs workers for cfg (procs <= 0: ProcsFor(streams)). With one
// process and spawn nil the client runs in this process; otherwise every
// worker is a child started by spawn. The connect rate is split between them.
func Start(cfg loadclient.Config, streams, procs int, spawn *Spawn) (*Fleet, error) {
	if procs <= 0 {
		procs = ProcsFor(streams)
	}
	if (streams+procs-1)/procs > loadclient.MaxStreamsPerProcess {
		return nil, fmt.Errorf("%w: %d streams over %d processes", loadclient.ErrTooManyStreams, streams, procs)
	}
	f := &Fleet{}
	per := cfg
	per.Rate = cfg.Rate / float64(procs)
	for i := 0; i < procs; i++ {
		c := per
		c.SourceOffset = cfg.SourceOffset + i*(254/procs)
		w, err := startWorker(c, procs, spawn)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.workers = append(f.workers, w)
	}
	return f, nil
}

func startWorker(cfg loadclient.Config, procs int, spawn *Spawn) (Worker, error) {
	if procs == 1 && spawn == nil {
		c, err := loadclient.New(cfg)
		if err != nil {
			return nil, err
		}
		return local{c}, nil
	}
	if spawn == nil {
		spawn = DefaultSpawn()
	}
	return startChild(cfg, spawn)
}

// Procs is the number of workers.
func (f *Fleet) Procs() int { return len(f.workers) }

// Open asks for n more streams of group g, spread evenly over the workers.
func (f *Fleet) Open(g, n int) error {
	per, extra := n/len(f.workers), n%len(f.workers)
	for i, w := range f.workers {
		k := per
		if i < extra {
			k++
		}
		if k == 0 {
			continue
		}
		if err := w.Open(g, k); err != nil {
			return err
		}
	}
	return nil
}

// CloseGroup closes every stream of group g in every worker.
func (f *Fleet) CloseGroup(g int) error {
	for _, w := range f.workers {
		if err := w.CloseGroup(g); err != nil {
			return err
		}
	}
	return nil
}

// Counters sums the live counters of every worker, per group.
func (f *Fleet) Counters() ([loadclient.MaxGroups]loadclient.Counters, error) {
	var out [loadclient.MaxGroups]loadclient.Counters
	for _, w := range f.workers {
		c, err := w.Counters()
		if err != nil {
			return out, err
		}
		for g := range out {
			out[g].Add(c[g])
		}
	}
	return out, nil
}

// Result merges every worker's result.
func (f *Fleet) Result() (loadclient.Result, error) {
	var parts []loadclient.Result
	for _, w := range f.workers {
		r, err := w.Result()
		if err != nil {
			return loadclient.Result{}, err
		}
		parts = append(parts, r)
	}
	return loadclient.Merge(parts...)
}

// Close stops every worker (closing their streams) and returns the first
// error. Result still answers afterwards, with the final figures.
func (f *Fleet) Close() error {
	var first error
	for _, w := range f.workers {
		if err := w.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// selfCPU is this process's CPU time so far (0 if /proc cannot tell).
func selfCPU() float64 {
	s, err := procstat.Read(os.Getpid())
	if err != nil {
		return 0
	}
	return s.CPUSeconds
}

// local wraps the in-process client.
type local struct{ c *loadclient.Client }

func (l local) Open(g, n int) error    { return l.c.Open(g, n) }
func (l local) CloseGroup(g int) error { return l.c.CloseGroup(g) }
func (l local) Counters() ([loadclient.MaxGroups]loadclient.Counters, error) {
	var out [loadclient.MaxGroups]loadclient.Counters
	for g := range out {
		out[g] = l.c.Counters(g)
	}
	return out, nil
}
func (l local) Result() (loadclient.Result, error) {
	r, err := l.c.Result()
	r.CPUSeconds = selfCPU()
	return r, err
}
func (l local) Close() error { l.c.Close(); return nil }
