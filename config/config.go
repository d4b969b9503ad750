// Package config reads the gateway's settings (CONTRACT.md section 2) from the
// environment and from command-line flags, validates every value once at start,
// and reports a malformed value as one error naming the variable. There is no
// silent fallback: a bad value stops the process.
//
// Every setting is an environment variable and an equivalent flag named after it
// in lower case with dashes (HEARTBEAT_INTERVAL_SECONDS is
// --heartbeat-interval-seconds); a flag wins over the environment. Load runs once
// on the main goroutine; the Config it returns is read-only afterwards.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"ssegw/callback"
	"ssegw/headstore"
	"ssegw/sse"
)

// Config is the validated configuration of one gateway process.
type Config struct {
	ListenAddr          string        // public listener
	ControlAddr         string        // loopback control listener
	ControlToken        string        // bearer token for the control port; empty means none
	CallbackURL         string        // backend callback URL, used verbatim; empty means not configured
	CallbackTimeout     time.Duration // per callback
	CallbackConcurrency int           // callbacks in flight at once
	CallbackPipeline    int           // callbacks one backend connection carries at once (1: no pipelining)
	MaxPendingConnects  int           // connects waiting for their callback
	MaxConnections      int           // open streams; 0 means derive from the open-file limit
	HeartbeatInterval   time.Duration
	WriteBufferLimit    int // unsent bytes per connection before it is closed as a slow consumer
	WriteTimeout        time.Duration
	HeaderTimeout       time.Duration
	MaxHeaderBytes      int
	EventFormat         sse.Format
	ShutdownTimeout     time.Duration
	DrainWindow         time.Duration
	EventLoops          int
	TCPKeepAlive        time.Duration
	TCPUserTimeout      time.Duration
	LogLevel            slog.Level
	LogJSON             bool
	Demo                bool // run the built-in demo backend (--demo)
	DemoAddr            string
	NATSURL             string        // cluster mode when set (package cluster)
	NATSSubjectPrefix   string        // first tokens of every cluster subject
	NodeID              uint16        // this gateway's node id in a cluster; 0 means draw a free one
	HistorySize         int           // messages kept per channel; 0: history off (CONTRACT.md section 9)
	HistoryTTL          time.Duration // a kept message is dropped after this long
	HistoryMaxBytes     int64         // bound on all kept messages of this gateway
	ConnectFailure      ConnectFailure
	DisconnectRetry     time.Duration // how long a failed disconnect callback is retried; 0 turns retries off
	RabbitMQURL         string        // AMQP mode when set (package rabbitmq)
	RabbitMQQueueTTL    int64         // x-expires of every stream queue, in ms
	RabbitMQEnvPrefix   string        // the exchange is <prefix>.sse.events (sse.events when empty)
	RabbitMQAutoDelete  bool          // the exchange is declared auto-delete and not durable

	// DisconnectRequest is what a stream keeps of its request for its
	// disconnect callback (DISCONNECT_REQUEST; see package headstore).
	DisconnectRequest headstore.Mode
}

// ConnectFailure is how a connect callback that failed (timeout, network
// error, 429, 5xx) is answered to the client (CONTRACT.md section 4.1).
type ConnectFailure uint8

const (
	// ConnectFailureRetry answers 200 with a randomised retry hint and the end
	// of the stream, like a shed request: the browser comes back by itself.
	ConnectFailureRetry ConnectFailure = iota
	// ConnectFailureStatus answers 504/503/the backend's status, as the Node
	// SSEGateway did (a browser's EventSource then gives up for good).
	ConnectFailureStatus
)

func (f ConnectFailure) String() string {
	if f == ConnectFailureStatus {
		return "status"
	}
	return "retry"
}

// ErrHelp is returned by Load when --help was asked for; the usage has been printed.
var ErrHelp = errors.New("help requested")

// setting is one variable: its name, default, help text and how to apply it.
type setting struct {
	env, def, help string
	apply          func(c *Config, v string) error
}

// settings lists every variable in the order --help prints them.
func settings(numCPU int) []setting {
	return []setting{
		{"PORT", "3000", "public port", func(c *Config, v string) error {
			p, err := parseInt(v, 1, 65535)
			c.ListenAddr = "0.0.0.0:" + strconv.Itoa(p)
			return err
		}},
		{"LISTEN_ADDR", "", "public address host:port; overrides PORT", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			c.ListenAddr = v
			return checkHostPort(v)
		}},
		{"CONTROL_ADDR", "127.0.0.1:3001", "control address (loopback unless CONTROL_TOKEN is set)", func(c *Config, v string) error {
			c.ControlAddr = v
			return checkHostPort(v)
		}},
		{"CONTROL_TOKEN", "", "bearer token required on the control port", func(c *Config, v string) error {
			c.ControlToken = v
			return nil
		}},
		{"CALLBACK_URL", "", "backend callback URL, used verbatim (query kept)", func(c *Config, v string) error {
			c.CallbackURL = v
			return checkURL(v)
		}},
		{"CALLBACK_TIMEOUT_MS", "5000", "timeout of one callback", msSetting(func(c *Config) *time.Duration { return &c.CallbackTimeout })},
		{"CALLBACK_CONCURRENCY", "256", "callbacks in flight at once", intSetting(1, 1<<16, func(c *Config) *int { return &c.CallbackConcurrency })},
		{"CALLBACK_PIPELINE", "1", "callbacks one backend connection carries at once, written together and answered in order (HTTP/1.1 pipelining; 1: off)", intSetting(1, callback.MaxPipeline, func(c *Config) *int { return &c.CallbackPipeline })},
		{"DISCONNECT_REQUEST", "full", "what the disconnect callback's request carries: full (url and headers, as the connect), url (url; headers {}) or none (url \"\"; headers {})", func(c *Config, v string) error {
			m, ok := headstore.ParseMode(v)
			if !ok {
				return errors.New("must be full, url or none")
			}
			c.DisconnectRequest = m
			return nil
		}},
		{"MAX_PENDING_CONNECTS", "10000", "connects waiting for their callback; beyond: shed", intSetting(1, 1<<24, func(c *Config) *int { return &c.MaxPendingConnects })},
		{"MAX_CONNECTIONS", "", "open streams; beyond: shed (default: from the open-file limit)", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			n, err := parseInt(v, 1, 1<<26)
			c.MaxConnections = n
			return err
		}},
		{"HEARTBEAT_INTERVAL_SECONDS", "15", "seconds between heartbeats on an idle stream", func(c *Config, v string) error {
			n, err := parseInt(v, 1, 86400)
			c.HeartbeatInterval = time.Duration(n) * time.Second
			return err
		}},
		{"WRITE_BUFFER_LIMIT_BYTES", "1048576", "unsent bytes a connection may hold before it is closed as a slow consumer", intSetting(1024, 1<<30, func(c *Config) *int { return &c.WriteBufferLimit })},
		{"WRITE_TIMEOUT_MS", "30000", "a connection whose unsent bytes make no progress for this long is closed", msSetting(func(c *Config) *time.Duration { return &c.WriteTimeout })},
		{"HEADER_TIMEOUT_MS", "10000", "time from accept (or the previous response) to a complete request head", msSetting(func(c *Config) *time.Duration { return &c.HeaderTimeout })},
		{"MAX_HEADER_BYTES", "16384", "request line + headers; beyond: 431", intSetting(256, 1<<20, func(c *Config) *int { return &c.MaxHeaderBytes })},
		{"EVENT_FORMAT", "sse", "sse (standard fields) or envelope (Node SSEGateway compatible)", func(c *Config, v string) error {
			f, ok := sse.ParseFormat(v)
			if !ok {
				return errors.New("must be sse or envelope")
			}
			c.EventFormat = f
			return nil
		}},
		{"SHUTDOWN_TIMEOUT_SECONDS", "10", "drain bound on SIGTERM/SIGINT", func(c *Config, v string) error {
			n, err := parseInt(v, 1, 3600)
			c.ShutdownTimeout = time.Duration(n) * time.Second
			return err
		}},
		{"DRAIN_WINDOW_MS", "", "window over which streams are ended on shutdown (default: half of SHUTDOWN_TIMEOUT_SECONDS)", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			n, err := parseInt(v, 0, 3600_000)
			c.DrainWindow = time.Duration(n) * time.Millisecond
			return err
		}},
		{"EVENT_LOOPS", strconv.Itoa(numCPU), "event loops", intSetting(1, 256, func(c *Config) *int { return &c.EventLoops })},
		{"TCP_KEEPALIVE_SECONDS", "15", "idle time before TCP keepalive probes (0 disables)", func(c *Config, v string) error {
			n, err := parseInt(v, 0, 7200)
			c.TCPKeepAlive = time.Duration(n) * time.Second
			return err
		}},
		{"TCP_USER_TIMEOUT_MS", "30000", "TCP_USER_TIMEOUT: unacknowledged data older than this ends the connection (0 disables)", func(c *Config, v string) error {
			n, err := parseInt(v, 0, 3600_000)
			c.TCPUserTimeout = time.Duration(n) * time.Millisecond
			return err
		}},
		{"LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
			return c.LogLevel.UnmarshalText([]byte(v))
		}},
		{"LOG_FORMAT", "text", "text or json", func(c *Config, v string) error {
			switch v {
			case "text", "json":
				c.LogJSON = v == "json"
				return nil
			}
			return errors.New("must be text or json")
		}},
		{"NATS_URL", "", "NATS broker URL(s), comma-separated: turns on cluster mode (unset: the gateway runs alone)", func(c *Config, v string) error {
			c.NATSURL = v
			return checkNATSURL(v)
		}},
		{"NATS_SUBJECT_PREFIX", "ssegw", "first tokens of every cluster subject (PREFIX.ch.<channel>, PREFIX.node.<id>)", func(c *Config, v string) error {
			c.NATSSubjectPrefix = v
			return checkSubjectPrefix(v)
		}},
		{"NODE_ID", "", "this gateway's node id in a cluster, 1-65535, unique (default: a free one drawn at random)", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			n, err := parseInt(v, 1, maxNodeID)
			c.NodeID = uint16(n)
			return err
		}},
		{"CONNECT_FAILURE", "retry", "a failed connect callback (timeout, network error, 429, 5xx) is answered with a retry hint (retry) or its status (status)", func(c *Config, v string) error {
			switch v {
			case "retry":
				c.ConnectFailure = ConnectFailureRetry
			case "status":
				c.ConnectFailure = ConnectFailureStatus
			default:
				return errors.New("must be retry or status")
			}
			return nil
		}},
		{"DISCONNECT_RETRY_SECONDS", "60", "how long a failed disconnect callback is retried (0: not retried)", func(c *Config, v string) error {
			n, err := parseInt(v, 0, 86400)
			c.DisconnectRetry = time.Duration(n) * time.Second
			return err
		}},
		{"RABBITMQ_URL", "", "AMQP URL (amqp:// or amqps://) of a RabbitMQ broker: turns on the Node SSEGateway's AMQP mode (unset: off)", func(c *Config, v string) error {
			c.RabbitMQURL = v
			return checkAMQPURL(v)
		}},
		{"RABBITMQ_QUEUE_TTL_MS", "300000", "x-expires of each stream's queue sse.conn.<request_id>: how long it outlives its last consumer", func(c *Config, v string) error {
			n, err := parseInt(v, 1, maxQueueTTL)
			c.RabbitMQQueueTTL = int64(n)
			return err
		}},
		{"RABBITMQ_ENV_PREFIX", "", "the topic exchange is <prefix>.sse.events (sse.events when empty)", func(c *Config, v string) error {
			c.RabbitMQEnvPrefix = v
			return checkExchangePrefix(v)
		}},
		{"RABBITMQ_ENV_AUTO_DELETE", "false", "true: the exchange is declared auto-delete and not durable (self-cleaning test exchanges)", func(c *Config, v string) error {
			switch v {
			case "true", "false":
				c.RabbitMQAutoDelete = v == "true"
				return nil
			}
			return errors.New("must be true or false")
		}},
		{"HISTORY_SIZE", "0", "messages kept per channel for resume with Last-Event-ID (0: history off)", intSetting(0, 1<<20, func(c *Config) *int { return &c.HistorySize })},
		{"HISTORY_TTL_SECONDS", "300", "a kept message is dropped after this long", func(c *Config, v string) error {
			n, err := parseInt(v, 1, 30*86400)
			c.HistoryTTL = time.Duration(n) * time.Second
			return err
		}},
		{"HISTORY_MAX_BYTES", "67108864", "bound on the memory of all kept messages; the oldest go first", func(c *Config, v string) error {
			n, err := parseInt(v, 1024, 1<<40)
			c.HistoryMaxBytes = int64(n)
			return err
		}},
		{"DEMO_ADDR", "127.0.0.1:8080", "address of the built-in demo backend (with --demo)", func(c *Config, v string) error {
			c.DemoAddr = v
			return checkHostPort(v)
		}},
	}
}

// FlagName is the command-line flag for an environment variable.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

// Load builds the Config from args (without the program name) and the
// environment lookup function. Usage and errors go to out.
func Load(args []string, getenv func(string) string, numCPU int, out io.Writer) (*Config, error) {
	all := settings(numCPU)
	fs := flag.NewFlagSet("ssegw", flag.ContinueOnError)
	fs.SetOutput(out)
	flagVals := make(map[string]*string, len(all))
	for _, s := range all {
		flagVals[s.env] = fs.String(FlagName(s.env), "", s.help+" (env "+s.env+")")
	}
	demo := fs.Bool("demo", false, "also run the built-in demo backend and page, and point CALLBACK_URL at it")
	fs.Usage = func() { printUsage(out, all) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ErrHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c := &Config{Demo: *demo}
	for _, s := range all {
		v, ok := getenv(s.env), true
		if set[FlagName(s.env)] {
			v = *flagVals[s.env]
		} else if v == "" {
			v, ok = s.def, false
		}
		if err := s.apply(c, v); err != nil {
			if s.env == "RABBITMQ_URL" {
				v = redactURL(v) // its password stays out of the logs
			}
			src := "environment variable " + s.env
			if set[FlagName(s.env)] {
				src = "flag --" + FlagName(s.env)
			} else if !ok {
				src = "default of " + s.env
			}
			return nil, fmt.Errorf("invalid %s=%q: %v", src, v, err)
		}
	}
	return c, c.validate()
}

// validate checks rules that span settings.
func (c *Config) validate() error {
	if c.ControlToken == "" && !IsLoopback(c.ControlAddr) {
		return fmt.Errorf("invalid CONTROL_ADDR=%q: not a loopback address and CONTROL_TOKEN is not set", c.ControlAddr)
	}
	if c.DrainWindow == 0 || c.DrainWindow >= c.ShutdownTimeout {
		c.DrainWindow = c.ShutdownTimeout / 2
	}
	return nil
}

func printUsage(out io.Writer, all []setting) {
	fmt.Fprintf(out, "Usage: ssegw [--demo] [--flag value ...]\n\nEvery setting is an environment variable or the flag named after it; a flag wins.\n\n")
	for _, s := range all {
		def := s.def
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(out, "  --%-28s %-27s %s (default %s)\n", FlagName(s.env), s.env, s.help, def)
	}
	fmt.Fprintf(out, "  --%-28s %-27s %s\n", "demo", "", "run the built-in demo backend and page (make run)")
}

// IsLoopback reports whether a host:port names a loopback address.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseInt(v string, min, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not an integer")
	}
	if n < min || n > max {
		return 0, fmt.Errorf("must be between %d and %d", min, max)
	}
	return n, nil
}

func intSetting(min, max int, field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseInt(v, min, max)
		*field(c) = n
		return err
	}
}

func msSetting(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseInt(v, 1, 3600_000)
		*field(c) = time.Duration(n) * time.Millisecond
		return err
	}
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("not host:port")
	}
	if _, err := parseInt(port, 0, 65535); err != nil {
		return errors.New("bad port")
	}
	return nil
}

func checkURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	return nil
}

// maxNodeID is the largest node id: tokens carry it in 16 bits.
const maxNodeID = 65535

// natsSchemes are the URL schemes the NATS client dials.
var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// checkNATSURL accepts one or more comma-separated nats://, tls://, ws:// or
// wss:// URLs with a host.
func checkNATSURL(v string) error {
	if v == "" {
		return nil
	}
	for _, one := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || !natsSchemes[u.Scheme] || u.Host == "" {
			return errors.New("must be nats://host:port (or tls://, ws://, wss://), several separated by commas")
		}
	}
	return nil
}

// checkSubjectPrefix accepts dot-separated non-empty NATS subject tokens
// without whitespace or wildcards.
func checkSubjectPrefix(v string) error {
	for _, tok := range strings.Split(v, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return errors.New("must be dot-separated subject tokens without spaces, '*' or '>'")
		}
	}
	return nil
}

// maxQueueTTL is the largest x-expires RabbitMQ accepts (2^32-1 ms, about
// 49 days).
const maxQueueTTL = 1<<32 - 1

// checkAMQPURL accepts what amqp091-go dials: amqp:// or amqps://, with
// amqplib's defaults for what is left out (localhost, port 5672 or 5671,
// guest:guest, vhost "/") and its query options (heartbeat, ...).
func checkAMQPURL(v string) error {
	if v == "" {
		return nil
	}
	if _, err := amqp.ParseURI(v); err != nil {
		// The parser's message may quote the URL: not its password.
		msg := strings.ReplaceAll(err.Error(), v, redactURL(v))
		return fmt.Errorf("must be amqp://[user:password@]host[:port][/vhost] (or amqps://): %s", msg)
	}
	return nil
}

// exchangeSuffix is what the exchange name adds to RABBITMQ_ENV_PREFIX.
const exchangeSuffix = ".sse.events"

// checkExchangePrefix keeps the exchange name within AMQP's 255 bytes and out
// of the reserved amq. names.
func checkExchangePrefix(v string) error {
	if len(v)+len(exchangeSuffix) > 255 {
		return fmt.Errorf("longer than %d bytes (the exchange name is at most 255)", 255-len(exchangeSuffix))
	}
	if strings.HasPrefix(v, "amq.") {
		return errors.New("exchange names starting with amq. are reserved by the broker")
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return errors.New("must not contain NUL, CR or LF")
	}
	return nil
}

// redactURL masks the password of a URL, for logs and errors.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

// RedactedRabbitMQURL returns RABBITMQ_URL with its password masked, for logs.
func (c *Config) RedactedRabbitMQURL() string {
	if c.RabbitMQURL == "" {
		return "not configured"
	}
	return redactURL(c.RabbitMQURL)
}

// RedactedCallbackURL returns the callback URL with its query masked, for logs.
func (c *Config) RedactedCallbackURL() string {
	if c.CallbackURL == "" {
		return "not configured"
	}
	u, err := url.Parse(c.CallbackURL)
	if err != nil {
		return "<configured>"
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.User = nil
	return u.String()
}
