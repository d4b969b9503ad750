package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"ssegw/bench/backend"
	"ssegw/bench/procstat"
	"ssegw/bench/stats"
)

// maxStatsReply bounds a /stats answer read.
const maxStatsReply = 1 << 20

// latencyAcc is a histogram of durations owned by one goroutine at a time
// (callers hold their own lock).
type latencyAcc struct{ h *stats.Histogram }

func newLatencyAcc() *latencyAcc { return &latencyAcc{stats.New()} }

func (l *latencyAcc) record(d time.Duration) { l.h.Record(int64(d)) }

func (l *latencyAcc) latency() Latency { return toLatency(l.h.Snapshot()) }

// scrapeMetric reads one sample (gauge or counter, labels included in name)
// from a Prometheus page.
func scrapeMetric(ctx context.Context, url, name string) (float64, error) {
	return procstat.ScrapeGauge(ctx, url, name)
}

// BackendStats reads the bench backend's GET /stats.
func BackendStats(ctx context.Context, base string) (backend.Stats, error) {
	var st backend.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("scenario: GET %s/stats: status %d", base, resp.StatusCode)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, maxStatsReply)).Decode(&st)
	return st, err
}

// mergeGroups merges histogram snapshots into one latency summary.
func mergeGroups(ss ...stats.Snapshot) (Latency, error) {
	acc := stats.New()
	for _, s := range ss {
		h, err := stats.FromSnapshot(s)
		if err != nil {
			return Latency{}, err
		}
		acc.Merge(h)
	}
	return toLatency(acc.Snapshot()), nil
}
