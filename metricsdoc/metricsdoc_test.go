package metricsdoc_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"ssegw/metricsdoc"
)

var _ = metricsdoc.Describe(
	metricsdoc.Counter("mdtest_widgets_total", `Widgets made, by kind; a back\slash.`),
	metricsdoc.Counter("mdtest_computed_total", "A counter the library writes as a callback gauge."),
	metricsdoc.Histogram("mdtest_latency_seconds", "Latency."),
	metricsdoc.Omit("mdtest_noise_count", "named against the conventions"),
)

func exposeSet(t *testing.T, s *metrics.Set) string {
	t.Helper()
	var b bytes.Buffer
	if err := metricsdoc.Expose(&b, s.WritePrometheus); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestExposeFillsHelpAndType(t *testing.T) {
	s := metrics.NewSet()
	s.NewCounter(`mdtest_widgets_total{kind="a"}`).Add(3)
	s.NewCounter(`mdtest_widgets_total{kind="b"}`).Inc()
	s.NewGauge(`mdtest_computed_total`, func() float64 { return 7 })
	s.NewPrometheusHistogramExt(`mdtest_latency_seconds`, []float64{.1, 1}).Update(.5)
	s.NewCounter(`mdtest_noise_count`).Inc()
	s.NewGauge(`mdtest_undescribed`, func() float64 { return 1 })
	got := exposeSet(t, s)
	for _, want := range []string{
		"# HELP mdtest_widgets_total Widgets made, by kind; a back\\\\slash.\n# TYPE mdtest_widgets_total counter\nmdtest_widgets_total{kind=\"a\"} 3\nmdtest_widgets_total{kind=\"b\"} 1\n",
		"# TYPE mdtest_computed_total counter\nmdtest_computed_total 7\n",
		"# HELP mdtest_latency_seconds Latency.\n# TYPE mdtest_latency_seconds histogram\nmdtest_latency_seconds_bucket{le=\"0.1\"} 0\nmdtest_latency_seconds_bucket{le=\"1\"} 1\n",
		"# HELP mdtest_undescribed\n# TYPE mdtest_undescribed gauge\nmdtest_undescribed 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("exposition lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if strings.Contains(got, "mdtest_noise") {
		t.Errorf("an omitted family was written:\n%s", got)
	}
	if p := metricsdoc.Check([]byte(got)); !slices.Equal(p, []string{
		"mdtest_undescribed: no help text (describe it with metricsdoc.Describe in the package that makes it)"}) {
		t.Errorf("Check: %q", p)
	}
}

func TestCheckNamesWhatIsMissing(t *testing.T) {
	f := func(page string, want ...string) {
		t.Helper()
		got := metricsdoc.Check([]byte(page))
		if len(got) != len(want) {
			t.Fatalf("Check(%q) = %q, want %d problems", page, got, len(want))
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]+":") {
				t.Fatalf("Check(%q)[%d] = %q, want %s", page, i, got[i], want[i])
			}
		}
	}
	f("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n")
	f("a_total 1\n", "a_total")
	f("# TYPE a_total counter\na_total 1\n", "a_total")
	f("# HELP a_total \n# TYPE a_total counter\na_total{x=\"1\"} 1\n", "a_total")
	f("# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
	f("# HELP g G.\n# TYPE g gauge\ng_count 1\n", "g_count")
}

func TestDescribeRefusesBadDescriptions(t *testing.T) {
	f := func(fam metricsdoc.Family, want error) {
		t.Helper()
		defer func() {
			err, _ := recover().(error)
			if !errors.Is(err, want) {
				t.Fatalf("Describe(%+v) panicked with %v, want %v", fam, err, want)
			}
		}()
		metricsdoc.Describe(fam)
	}
	f(metricsdoc.Counter("mdtest_widgets_total", "again"), metricsdoc.ErrDuplicate)
	f(metricsdoc.Counter("mdtest_widgets", "a counter not ending in _total"), metricsdoc.ErrBadFamily)
	f(metricsdoc.Gauge("mdtest_level_total", "a gauge ending in _total"), metricsdoc.ErrBadFamily)
	f(metricsdoc.Gauge("mdtest_level", ""), metricsdoc.ErrBadFamily)
	f(metricsdoc.Gauge("mdtest_level", "two\nlines"), metricsdoc.ErrBadFamily)
	f(metricsdoc.Gauge("mdtest-level", "bad name"), metricsdoc.ErrBadFamily)
}

func TestLookup(t *testing.T) {
	if f, ok := metricsdoc.Lookup("go_goroutines"); !ok || f.Type != metricsdoc.TypeGauge || f.Help == "" {
		t.Fatalf("go_goroutines: %+v %v", f, ok)
	}
	if _, ok := metricsdoc.Lookup("mdtest_nothing"); ok {
		t.Fatal("an undescribed family was found")
	}
}

// TestRuntimeFamiliesDescribed: every family the library writes for the
// process and the Go runtime on this machine is described (or omitted).
func TestRuntimeFamiliesDescribed(t *testing.T) {
	var b bytes.Buffer
	if err := metricsdoc.Expose(&b, metrics.WriteProcessMetrics); err != nil {
		t.Fatal(err)
	}
	if p := metricsdoc.Check(b.Bytes()); len(p) > 0 {
		t.Fatalf("undescribed runtime families:\n%s", strings.Join(p, "\n"))
	}
}
