package deploy_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// promqlKeywords are the identifiers in PromQL that are not metric names
// even when no "(" follows them (operators, and aggregations, which may be
// followed by "by (...)"); those followed by a label list in parentheses are
// in promqlLabelLists.
var (
	promqlKeywords = map[string]bool{"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true,
		"inf": true, "nan": true, "sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
		"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true}
	promqlLabelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

// metricNames returns the metric names a PromQL expression selects, in order
// of first use: identifiers that are not functions (followed by "("),
// keywords, label lists (by, on, ...), label matchers ({...}), durations
// ([...]), strings, numbers or Grafana variables ($name).
func metricNames(expr string) []string {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(expr, i)
		case c == '{':
			i = skipTo(expr, i, '}')
		case c == '[':
			i = skipTo(expr, i, ']')
		case c == '$':
			i++
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '{' || expr[i] == '}') {
				i++
			}
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && strings.IndexByte(" \t\n", expr[k]) >= 0 {
				k++
			}
			switch {
			case promqlLabelLists[word]:
				if k < len(expr) && expr[k] == '(' {
					j = skipTo(expr, k, ')')
				}
			case promqlKeywords[strings.ToLower(word)]:
			case k < len(expr) && expr[k] == '(':
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.' || expr[i] == '+' || expr[i] == '-') && !(expr[i] == '-' && i > 0 && expr[i-1] != 'e') {
				i++
			}
		default:
			i++
		}
	}
	return names
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

func skipString(s string, i int) int {
	q := s[i]
	for i++; i < len(s); i++ {
		if s[i] == '\\' && q != '`' {
			i++
		} else if s[i] == q {
			return i + 1
		}
	}
	return i
}

func skipTo(s string, i int, end byte) int {
	for i++; i < len(s); i++ {
		switch {
		case s[i] == '"' || s[i] == '\'' || s[i] == '`':
			i = skipString(s, i) - 1
		case s[i] == end:
			return i + 1
		}
	}
	return i
}

func TestMetricNamesFromPromQL(t *testing.T) {
	f := func(expr string, want ...string) {
		t.Helper()
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
	f(`up{job="ssegw"} == 0`, "up")
	f(`ssegw_streams_open / ssegw_max_connections > 0.9`, "ssegw_streams_open", "ssegw_max_connections")
	f(`histogram_quantile(0.99, sum by (instance, le) (rate(ssegw_loop_step_lag_seconds_bucket[5m]))) > 0.1`,
		"ssegw_loop_step_lag_seconds_bucket")
	f(`sum(rate(x_total{a="by (b)", c=~"$instance"}[$__rate_interval])) by (le) / on (instance) group_left (d) y`, "x_total", "y")
	f(`sum by (instance) (increase(ssegw_disconnect_retries_total{outcome=~"given_up|dropped"}[15m])) > 0`, "ssegw_disconnect_retries_total")
	f(`rate(a[5m]) + rate(b[5m]) > 1e3 and bool c offset 5m`, "a", "b", "c")
	f(`sum by (cause) (rate(s_total[1m])) + min without (x) (g) + max(h) by (le)`, "s_total", "g", "h")
	f("sum by (instance, action) (rate(m_count{outcome=~\"x|y\"}[5m]))\n  / sum by (instance, action) (rate(m_count[5m])) > 0.05", "m_count")
	f(`process_resident_memory_bytes{job="ssegw",instance=~"$instance"} / ssegw_streams_open{instance=~"${instance}"}`,
		"process_resident_memory_bytes", "ssegw_streams_open")
}

// alertExprs reads the expr of every rule in alerts.yml (a one-line value
// or a "|" block), and checks it found one per alert.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	lines := strings.Split(string(readFile(t, "prometheus/alerts.yml")), "\n")
	out := map[string]string{}
	alert := ""
	for i := 0; i < len(lines); i++ {
		s := strings.TrimSpace(lines[i])
		if name, ok := strings.CutPrefix(s, "- alert: "); ok {
			alert = name
			continue
		}
		v, ok := strings.CutPrefix(s, "expr: ")
		if !ok {
			continue
		}
		if v == "|" {
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var block []string
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent) {
				i++
				block = append(block, strings.TrimSpace(lines[i]))
			}
			v = strings.TrimSpace(strings.Join(block, "\n"))
		}
		if alert == "" || out[alert] != "" {
			t.Fatalf("alerts.yml: expr %q outside an alert or twice in one", v)
		}
		out[alert] = v
	}
	if n := strings.Count(string(readFile(t, "prometheus/alerts.yml")), "- alert: "); len(out) != n || n == 0 {
		t.Fatalf("found %d exprs for %d alerts", len(out), n)
	}
	return out
}

// dashboardExprs reads every query of the Grafana dashboard, by panel title.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr, RefID string }
		}
		Templating struct {
			List []struct {
				Name  string
				Query any
			}
		}
	}
	if err := json.Unmarshal(readFile(t, "grafana/ssegw.json"), &d); err != nil {
		t.Fatalf("grafana/ssegw.json: %v", err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out[p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			s, _ := q["query"].(string)
			if inner, ok := strings.CutPrefix(s, "label_values("); ok {
				metric, _, _ := strings.Cut(inner, ",")
				out["variable "+v.Name] = strings.TrimSpace(metric)
			}
		}
	}
	return out
}

// prometheusMade are series Prometheus makes itself for each target.
var prometheusMade = map[string]bool{"up": true}

// notYetOnMetrics names metrics the shipped rules and dashboard use that the
// gateway does not expose yet, each with what brings it. The lead empties it
// when the change that adds the metric is merged.
var notYetOnMetrics = map[string]string{}

// TestDashboardAndAlertsUseLiveMetrics: every metric name the alerts and the
// dashboard's queries select is on a live gateway's /metrics (alone or in
// cluster mode), so a renamed metric cannot silently empty a panel or
// disarm an alert.
func TestDashboardAndAlertsUseLiveMetrics(t *testing.T) {
	live := map[string]bool{}
	for _, g := range liveGateways(t) {
		for _, line := range strings.Split(string(g.Metrics(t)), "\n") {
			if line == "" || line[0] == '#' {
				continue
			}
			name, _, _ := strings.Cut(line, " ")
			name, _, _ = strings.Cut(name, "{")
			live[name] = true
		}
	}
	check := func(where map[string]string, file string) {
		for what, expr := range where {
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("%s, %s: no metric in %q", file, what, expr)
			}
			for _, n := range names {
				if !live[n] && !prometheusMade[n] && notYetOnMetrics[n] == "" {
					t.Errorf("%s, %s: %s is not on a live gateway's /metrics (query %q)", file, what, n, expr)
				}
			}
		}
	}
	check(alertExprs(t), "prometheus/alerts.yml")
	check(dashboardExprs(t), "grafana/ssegw.json")
	for n, why := range notYetOnMetrics {
		if live[n] {
			t.Errorf("%s is on /metrics now: remove it from notYetOnMetrics (%s)", n, why)
		}
	}
}
