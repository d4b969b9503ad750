package deploy_test

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"ssegw/config"
	"ssegw/gateway"
	"ssegw/internal/testkit"
)

// unitValue reads one setting of the unit's [Service] section.
func unitValue(t *testing.T, key string) string {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, "systemd/ssegw.service")), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	t.Fatalf("ssegw.service has no %s=", key)
	return ""
}

// envFile reads systemd/ssegw.env as systemd's EnvironmentFile does for
// these plain lines (KEY=value, # comments, blank lines).
func envFile(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, "systemd/ssegw.env"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("ssegw.env: %q is not KEY=value", line)
		}
		env[k] = v
	}
	return env
}

// TestSystemdUnitVerifies: `systemd-analyze verify` accepts the unit
// without a warning (unknown keys and bad values are warnings there, with
// exit 0, so the output must be empty). ExecStart points at a built gateway
// binary, since verify checks that it exists.
func TestSystemdUnitVerifies(t *testing.T) {
	unit := replaceOnce(t, string(readFile(t, "systemd/ssegw.service")),
		"ExecStart=/usr/local/bin/ssegw", "ExecStart="+testkit.GatewayBinary(t))
	path := filepath.Join(t.TempDir(), "ssegw.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := tool(t, nil, "systemd-analyze", "verify", path)
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify (exit %d):\n%s", code, out)
	}
	// The hardening, as systemd scores it (0 is a fully locked-down unit,
	// 10 an unprotected one).
	out, code = tool(t, nil, "systemd-analyze", "security", "--offline=true", "--no-pager", path)
	m := regexp.MustCompile(`Overall exposure level for ssegw.service: ([0-9.]+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("systemd-analyze security (exit %d):\n%s", code, out)
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score > maxExposure {
		t.Errorf("exposure %v, want at most %v:\n%s", score, maxExposure, out)
	}
}

// maxExposure is the highest systemd-analyze security score the unit may
// have; what it still allows is what a network service needs (INET
// sockets, the host's network, the @resources syscalls for setrlimit).
const maxExposure = 2.0

// TestSystemdSizes: the unit's numbers hold together with the gateway's own
// arithmetic and the env file, as the gateway itself reads them: the env
// file names only real settings and loads; LimitNOFILE admits a million
// streams; the stop timeout leaves the drain its SHUTDOWN_TIMEOUT_SECONDS
// plus the control port's and the loops' stop.
func TestSystemdSizes(t *testing.T) {
	env := envFile(t)
	asked := map[string]bool{}
	cfg, err := config.Load(nil, func(k string) string { asked[k] = true; return env[k] }, 2, io.Discard)
	if err != nil {
		t.Fatalf("ssegw.env does not load: %v", err)
	}
	for k := range env {
		if !asked[k] {
			t.Errorf("ssegw.env sets %s, which is not a gateway setting", k)
		}
	}
	limit, err := strconv.ParseUint(unitValue(t, "LimitNOFILE"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if c := gateway.CapacityFor(limit, cfg); c.MaxConnections < 1_000_000 {
		t.Errorf("LimitNOFILE=%d admits %d streams, want a million", limit, c.MaxConnections)
	} else {
		t.Logf("LimitNOFILE=%d: %d sockets, MAX_CONNECTIONS %d", limit, c.MaxSockets, c.MaxConnections)
	}
	stop, err := time.ParseDuration(unitValue(t, "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	// After the drain: up to 1 s for the control port and 5 s for the event
	// loops (gateway.Shutdown), then the process exits.
	const afterDrain = 6 * time.Second
	if stop <= cfg.ShutdownTimeout+afterDrain {
		t.Errorf("TimeoutStopSec=%v does not leave SHUTDOWN_TIMEOUT_SECONDS (%v) + %v", stop, cfg.ShutdownTimeout, afterDrain)
	}
	if got := unitValue(t, "KillSignal"); got != "SIGTERM" {
		t.Errorf("KillSignal=%s: the gateway drains on SIGTERM", got)
	}
	if got := unitValue(t, "Restart"); got != "on-failure" {
		t.Errorf("Restart=%s", got)
	}
}
