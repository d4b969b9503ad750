package metricsdoc

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Check lists what a scraped /metrics page lacks for Prometheus: a family
// without a "# TYPE" line, or whose "# HELP" line has no text. Tests run it
// on a live gateway's page; an empty list means every family is described.
func Check(page []byte) []string {
	types, helps := map[string]string{}, map[string]string{}
	var samples []string
	for line := range bytes.Lines(page) {
		s := strings.TrimRight(string(line), "\n")
		if rest, ok := strings.CutPrefix(s, "# "); ok {
			kw, rest, _ := strings.Cut(rest, " ")
			name, text, _ := strings.Cut(rest, " ")
			switch kw {
			case "HELP":
				helps[name] = strings.TrimSpace(text)
			case "TYPE":
				types[name] = strings.TrimSpace(text)
			}
			continue
		}
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name := s
		if i := strings.IndexAny(s, "{ "); i >= 0 {
			name = s[:i]
		}
		samples = append(samples, name)
	}
	seen := map[string]bool{}
	var problems []string
	add := func(format string, a ...any) {
		if p := fmt.Sprintf(format, a...); !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	for _, name := range samples {
		if fam := familyOf(name, types); fam == "" {
			add("%s: no # TYPE line (describe it with metricsdoc.Describe in the package that makes it)", name)
		} else if helps[fam] == "" {
			add("%s: no help text (describe it with metricsdoc.Describe in the package that makes it)", fam)
		}
	}
	slices.Sort(problems)
	return problems
}

// familyOf finds the typed family a sample belongs to ("" if none).
func familyOf(sample string, types map[string]string) string {
	if _, ok := types[sample]; ok {
		return sample
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(sample, suffix); ok {
			if t := types[base]; t == "histogram" || t == "summary" {
				return base
			}
		}
	}
	return ""
}
