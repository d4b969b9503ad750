package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"ssegw/bench/backend"
	"ssegw/bench/scenario"
)

// childEnv makes the test binary act as "ssegw-bench worker" when re-executed.
const childEnv = "SSEGW_BENCH_CLI_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(context.Background(), []string{"worker"}, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const testTimeout = 30 * time.Second

// startServer runs a server subcommand in-process and returns its announced addresses.
func startServer(t *testing.T, args ...string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, nil, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Errorf("%s did not stop", args[0])
		}
	})
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("%s: no announce line: %v", args[0], err)
	}
	go io.Copy(io.Discard, pr)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUsageErrors(t *testing.T) {
	var errb bytes.Buffer
	cases := [][]string{
		{},
		{"nonsense"},
		{"hold", "--streams", "x"},
		{"hold", "--target", "10.0.0.1:80", "--streams", "1"},
		{"fanout", "--target", "example.com:80"},
		{"fanout", "--late-worker", "elsewhere"},
		{"baseline", "--listen", "0.0.0.0:0"},
		{"backend", "--reject-ratio", "2"},
		{"unicast", "--batch-url", "http://example.com/internal/batch"},
		{"unicast", "--backend-url", "http://10.0.0.1:4000"},
		{"storm", "--backend-latency", "10ms"},
		{"storm", "--backend-url", "http://example.com:4000"},
		{"churn", "--open-rate", "0"},
		{"churn", "--min-life", "2s", "--max-life", "1s"},
		{"suite", "--streams", "x"},
		{"peers", "--nginx", "/nonexistent/nginx", "--streams", "1"},
		{"peers", "--gateway-pipelined=maybe"},
		{"resume", "--streams", "x"},
		{"resume", "--gateway", "/nonexistent/ssegw", "--streams", "1", "--quiet"},
		{"resume", "--publish-rate", "0", "--streams", "1", "--quiet"},
		{"rolling", "--gateway", "/nonexistent/ssegw", "--streams", "1", "--quiet"},
		{"rolling", "--head", "firefox"},
	}
	for _, args := range cases {
		code := run(context.Background(), args, nil, io.Discard, &errb)
		if code == exitOK {
			t.Errorf("%q: exit 0, want failure", args)
		}
	}
	if code := run(context.Background(), []string{"help"}, nil, io.Discard, &errb); code != exitOK {
		t.Errorf("help exit %d", code)
	}
}

// TestFanoutAgainstBaselineCLI runs the whole tool: the baseline subcommand,
// and fanout over two child processes (this binary re-executed as worker),
// with --json output.
func TestFanoutAgainstBaselineCLI(t *testing.T) {
	t.Setenv(childEnv, "1") // inherited by the children only; this process already ran TestMain
	srv := startServer(t, "baseline", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--heartbeat", "200ms")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"fanout", "--target", srv["listen"].(string),
		"--publish-url", "http://" + srv["control"].(string) + "/internal/publish",
		"--streams", "40", "--procs", "2", "--publish-rate", "10", "--duration", "300ms",
		"--late-streams", "4", "--settle", "1ms", "--server-pid", "0", "--json", "--quiet"}, nil, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep scenario.FanoutReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", out.String(), err)
	}
	if rep.Procs != 2 || rep.Publishes != 3 || rep.Delivered != 120 || rep.Expected != 120 || rep.LateClients.Opened != 4 {
		t.Fatalf("report %+v", rep)
	}
}

func TestBackendCLI(t *testing.T) {
	srv := startServer(t, "backend", "--listen", "127.0.0.1:0", "--bindings", "a,b", "--reject-ratio", "0.5")
	base := "http://" + srv["listen"].(string)
	for i, tok := range []string{"t1", "t2"} {
		resp, err := http.Post(base+"/cb", "application/json",
			strings.NewReader(`{"action":"connect","token":"`+tok+`","request":{"url":"/","headers":{}}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := []int{200, 401}[i]; resp.StatusCode != want {
			t.Fatalf("connect %d: status %d want %d", i, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st backend.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Connects != 2 || st.Rejected != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

func TestBrowserHeadersSize(t *testing.T) {
	n := 0
	for _, h := range browserHeaders() {
		n += len(h) + 2
	}
	if n != browserHeaderBytes {
		t.Fatalf("browser header block is %d bytes, want %d", n, browserHeaderBytes)
	}
}

// TestStormCLIUsageAndJSON runs the storm subcommand with --json against the
// baseline (the gateway runs are in bench/suite's end-to-end tests).
func TestStormCLIUsageAndJSON(t *testing.T) {
	srv := startServer(t, "baseline", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--heartbeat", "0")
	var out, errb bytes.Buffer
	// The baseline sends no "ready": the storm reports it and stops at its phase timeout.
	code := run(context.Background(), []string{"storm", "--target", srv["listen"].(string), "--streams", "5",
		"--reconnect=false", "--phase-timeout", "200ms", "--json", "--quiet", "--settle", "1ms"}, nil, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep scenario.StormReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", out.String(), err)
	}
	if len(rep.Phases) != 1 || rep.Phases[0].AllReady || rep.Clients.Opened != 5 {
		t.Fatalf("report %+v", rep)
	}
}

func TestHeadFlag(t *testing.T) {
	f := func(args []string) (scenario.Common, error) {
		t.Helper()
		fs := newFlagSet("hold", io.Discard)
		var cf clientFlags
		cf.register(fs)
		if err := parse(fs, args); err != nil {
			t.Fatal(err)
		}
		return cf.common(io.Discard)
	}
	c, err := f([]string{"--head", "chromium", "--target", "127.0.0.1:4000"})
	if err != nil || c.Client.Head == nil || len(c.Client.Head.Spans) == 0 ||
		!strings.Contains(string(c.Client.Head.Head), "\r\nHost: 127.0.0.1:4000\r\n") {
		t.Fatalf("--head chromium: %v %+v", err, c.Client.Head)
	}
	if c, err = f([]string{"--head", "browser"}); err != nil || len(c.Client.Headers) != len(browserHeaders()) || c.Client.Head != nil {
		t.Fatalf("--head browser: %v %+v", err, c.Client)
	}
	if c, err = f(nil); err != nil || len(c.Client.Headers) != 0 || c.Client.Head != nil {
		t.Fatalf("default head: %v %+v", err, c.Client)
	}
	if _, err = f([]string{"--head", "firefox"}); !errors.Is(err, errUsage) {
		t.Fatalf("--head firefox: %v, want a usage error", err)
	}
}

func TestRabbitFanoutRender(t *testing.T) {
	rep := &scenario.RabbitReport{Scenario: "rabbit-fanout", Streams: 3, Exchange: "sse.events", Key: "bench",
		AMQP:   scenario.GatewayMemory{Streams: 3, Ready: 3, RSSEmpty: 1 << 20, RSSReady: 2 << 20},
		Broker: &scenario.BrokerMemory{PID: 1, Queues: 3}}
	rep.Delivered, rep.Expected = 6, 6
	raw, err := json.Marshal(map[string]any{"broker": "RabbitMQ 3.10.8", "report": rep})
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/r.json"
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"rabbit-fanout", "--render", path}, nil, &out, &errw); code != exitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	for _, want := range []string{"RabbitMQ 3.10.8", "rabbit-fanout: 3 streams", "deliveries 6 of 6 expected", "3 queues"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if code := run(context.Background(), []string{"rabbit-fanout", "--render", path + ".missing"}, nil, &out, &errw); code != exitError {
		t.Fatalf("missing file: exit %d", code)
	}
	if code := run(context.Background(), []string{"rabbit-fanout", "--bogus"}, nil, &out, &errw); code != exitUsage {
		t.Fatalf("bad flag: exit %d", code)
	}
}
