package deploy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ssegw/internal/testkit"
)

// TestAlertRulesCheck: promtool reads the rules without a complaint, and
// the unit tests in alerts_test.yml (series in, alerts out) pass.
func TestAlertRulesCheck(t *testing.T) {
	out, code := tool(t, nil, "promtool", "check", "rules", "prometheus/alerts.yml")
	if code != 0 || !regexp.MustCompile(`SUCCESS: \d+ rules found`).MatchString(out) || strings.Contains(out, "WARNING") {
		t.Errorf("promtool check rules (exit %d):\n%s", code, out)
	}
	out, code = tool(t, nil, "promtool", "test", "rules", "prometheus/alerts_test.yml")
	if code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules (exit %d):\n%s", code, out)
	}
	out, code = tool(t, nil, "promtool", "check", "config", "prometheus/prometheus.yml")
	if code != 0 || strings.Contains(out, "FAILED") {
		t.Errorf("promtool check config (exit %d):\n%s", code, out)
	}
}

// Timing of the Prometheus run: scrapes every second, so two scrapes fall
// in a few seconds and rate() over a 30 s window has them.
const (
	scrapeEvery   = "1s"
	rateWindow    = "30s"
	promReadyWait = 30 * time.Second
	promQueryWait = 30 * time.Second
)

// prometheus is Debian's Prometheus, started by the test.
type prometheus struct {
	*testkit.Proc
	addr string
}

// startPrometheus runs Prometheus with the shipped prometheus.yml (scrape
// and evaluation every second, the gateway's control port as the target)
// and alerts.yml beside it, on a free port with its own data directory.
func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	conf := string(readFile(t, "prometheus/prometheus.yml"))
	conf = replaceOnce(t, conf, "scrape_interval: 15s", "scrape_interval: "+scrapeEvery)
	conf = replaceOnce(t, conf, "evaluation_interval: 15s", "evaluation_interval: "+scrapeEvery)
	conf = replaceOnce(t, conf, "- 127.0.0.1:3001", "- "+target)
	for name, data := range map[string][]byte{"prometheus.yml": []byte(conf), "alerts.yml": readFile(t, "prometheus/alerts.yml")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := testkit.FreeAddr(t)
	p := testkit.StartProc(t, "prometheus", nil, "/usr/bin/prometheus",
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	pr := &prometheus{Proc: p, addr: addr}
	testkit.WaitFor(t, "Prometheus to be ready", promReadyWait, func() bool {
		code, _ := testkit.Get(addr + "/-/ready")
		return code == 200
	})
	return pr
}

// apiResult is the part of a Prometheus API answer the test reads.
type apiResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
		Groups []struct {
			Rules []struct {
				Name, Query, Health, LastError string
			} `json:"rules"`
		} `json:"groups"`
	} `json:"data"`
}

func (p *prometheus) api(t *testing.T, path string) apiResult {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var r apiResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("prometheus %s: %d %s", path, resp.StatusCode, body)
	}
	return r
}

func (p *prometheus) query(t *testing.T, q string) apiResult {
	t.Helper()
	return p.api(t, "/api/v1/query?query="+url.QueryEscape(q))
}

// scalar is the value of a one-sample vector answer (NaN otherwise).
func (r apiResult) scalar() float64 {
	if r.Status != "success" || len(r.Data.Result) != 1 {
		return math.NaN()
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// TestPrometheusScrapesGateway: Debian's Prometheus, run with the shipped
// configuration and rules, scrapes a live gateway whose backend answers
// connects in 12-20 ms, and answers histogram_quantile(0.99, ...) over the
// callback latency with the number the gateway's own le buckets give; every
// alert rule evaluates without error, and every dashboard query is valid
// PromQL with an answer.
func TestPrometheusScrapesGateway(t *testing.T) {
	b := startBackend(t, 12*time.Millisecond, 20*time.Millisecond)
	g := testkit.StartChild(t, map[string]string{"CALLBACK_URL": b.url()})
	p := startPrometheus(t, g.Control)
	testkit.WaitFor(t, "the gateway to be up in Prometheus", promQueryWait, func() bool {
		return p.query(t, `up{job="ssegw"}`).scalar() == 1
	})
	const streams = 40
	for range streams {
		openStream(t, g.Public)
	}
	// Once Prometheus has scraped every connect, its p99 over a window that
	// reaches back before the first one is the p99 of the gateway's own
	// buckets, by the same interpolation.
	sel := `ssegw_callback_duration_seconds_bucket{job="ssegw",action="connect",outcome="accepted"}`
	testkit.WaitFor(t, "Prometheus to scrape every connect", promQueryWait, func() bool {
		return p.query(t, `sum(`+strings.Replace(sel, "_bucket{", "_count{", 1)+`)`).scalar() == streams
	})
	q := `histogram_quantile(0.99, sum by (le) (rate(` + sel + `[5m])))`
	p99 := p.query(t, q).scalar()
	want := quantileOfPage(t, 0.99, g.Metrics(t), `ssegw_callback_duration_seconds_bucket{action="connect",outcome="accepted",`)
	t.Logf("%s = %.4f s; the gateway's buckets give %.4f s", q, p99, want)
	// Every connect took at least 12 ms, so the p99 lies above the 10 ms bound.
	if math.IsNaN(p99) || math.Abs(p99-want) > 1e-9*want || p99 <= 0.010 {
		t.Errorf("%s = %v s, want %v s (from the gateway's own buckets), above 0.010", q, p99, want)
	}

	var unhealthy []string
	testkit.WaitFor(t, "every alert rule evaluated", promQueryWait, func() bool {
		unhealthy = unhealthy[:0]
		n := 0
		for _, gr := range p.api(t, "/api/v1/rules").Data.Groups {
			for _, r := range gr.Rules {
				n++
				if r.Health != "ok" {
					unhealthy = append(unhealthy, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
			}
		}
		return n == len(alertExprs(t)) && len(unhealthy) == 0
	})

	vars := strings.NewReplacer("$__rate_interval", rateWindow, "${instance}", ".*", "$instance", ".*")
	for what, expr := range dashboardExprs(t) {
		if strings.HasPrefix(what, "variable ") {
			continue
		}
		r := p.query(t, vars.Replace(expr))
		if r.Status != "success" || len(r.Data.Result) == 0 {
			t.Errorf("dashboard %s: %q: %s %s, %d series", what, expr, r.Status, r.Error, len(r.Data.Result))
		}
	}
}

// quantileOfPage computes a quantile from the le buckets of one histogram
// series on a /metrics page (prefix: the bucket sample up to its le label),
// as Prometheus' histogram_quantile does: find the bucket holding the rank,
// interpolate linearly inside it, and answer the highest finite bound when
// the rank falls in +Inf.
func quantileOfPage(t *testing.T, q float64, page []byte, prefix string) float64 {
	t.Helper()
	type bucket struct{ le, count float64 }
	var bs []bucket
	for _, line := range strings.Split(string(page), "\n") {
		rest, ok := strings.CutPrefix(line, prefix+`le="`)
		if !ok {
			continue
		}
		le, val, _ := strings.Cut(rest, `"} `)
		ub, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(val, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bucket line %q", line)
		}
		bs = append(bs, bucket{ub, n})
	}
	if len(bs) < 2 || !math.IsInf(bs[len(bs)-1].le, 1) {
		t.Fatalf("no histogram %s on the page", prefix)
	}
	rank := q * bs[len(bs)-1].count
	for i, b := range bs {
		if b.count < rank {
			continue
		}
		if math.IsInf(b.le, 1) {
			return bs[i-1].le
		}
		start, below := 0.0, 0.0
		if i > 0 {
			start, below = bs[i-1].le, bs[i-1].count
		}
		return start + (b.le-start)*(rank-below)/(b.count-below)
	}
	return math.NaN()
}
