// Command ssegw-bench is the SSE bench tool: load scenarios against any SSE
// server (hold, fanout, unicast, storm, churn, resume, rolling), the full suite (suite), RabbitMQ
// mode against a private broker (rabbit-fanout), the servers they compare against (baseline, ceiling),
// and a stub callback backend (backend). Run "ssegw-bench help" for usage.
//
// Ownership: main's goroutine parses flags and runs one subcommand; the bench
// packages own their goroutines. SIGINT/SIGTERM cancel the run's context, and
// every subcommand also stops by itself after --max-duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// errUsage marks a command-line mistake (exit 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, io stdio) error
}

// stdio is the process's standard streams (tests pass their own).
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func commands() []command {
	return []command{
		{"hold", "open N idle streams in steps; server RSS per stream, heartbeat cadence, CPU", runHold},
		{"fanout", "publish timestamped events to N streams; latency, deliveries per CPU-second", runFanout},
		{"unicast", "N streams, then sends to their tokens via /internal/batch; sends/s, latency, exactly once", runUnicast},
		{"storm", "connect N at once (callback round trip) until all ready, then reconnect all; streams/s, sheds", runStorm},
		{"resume", "N streams dropped at once come back with Last-Event-ID under publishing; lost, duplicated, storm vs no history", runResume},
		{"rolling", "gateways on one port (JetStream history) restarted in turn under publishing; lost, duplicated, resync", runRolling},
		{"churn", "streams opening and closing at a rate with random lifetimes; server RSS and gauge over time", runChurn},
		{"suite", "start the servers, run every scenario, regenerate the BENCHMARKS.md block and charts", runSuite},
		{"rabbit-fanout", "a private RabbitMQ broker, N streams with a queue each, publishes fanned out by the broker; vs the same streams without AMQP", runRabbitFanout},
		{"peers", "run hold, storm and fanout against the gateway and nginx+nchan (as deployed, and tuned); regenerate the peers block", runPeers},
		{"baseline", "run the net/http goroutine-per-stream SSE server", runBaseline},
		{"ceiling", "run the bare write loop SSE server (the physical limit)", runCeiling},
		{"backend", "run a stub backend for connect/disconnect callbacks", runBackend},
		{"worker", "(internal) a child client process driven over stdin/stdout", runWorker},
	}
}

func run(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	sio := stdio{in: in, out: out, err: errw}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(errw)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], sio)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			fmt.Fprintf(errw, "ssegw-bench %s: %v\n", c.name, err)
			return exitUsage
		default:
			fmt.Fprintf(errw, "ssegw-bench %s: %v\n", c.name, err)
			return exitError
		}
	}
	fmt.Fprintf(errw, "ssegw-bench: unknown command %q\n", args[0])
	usage(errw)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ssegw-bench <command> [flags]   (ssegw-bench <command> -h for its flags)")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}
