package metricsdoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// Type is a Prometheus metric type, as "# TYPE" names it.
type Type string

// The types a family may be described with.
const (
	TypeCounter   Type = "counter"
	TypeGauge     Type = "gauge"
	TypeHistogram Type = "histogram"
	TypeSummary   Type = "summary"
	// typeOmitted marks a family that Expose leaves out of /metrics.
	typeOmitted Type = "omitted"
)

// Family documents one metric family.
type Family struct {
	Name string
	Type Type
	Help string // one line; for an omitted family, why it is left out
}

// Counter describes a counter family: a value that only goes up (its name
// ends in _total). A counter the library computes by a callback gauge is
// still described as a counter: Expose writes the type described here.
func Counter(name, help string) Family { return Family{name, TypeCounter, help} }

// Gauge describes a gauge family: a value that goes up and down.
func Gauge(name, help string) Family { return Family{name, TypeGauge, help} }

// Histogram describes a histogram family ("le" buckets, _sum and _count).
func Histogram(name, help string) Family { return Family{name, TypeHistogram, help} }

// Summary describes a summary family (quantiles, _sum and _count).
func Summary(name, help string) Family { return Family{name, TypeSummary, help} }

// Omit names a family the metrics library writes that /metrics leaves out,
// and why (for a name that breaks the Prometheus naming rules and says
// nothing an operator needs).
func Omit(name, why string) Family { return Family{name, typeOmitted, why} }

// Errors of Describe (it panics with them: a bad description is a bug found
// when the process starts).
var (
	ErrDuplicate = errors.New("metricsdoc: family described twice")
	ErrBadFamily = errors.New("metricsdoc: bad family description")
)

// familyName is what Prometheus accepts as a metric name.
var familyName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

var (
	mu       sync.Mutex
	families = map[string]Family{}
)

// Describe registers families. Call it from a package-level var of the
// package that makes the metrics, so every description is in place before
// the first scrape. It panics on a duplicate or malformed description. The
// result is always true (it exists to be assigned to _).
func Describe(fams ...Family) bool {
	mu.Lock()
	defer mu.Unlock()
	for _, f := range fams {
		if err := f.validate(); err != nil {
			panic(err)
		}
		if _, dup := families[f.Name]; dup {
			panic(fmt.Errorf("%w: %s", ErrDuplicate, f.Name))
		}
		families[f.Name] = f
	}
	return true
}

func (f Family) validate() error {
	switch {
	case !familyName.MatchString(f.Name):
		return fmt.Errorf("%w: name %q", ErrBadFamily, f.Name)
	case strings.TrimSpace(f.Help) == "" || strings.ContainsAny(f.Help, "\r\n"):
		return fmt.Errorf("%w: %s: help must be one non-empty line", ErrBadFamily, f.Name)
	case f.Type == TypeCounter && !strings.HasSuffix(f.Name, "_total"):
		return fmt.Errorf("%w: %s: a counter's name ends in _total", ErrBadFamily, f.Name)
	case f.Type != TypeCounter && f.Type != typeOmitted && strings.HasSuffix(f.Name, "_total"):
		return fmt.Errorf("%w: %s: only a counter's name ends in _total", ErrBadFamily, f.Name)
	}
	switch f.Type {
	case TypeCounter, TypeGauge, TypeHistogram, TypeSummary, typeOmitted:
		return nil
	}
	return fmt.Errorf("%w: %s: type %q", ErrBadFamily, f.Name, f.Type)
}

// Lookup returns the description of a family.
func Lookup(name string) (Family, bool) {
	mu.Lock()
	defer mu.Unlock()
	f, ok := families[name]
	return f, ok
}

// Expose writes what write produces (the library's Prometheus text, with its
// metadata switched on) to w, with each described family's help text and
// type, and without the omitted families. Lines of families that are not
// described pass through unchanged (with the library's empty help text).
func Expose(w io.Writer, write func(io.Writer)) error {
	metrics.ExposeMetadata(true)
	var raw bytes.Buffer
	write(&raw)
	out := bufio.NewWriterSize(w, 32<<10)
	for line := range bytes.Lines(raw.Bytes()) {
		if err := exposeLine(out, line); err != nil {
			return err
		}
	}
	return out.Flush()
}

func exposeLine(w *bufio.Writer, line []byte) error {
	kind, name := classify(line)
	f, described := Lookup(name)
	if !described {
		_, err := w.Write(line)
		return err
	}
	var err error
	switch {
	case f.Type == typeOmitted:
	case kind == "HELP":
		_, err = fmt.Fprintf(w, "# HELP %s %s\n", f.Name, escapeHelp(f.Help))
	case kind == "TYPE":
		_, err = fmt.Fprintf(w, "# TYPE %s %s\n", f.Name, f.Type)
	default:
		_, err = w.Write(line)
	}
	return err
}

// classify returns a line's kind ("HELP", "TYPE", "sample" or "") and the
// family it belongs to. A sample's family is its metric name, or for a
// histogram's or summary's _bucket/_sum/_count sample the described family
// that name extends.
func classify(line []byte) (kind, family string) {
	s := strings.TrimRight(string(line), "\n")
	if rest, ok := strings.CutPrefix(s, "# "); ok {
		fields := strings.Fields(rest)
		if len(fields) >= 2 && (fields[0] == "HELP" || fields[0] == "TYPE") {
			return fields[0], fields[1]
		}
		return "", ""
	}
	name := s
	if i := strings.IndexAny(s, "{ "); i >= 0 {
		name = s[:i]
	}
	if name == "" {
		return "", ""
	}
	if _, ok := Lookup(name); ok {
		return "sample", name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := Lookup(base); ok && (f.Type == TypeHistogram || f.Type == TypeSummary || f.Type == typeOmitted) {
				return "sample", base
			}
		}
	}
	return "sample", name
}

// escapeHelp escapes a help text as the text format wants (\\ and \n).
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
