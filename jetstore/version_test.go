package jetstore

import "testing"

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		v  string
		ok bool
	}{
		{"2.10.0", true}, {"2.15.2", true}, {"v2.11.1", true}, {"2.12.0-beta.1", true}, {"3.0.0", true},
		{"2.9.10", false}, {"2.9.25", false}, {"1.99.99", false}, {"", false}, {"2.10", false}, {"x.y.z", false},
	} {
		if got := versionAtLeast(c.v, MinBrokerVersion); got != c.ok {
			t.Errorf("versionAtLeast(%q) = %v", c.v, got)
		}
	}
}
