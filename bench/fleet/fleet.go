// Package fleet spreads a load over several client processes. One process
// holds at most loadclient.MaxStreamsPerProcess streams (the open-file limit),
// so for more the bench starts child processes of itself ("ssegw-bench
// worker"), drives each over a line protocol (JSON commands on its stdin, one
// JSON reply per line on its stdout) and merges their counters and histograms.
// With one process the same Worker interface wraps an in-process Client.
//
// A fleet may also hold one dedicated worker (StartWith): a child process
// that holds one group alone, on its own source address, so streams of that
// group are timed by a process that is not busy reading the others' traffic
// (the fanout scenario's late streams).
//
// Ownership: a Fleet and its Workers belong to the goroutine running the
// scenario; each child's pipes are used under that worker's mutex, so Counters
// may also be called from a progress goroutine. The set of workers is fixed
// once StartWith returns.
package fleet

import (
	"errors"
	"fmt"
	"os"

	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
)

var (
	// ErrWorker reports a child process that failed or answered nonsense.
	ErrWorker = errors.New("fleet: worker failed")
	// ErrBadGroup reports a dedicated group outside 0..MaxGroups-1.
	ErrBadGroup = errors.New("fleet: bad dedicated group")
	// ErrNoWorker reports a worker index the fleet does not have.
	ErrNoWorker = errors.New("fleet: no such worker")
)

// noDedicated marks a fleet without a dedicated worker.
const noDedicated = -1

// Worker is one client process (or the in-process client).
type Worker interface {
	Open(group, n int) error
	CloseGroup(group int) error
	Counters() ([loadclient.MaxGroups]loadclient.Counters, error)
	Result() (loadclient.Result, error)
	Close() error
	PID() int
}

// Fleet is a set of workers sharing one load, plus at most one dedicated
// worker (the last of workers) that holds group dedGroup alone.
type Fleet struct {
	workers  []Worker
	shared   int // workers[:shared] share every group but dedGroup
	dedGroup int // noDedicated, or the group workers[shared] holds alone
}

// Dedicated asks StartWith for one more worker that holds Group alone:
// Open(Group, n) goes to it only, Open of any other group never reaches it.
// It is always a child process (started by the fleet's spawn, or this
// executable), with Config as its client configuration (see SplitSources).
type Dedicated struct {
	Group  int
	Config loadclient.Config
}

// ProcsFor is the number of processes n streams need.
func ProcsFor(n int) int {
	return max(1, (n+loadclient.MaxStreamsPerProcess-1)/loadclient.MaxStreamsPerProcess)
}

// Start starts procs workers for cfg (procs <= 0: ProcsFor(streams)). With one
// process and spawn nil the client runs in this process; otherwise every
// worker is a child started by spawn. The connect rate is split between them.
func Start(cfg loadclient.Config, streams, procs int, spawn *Spawn) (*Fleet, error) {
	return StartWith(cfg, streams, procs, spawn, nil)
}

// StartWith is Start plus, when ded is not nil, one dedicated child worker
// for ded.Group (not counted in procs; streams counts the shared workers'
// streams only).
func StartWith(cfg loadclient.Config, streams, procs int, spawn *Spawn, ded *Dedicated) (*Fleet, error) {
	if procs <= 0 {
		procs = ProcsFor(streams)
	}
	if (streams+procs-1)/procs > loadclient.MaxStreamsPerProcess {
		return nil, fmt.Errorf("%w: %d streams over %d processes", loadclient.ErrTooManyStreams, streams, procs)
	}
	if ded != nil && (ded.Group < 0 || ded.Group >= loadclient.MaxGroups) {
		return nil, ErrBadGroup
	}
	f := &Fleet{shared: procs, dedGroup: noDedicated}
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
	if ded != nil {
		if err := f.startDedicated(ded, spawn); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// startDedicated adds the dedicated child worker.
func (f *Fleet) startDedicated(ded *Dedicated, spawn *Spawn) error {
	if spawn == nil {
		spawn = DefaultSpawn()
	}
	w, err := startChild(ded.Config, spawn)
	if err != nil {
		return err
	}
	f.workers = append(f.workers, w)
	f.dedGroup = ded.Group
	return nil
}

// SplitSources gives the last address of cfg's source range (after
// defaults) to a dedicated worker and the rest to the shared workers, so the
// two never share a source address. A range of one address is shared by both.
func SplitSources(cfg loadclient.Config) (shared, dedicated loadclient.Config, err error) {
	if cfg, err = cfg.Validate(); err != nil {
		return cfg, cfg, err
	}
	shared, dedicated = cfg, cfg
	dedicated.SourceFirst, dedicated.SourceOffset = cfg.SourceLast, 0
	if cfg.SourceFirst.Less(cfg.SourceLast) {
		shared.SourceLast = cfg.SourceLast.Prev()
	}
	return shared, dedicated, nil
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

// Procs is the number of shared workers (a dedicated one not counted).
func (f *Fleet) Procs() int { return f.shared }

// DedicatedWorker is the index of the dedicated worker (for WorkerPID and
// WorkerCounters), or -1 without one.
func (f *Fleet) DedicatedWorker() int {
	if f.dedGroup == noDedicated {
		return -1
	}
	return f.shared
}

// WorkerPID is worker i's process id (this process for the in-process client).
func (f *Fleet) WorkerPID(i int) (int, error) {
	if i < 0 || i >= len(f.workers) {
		return 0, ErrNoWorker
	}
	return f.workers[i].PID(), nil
}

// WorkerCounters is worker i's live counters, per group.
func (f *Fleet) WorkerCounters(i int) ([loadclient.MaxGroups]loadclient.Counters, error) {
	if i < 0 || i >= len(f.workers) {
		return [loadclient.MaxGroups]loadclient.Counters{}, ErrNoWorker
	}
	return f.workers[i].Counters()
}

// Open asks for n more streams of group g: all on the dedicated worker if g
// is its group, else spread evenly over the shared workers.
func (f *Fleet) Open(g, n int) error {
	if g == f.dedGroup {
		if n == 0 {
			return nil
		}
		return f.workers[f.shared].Open(g, n)
	}
	shared := f.workers[:f.shared]
	per, extra := n/len(shared), n%len(shared)
	for i, w := range shared {
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
func (l local) PID() int     { return os.Getpid() }
