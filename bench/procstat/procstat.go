// Package procstat samples a process from /proc (resident memory, CPU seconds,
// threads) and scrapes one gauge from a Prometheus text /metrics page. It holds
// no state and starts no goroutines; callers sample whenever they want a point.
package procstat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; the
	// kernel reports it as 100 to user space on every Linux architecture.
	clockTicks = 100
	// maxMetricsBytes bounds a scraped /metrics page.
	maxMetricsBytes = 8 << 20
	// scrapeTimeout bounds one /metrics request.
	scrapeTimeout = 5 * time.Second
)

var (
	// ErrNoField reports a /proc file without the expected field.
	ErrNoField = errors.New("procstat: field not found")
	// ErrNoGauge reports a /metrics page without the named metric.
	ErrNoGauge = errors.New("procstat: metric not found")
	// ErrScrapeStatus reports a /metrics answer other than 200.
	ErrScrapeStatus = errors.New("procstat: metrics page answered an error")
)

// Sample is one reading of a process.
type Sample struct {
	At         time.Time `json:"at"`
	RSSBytes   int64     `json:"rss_bytes"`
	CPUSeconds float64   `json:"cpu_seconds"` // utime + stime
	Threads    int       `json:"threads"`
}

// Read samples process pid.
func Read(pid int) (Sample, error) {
	s := Sample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	kb, err := statusField(status, "VmRSS:")
	if err != nil {
		return s, err
	}
	s.RSSBytes = kb * 1024
	th, err := statusField(status, "Threads:")
	if err != nil {
		return s, err
	}
	s.Threads = int(th)
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	s.CPUSeconds, err = cpuSeconds(stat)
	return s, err
}

// statusField returns the first number after name in /proc/PID/status.
func statusField(status []byte, name string) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(name)); ok {
			f := strings.Fields(string(v))
			if len(f) == 0 {
				return 0, ErrNoField
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, ErrNoField
}

// cpuSeconds reads utime+stime (fields 14 and 15) from /proc/PID/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted after the last ')'.
func cpuSeconds(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, ErrNoField
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, ErrNoField
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// ScrapeGauge fetches a Prometheus text page and returns the value of the
// first sample of metric name (any labels), summing nothing.
func ScrapeGauge(ctx context.Context, url, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: %s: %d", ErrScrapeStatus, url, resp.StatusCode)
	}
	return findGauge(io.LimitReader(resp.Body, maxMetricsBytes), name)
}

func findGauge(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			j := strings.LastIndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		return strconv.ParseFloat(f[0], 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, ErrNoGauge
}

// ReadTree samples process pid and every process descending from it, summed:
// resident memory, CPU seconds and threads. A server that forks its workers
// (nginx's master and workers) is measured as deployed this way; a process
// without children reads as Read does. CPU of children that already exited
// and were reaped is in no live process's utime/stime, so a tree whose
// workers come and go during a measurement is under-counted (nginx's stay).
func ReadTree(pid int) (Sample, error) {
	s, err := Read(pid)
	if err != nil {
		return s, err
	}
	kids, err := descendants(pid)
	if err != nil {
		return s, err
	}
	for _, k := range kids {
		ks, err := Read(k)
		if err != nil {
			continue // it exited between the listing and the read
		}
		s.RSSBytes += ks.RSSBytes
		s.CPUSeconds += ks.CPUSeconds
		s.Threads += ks.Threads
	}
	return s, nil
}

// descendants lists the processes below pid (children, their children, ...)
// from the parent field of every /proc/PID/stat.
func descendants(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		if pp, err := parentOf(stat); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 && len(out) < len(ents) { // bounded: a pid appears once in /proc
		p := queue[0]
		queue = queue[1:]
		for _, k := range children[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out, nil
}

// parentOf reads the parent pid (field 4) from /proc/PID/stat.
func parentOf(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, ErrNoField
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 { // f[0] is field 3 (state), f[1] field 4 (ppid)
		return 0, ErrNoField
	}
	return strconv.Atoi(f[1])
}
