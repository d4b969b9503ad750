// Package rabbitbroker runs a real RabbitMQ broker (Debian's rabbitmq-server)
// for tests: one private broker per test process, on free loopback ports, with
// its own data directory, started from TestMain and shared by the package's
// tests, stoppable and restartable (broker-outage tests), and stopped by PID
// when the tests end. It is imported by _test.go files and by the bench
// tool's rabbit-fanout (bench/suite), which runs one broker for its run.
//
// # How the broker is started (found the hard way)
//
//   - /usr/sbin/rabbitmq-server is Debian's wrapper: as root it re-runs the
//     real script through `su rabbitmq`, so the data directory would have to
//     belong to that user, and ending the wrapper leaves the broker running.
//     We run the real script, /usr/lib/rabbitmq/bin/rabbitmq-server, directly
//     as the current user instead. That script starts the Erlang VM as its
//     child and traps SIGTERM into a graceful broker stop, so a SIGTERM to the
//     PID we started stops the whole broker (about 2.5 s); the VM's own PID is
//     in RABBITMQ_PID_FILE.
//   - Everything the broker writes is pointed into the data directory:
//     RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, RABBITMQ_FEATURE_FLAGS_FILE,
//     RABBITMQ_CONFIG_FILE, RABBITMQ_ENABLED_PLUGINS_FILE (no plugins: faster
//     boot), RABBITMQ_PID_FILE, RABBITMQ_CONF_ENV_FILE (so /etc/rabbitmq is not
//     read), and HOME (the Erlang cookie, written here before the start).
//   - Other engineers run brokers on the same machine at the same time, so
//     nothing is shared: a unique RABBITMQ_NODENAME, a free AMQP port, a free
//     Erlang distribution port (RABBITMQ_DIST_PORT) and a private epmd on a
//     free port (ERL_EPMD_PORT), which we start ourselves in the foreground so
//     that it is our child and dies with us (the VM would otherwise start a
//     daemon epmd that outlives the test). The rabbitmqctl CLI gets an
//     ephemeral distribution port (RABBITMQ_CTL_DIST_PORT_MIN/MAX = 0), not
//     the default 35672-35682 range that concurrent CLIs would exhaust. Every
//     listener is bound to 127.0.0.1.
//   - Boot takes about 7 s on the 2-core machine (a restart on the same data
//     directory about 6 s): start one broker per test package, in TestMain.
//
// A missing rabbitmq-server is an error (ErrNotInstalled), never a skip: CI
// installs it (.ci/install-deps, `make test-deps`).
package rabbitbroker

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Paths of Debian's rabbitmq-server package and Erlang.
const (
	serverScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	ctlScript    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
	epmdName     = "epmd"
)

// Bounds of the broker's lifecycle.
const (
	// startWait bounds one boot (about 7 s alone, more when other engineers
	// load the 2 cores).
	startWait = 90 * time.Second
	// stopWait bounds a graceful stop before the process group is killed.
	stopWait = 30 * time.Second
	// ctlWait bounds one rabbitmqctl command.
	ctlWait = 60 * time.Second
	// pollEvery is how often a boot is checked.
	pollEvery = 50 * time.Millisecond
	// logTail is how much of the broker's log an error shows.
	logTail = 4 << 10
)

// Errors of the helper.
var (
	ErrNotInstalled = errors.New("rabbitbroker: rabbitmq-server is not installed (" + serverScript + " missing): run `make test-deps` (.ci/install-deps installs Debian's rabbitmq-server)")
	ErrNotRunning   = errors.New("rabbitbroker: the broker is not running")
	ErrRunning      = errors.New("rabbitbroker: the broker is already running")
)

// Broker is one private RabbitMQ broker. Its methods are safe for concurrent
// use; Stop, Restart and Close serialize.
type Broker struct {
	// URL is the AMQP URL of the broker (user guest, vhost "/").
	URL string
	// Port is the AMQP port on 127.0.0.1.
	Port int
	// Node is the Erlang node name (for `rabbitmqctl -n`).
	Node string
	// Dir is the data directory (removed by Close).
	Dir string

	env  []string
	epmd *exec.Cmd

	mu      sync.Mutex
	srv     *exec.Cmd
	srvDone chan struct{}
}

// Start boots a broker and waits until it accepts AMQP connections.
func Start() (*Broker, error) {
	if _, err := os.Stat(serverScript); err != nil {
		return nil, ErrNotInstalled
	}
	epmdPath, err := exec.LookPath(epmdName)
	if err != nil {
		return nil, fmt.Errorf("%w (epmd not on PATH: %v)", ErrNotInstalled, err)
	}
	dir, err := os.MkdirTemp("", "ssegw-rabbitmq-")
	if err != nil {
		return nil, err
	}
	b := &Broker{Dir: dir}
	if err := b.prepare(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := b.startEPMD(epmdPath); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := b.Restart(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// prepare picks the ports and the node name and writes the files the broker
// reads.
func (b *Broker) prepare() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	b.Port = ports[0]
	distPort, epmdPort := ports[1], ports[2]
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	b.Node = fmt.Sprintf("ssegw-%d-%s@localhost", os.Getpid(), hex.EncodeToString(rnd[:]))
	b.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", b.Port)

	files := map[string]string{
		"rabbitmq.conf": strings.Join([]string{
			"listeners.tcp.default = 127.0.0.1:" + strconv.Itoa(b.Port),
			"log.console = false",
			"log.file.level = info",
			"",
		}, "\n"),
		"enabled_plugins":   "[].\n",
		"rabbitmq-env.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(b.Dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	var cookie [16]byte
	_, _ = rand.Read(cookie[:])
	if err := os.WriteFile(filepath.Join(b.Dir, ".erlang.cookie"), []byte(strings.ToUpper(hex.EncodeToString(cookie[:]))), 0o400); err != nil {
		return err
	}
	const loopbackDist = "-kernel inet_dist_use_interface {127,0,0,1}"
	b.env = append(os.Environ(),
		"HOME="+b.Dir,
		"RABBITMQ_NODENAME="+b.Node,
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"ERL_EPMD_PORT="+strconv.Itoa(epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(b.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(b.Dir, "log"),
		"RABBITMQ_FEATURE_FLAGS_FILE="+filepath.Join(b.Dir, "feature_flags"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(b.Dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(b.Dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(b.Dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(b.Dir, "rabbitmq-env.conf"),
		"RABBITMQ_PID_FILE="+filepath.Join(b.Dir, "pid"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+loopbackDist,
		"RABBITMQ_CTL_ERL_ARGS="+loopbackDist,
		"RABBITMQ_CTL_DIST_PORT_MIN=0",
		"RABBITMQ_CTL_DIST_PORT_MAX=0",
	)
	return nil
}

// startEPMD runs the broker's private epmd as our child.
func (b *Broker) startEPMD(path string) error {
	port := envValue(b.env, "ERL_EPMD_PORT")
	cmd := exec.Command(path, "-port", port, "-address", "127.0.0.1")
	cmd.Env = b.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rabbitbroker: start epmd: %w", err)
	}
	b.epmd = cmd
	return nil
}

// Restart boots the broker again after Stop (the same ports, node name and
// data directory, so durable queues and their messages are still there).
func (b *Broker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return ErrRunning
	}
	cmd := exec.Command(serverScript)
	cmd.Env = b.env
	cmd.Dir = b.Dir
	out, err := os.OpenFile(filepath.Join(b.Dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so a broker that ignores SIGTERM can be killed
	// with its children; SIGTERM (a graceful stop) if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rabbitbroker: start %s: %w", serverScript, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.srv, b.srvDone = cmd, done
	if err := b.awaitBoot(done); err != nil {
		b.stopLocked()
		return err
	}
	return nil
}

// awaitBoot waits until an AMQP handshake succeeds.
func (b *Broker) awaitBoot(exited <-chan struct{}) error {
	deadline := time.Now().Add(startWait)
	for {
		select {
		case <-exited:
			return fmt.Errorf("rabbitbroker: broker exited during boot\n%s", b.logTail())
		default:
		}
		if c, err := amqp.DialConfig(b.URL, amqp.Config{Dial: amqp.DefaultDial(time.Second)}); err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rabbitbroker: broker not up after %v\n%s", startWait, b.logTail())
		}
		time.Sleep(pollEvery)
	}
}

// Stop stops the broker gracefully (clients get connection.close, as in a
// broker restart) and waits until its processes have exited.
func (b *Broker) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return ErrNotRunning
	}
	return b.stopLocked()
}

func (b *Broker) stopLocked() error {
	cmd, done := b.srv, b.srvDone
	b.srv, b.srvDone = nil, nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(stopWait):
	}
	// Our own process group: the wrapper, the VM and its port programs.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return fmt.Errorf("rabbitbroker: broker did not stop within %v; killed", stopWait)
}

// Running reports whether the broker process is up (not whether it has
// finished booting).
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv != nil
}

// Ctl runs `rabbitmqctl -n <node> args...` and returns its standard output.
func (b *Broker) Ctl(args ...string) (string, error) {
	cmd := exec.Command(ctlScript, append([]string{"-n", b.Node, "-q"}, args...)...)
	cmd.Env = b.env
	cmd.Dir = b.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(ctlWait, func() { _ = cmd.Process.Kill() })
	err := cmd.Run()
	timer.Stop()
	if err != nil {
		return stdout.String(), fmt.Errorf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// BrokerPID is the Erlang VM's PID (0 when unknown).
func (b *Broker) BrokerPID() int {
	raw, err := os.ReadFile(filepath.Join(b.Dir, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// Close stops the broker (if running) and its epmd and removes the data
// directory. Call it from TestMain after m.Run.
func (b *Broker) Close() {
	b.mu.Lock()
	if b.srv != nil {
		_ = b.stopLocked()
	}
	b.mu.Unlock()
	if b.epmd != nil {
		_ = b.epmd.Process.Kill()
		_ = b.epmd.Wait()
		b.epmd = nil
	}
	_ = os.RemoveAll(b.Dir)
}

// logTail is the end of the broker's log and console output, for errors.
func (b *Broker) logTail() string {
	var sb strings.Builder
	for _, name := range []string{"server.out", filepath.Join("log", strings.Split(b.Node, "@")[0]+"@localhost.log")} {
		raw, err := os.ReadFile(filepath.Join(b.Dir, name))
		if err != nil {
			continue
		}
		if len(raw) > logTail {
			raw = raw[len(raw)-logTail:]
		}
		fmt.Fprintf(&sb, "--- %s (tail)\n%s\n", name, raw)
	}
	return sb.String()
}

// freePorts returns n distinct free loopback ports (held open together while
// they are picked, so they differ).
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}
