package demo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Stats are the gateway's live numbers the page shows.
type Stats struct {
	Streams      int64   `json:"streams"`      // ssegw_streams_open
	EventsPerSec float64 `json:"events_per_s"` // growth of ssegw_events_written_total since the last reading
	Channels     int64   `json:"channels"`     // ssegw_channels
	Events       int64   `json:"events"`       // ssegw_events_written_total
	Publishes    int64   `json:"publishes"`    // ssegw_publishes_total
}

// reading is one look at the counters a rate is computed from.
type reading struct {
	at     time.Time
	events float64
}

// statsMetrics are the /metrics samples the demo reads.
var statsMetrics = []string{"ssegw_streams_open", "ssegw_events_written_total", "ssegw_channels", "ssegw_publishes_total"}

// ErrNoMetric reports a /metrics page without one of statsMetrics.
var ErrNoMetric = errors.New("demo: metric missing from /metrics")

// stats reads the gateway's /metrics and computes the numbers; events per
// second is the growth since the previous call.
func (b *Backend) stats(now time.Time) (Stats, error) {
	page, err := b.control(http.MethodGet, "/metrics", nil)
	if err != nil {
		return Stats{}, err
	}
	v, err := samples(page, statsMetrics)
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Streams: int64(v[0]), Events: int64(v[1]), Channels: int64(v[2]), Publishes: int64(v[3])}
	b.mu.Lock()
	prev := b.last
	b.last = reading{at: now, events: v[1]}
	b.mu.Unlock()
	if d := now.Sub(prev.at).Seconds(); !prev.at.IsZero() && d > 0 && v[1] >= prev.events {
		s.EventsPerSec = math.Round((v[1]-prev.events)/d*10) / 10
	}
	return s, nil
}

// samples finds the unlabelled samples names on a Prometheus text page.
func samples(page []byte, names []string) ([]float64, error) {
	out := make([]float64, len(names))
	found := make([]bool, len(names))
	sc := bufio.NewScanner(bytes.NewReader(page))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		for i, n := range names {
			if rest, ok := bytes.CutPrefix(line, []byte(n+" ")); ok {
				f, err := strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
				if err != nil {
					return nil, err
				}
				out[i], found[i] = f, true
			}
		}
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoMetric, names[i])
		}
	}
	return out, sc.Err()
}
