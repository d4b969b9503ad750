package deploy_test

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sysctlFile reads a sysctl.d file: key -> value, and which keys may be
// absent from a kernel (a leading "-").
func sysctlFile(t *testing.T, name string) (map[string]string, map[string]bool) {
	t.Helper()
	vals, optional := map[string]string{}, map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, "sysctl.d/"+name))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not key = value", name, line)
		}
		k, v = strings.TrimSpace(k), strings.Join(strings.Fields(v), " ")
		if opt, ok := strings.CutPrefix(k, "-"); ok {
			k = opt
			optional[k] = true
		}
		if _, dup := vals[k]; dup {
			t.Fatalf("%s sets %s twice", name, k)
		}
		vals[k] = v
	}
	return vals, optional
}

func fields(t *testing.T, v string) []int64 {
	t.Helper()
	var out []int64
	for _, f := range strings.Fields(v) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		out = append(out, n)
	}
	return out
}

// Measured here with deploy/sockmem (README, "Deployment"): what a socket
// holding a small unsent or unread message reserves in the TCP memory
// pool, in 4 KiB pages.
const pagesPerBusySocket = 1

// TestSysctlFiles: every key of both files exists in this kernel (read back
// with sysctl, which never writes here), both files set the same keys, and
// the values carry the arithmetic the README gives: descriptors for the
// unit's LimitNOFILE, TCP memory for one busy page per stream below the
// pressure mark, orphans for a drain of every stream, and the proxy's port
// range.
func TestSysctlFiles(t *testing.T) {
	limit := fields(t, unitValue(t, "LimitNOFILE"))[0]
	files := map[string]int64{"90-ssegw-100k.conf": 100_000, "90-ssegw-1m.conf": 1_000_000}
	keySets := map[string]string{}
	for name, streams := range files {
		vals, optional := sysctlFile(t, name)
		for k := range vals {
			out, code := tool(t, nil, "sysctl", "-n", k)
			if code != 0 && !optional[k] {
				t.Errorf("%s: sysctl -n %s: %s", name, k, out)
			}
		}
		var keys []string
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		keySets[name] = strings.Join(keys, " ")
		get := func(k string) []int64 {
			v, ok := vals[k]
			if !ok {
				t.Fatalf("%s does not set %s", name, k)
			}
			return fields(t, v)
		}
		if nrOpen := get("fs.nr_open")[0]; nrOpen < limit {
			t.Errorf("%s: fs.nr_open %d below the unit's LimitNOFILE %d", name, nrOpen, limit)
		}
		// The gateway's sockets and as many on the proxy's upstream side.
		if fileMax := get("fs.file-max")[0]; fileMax < 2*streams {
			t.Errorf("%s: fs.file-max %d below two descriptors per stream", name, fileMax)
		}
		if mem := get("net.ipv4.tcp_mem"); len(mem) != 3 || mem[0] < pagesPerBusySocket*streams || !(mem[0] < mem[1] && mem[1] < mem[2]) {
			t.Errorf("%s: net.ipv4.tcp_mem %v: low must hold one page per stream (%d) and low < pressure < high", name, mem, streams)
		}
		if o := get("net.ipv4.tcp_max_orphans")[0]; o < streams {
			t.Errorf("%s: tcp_max_orphans %d below the streams a drain ends at once", name, o)
		}
		if b := get("net.core.somaxconn")[0]; b != 65535 {
			t.Errorf("%s: somaxconn %d (gnet caps the backlog at 65535)", name, b)
		}
		ports := get("net.ipv4.ip_local_port_range")
		perAddr := ports[1] - ports[0] + 1
		addrs := (streams + perAddr - 1) / perAddr
		t.Logf("%s: %d local ports per gateway address: %d streams need %d addresses in the nginx upstream", name, perAddr, streams, addrs)
		if ct := get("net.netfilter.nf_conntrack_max")[0]; ct < 2*streams {
			t.Errorf("%s: nf_conntrack_max %d below two connections per stream", name, ct)
		}
	}
	if keySets["90-ssegw-100k.conf"] != keySets["90-ssegw-1m.conf"] {
		t.Errorf("the two files set different keys:\n%v", keySets)
	}
}
