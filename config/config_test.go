package config

import (
	"io"
	"strings"
	"testing"
	"time"

	"ssegw/headstore"
	"ssegw/sse"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), 4, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "0.0.0.0:3000" || c.ControlAddr != "127.0.0.1:3001" || c.CallbackURL != "" ||
		c.CallbackTimeout != 5*time.Second || c.CallbackConcurrency != 256 || c.CallbackPipeline != 1 || c.MaxPendingConnects != 10000 ||
		c.MaxConnections != 0 || c.HeartbeatInterval != 15*time.Second || c.WriteBufferLimit != 1048576 ||
		c.HeaderTimeout != 10*time.Second || c.MaxHeaderBytes != 16384 || c.EventFormat != sse.Standard ||
		c.ShutdownTimeout != 10*time.Second || c.EventLoops != 4 || c.DrainWindow != 5*time.Second ||
		c.ConnectFailure != ConnectFailureRetry || c.DisconnectRetry != 60*time.Second ||
		c.HistorySize != 0 || c.HistoryTTL != 300*time.Second || c.HistoryMaxBytes != 64<<20 ||
		c.DisconnectRequest != headstore.Full {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadFlagWinsOverEnv(t *testing.T) {
	c, err := Load([]string{"--port", "4000", "--heartbeat-interval-seconds=2", "--event-format", "envelope"},
		env(map[string]string{"PORT": "5000", "HEARTBEAT_INTERVAL_SECONDS": "7", "CALLBACK_URL": "http://127.0.0.1:9/cb?secret=x"}), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "0.0.0.0:4000" || c.HeartbeatInterval != 2*time.Second || c.EventFormat != sse.Envelope {
		t.Fatalf("got %+v", c)
	}
	if c.CallbackURL != "http://127.0.0.1:9/cb?secret=x" || c.RedactedCallbackURL() != "http://127.0.0.1:9/cb?REDACTED" {
		t.Fatalf("callback %q %q", c.CallbackURL, c.RedactedCallbackURL())
	}
	c, err = Load(nil, env(map[string]string{"PORT": "5000", "LISTEN_ADDR": "127.0.0.1:6000"}), 2, io.Discard)
	if err != nil || c.ListenAddr != "127.0.0.1:6000" {
		t.Fatalf("LISTEN_ADDR: %v %+v", err, c)
	}
	for _, m := range []headstore.Mode{headstore.Full, headstore.URL, headstore.None} {
		c, err = Load([]string{"--disconnect-request", m.String()}, env(map[string]string{"DISCONNECT_REQUEST": "none"}), 2, io.Discard)
		if err != nil || c.DisconnectRequest != m {
			t.Fatalf("--disconnect-request %s over DISCONNECT_REQUEST=none: %v, %v", m, err, c.DisconnectRequest)
		}
	}
	if c, err = Load(nil, env(map[string]string{"DISCONNECT_REQUEST": "url"}), 2, io.Discard); err != nil || c.DisconnectRequest != headstore.URL {
		t.Fatalf("DISCONNECT_REQUEST=url: %v, %v", err, c.DisconnectRequest)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	f := func(args []string, e map[string]string, want string) {
		t.Helper()
		_, err := Load(args, env(e), 2, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Load(%v, %v) error %v, want mention of %q", args, e, err, want)
		}
	}
	f(nil, map[string]string{"PORT": "abc"}, "PORT")
	f(nil, map[string]string{"PORT": " 3000"}, "PORT")
	f(nil, map[string]string{"PORT": "0x10"}, "PORT")
	f(nil, map[string]string{"PORT": "70000"}, "PORT")
	f(nil, map[string]string{"HEARTBEAT_INTERVAL_SECONDS": "0"}, "HEARTBEAT_INTERVAL_SECONDS")
	f(nil, map[string]string{"HEARTBEAT_INTERVAL_SECONDS": "1.5"}, "HEARTBEAT_INTERVAL_SECONDS")
	f(nil, map[string]string{"CALLBACK_URL": "ftp://x"}, "CALLBACK_URL")
	f(nil, map[string]string{"CALLBACK_TIMEOUT_MS": "-1"}, "CALLBACK_TIMEOUT_MS")
	f(nil, map[string]string{"CALLBACK_PIPELINE": "0"}, "CALLBACK_PIPELINE")
	f(nil, map[string]string{"CALLBACK_PIPELINE": "65"}, "CALLBACK_PIPELINE")
	f(nil, map[string]string{"EVENT_FORMAT": "xml"}, "EVENT_FORMAT")
	f(nil, map[string]string{"DISCONNECT_REQUEST": "headers"}, "DISCONNECT_REQUEST")
	f(nil, map[string]string{"DISCONNECT_REQUEST": "URL"}, "DISCONNECT_REQUEST")
	f(nil, map[string]string{"DISCONNECT_REQUEST": " url"}, "DISCONNECT_REQUEST")
	f([]string{"--disconnect-request", "all"}, nil, "--disconnect-request")
	f(nil, map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL")
	f(nil, map[string]string{"LOG_FORMAT": "yaml"}, "LOG_FORMAT")
	f(nil, map[string]string{"MAX_CONNECTIONS": "many"}, "MAX_CONNECTIONS")
	f(nil, map[string]string{"CONTROL_ADDR": "0.0.0.0:3001"}, "CONTROL_TOKEN")
	f([]string{"--max-header-bytes", "12"}, nil, "--max-header-bytes")
	f(nil, map[string]string{"CONNECT_FAILURE": "Retry"}, "CONNECT_FAILURE")
	f(nil, map[string]string{"DISCONNECT_RETRY_SECONDS": "-1"}, "DISCONNECT_RETRY_SECONDS")
	f(nil, map[string]string{"HISTORY_SIZE": "-1"}, "HISTORY_SIZE")
	f(nil, map[string]string{"HISTORY_TTL_SECONDS": "0"}, "HISTORY_TTL_SECONDS")
	f(nil, map[string]string{"HISTORY_MAX_BYTES": "1e6"}, "HISTORY_MAX_BYTES")
	f([]string{"--nope"}, nil, "nope")
	if _, err := Load(nil, env(map[string]string{"CONTROL_ADDR": "0.0.0.0:3001", "CONTROL_TOKEN": "s"}), 2, io.Discard); err != nil {
		t.Fatalf("non-loopback control with token: %v", err)
	}
}

func TestBackendTroubleSettings(t *testing.T) {
	c, err := Load([]string{"--connect-failure", "status"}, env(map[string]string{"DISCONNECT_RETRY_SECONDS": "0"}), 2, io.Discard)
	if err != nil || c.ConnectFailure != ConnectFailureStatus || c.DisconnectRetry != 0 {
		t.Fatalf("got %v %+v", err, c)
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out strings.Builder
	if _, err := Load([]string{"--help"}, env(nil), 2, &out); err != ErrHelp {
		t.Fatalf("err %v", err)
	}
	for _, s := range settings(2) {
		if !strings.Contains(out.String(), "--"+FlagName(s.env)) || !strings.Contains(out.String(), s.env) {
			t.Fatalf("help lacks %s:\n%s", s.env, out.String())
		}
	}
}

func TestClusterSettings(t *testing.T) {
	c, err := Load(nil, env(nil), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != "" || c.NATSSubjectPrefix != "ssegw" || c.NodeID != 0 {
		t.Fatalf("cluster defaults: url %q prefix %q node %d", c.NATSURL, c.NATSSubjectPrefix, c.NodeID)
	}
	c, err = Load([]string{"--node-id", "7"}, env(map[string]string{
		"NATS_URL": "nats://127.0.0.1:4222, nats://127.0.0.2:4222", "NATS_SUBJECT_PREFIX": "prod.sse", "NODE_ID": "9"}), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSURL != "nats://127.0.0.1:4222, nats://127.0.0.2:4222" || c.NATSSubjectPrefix != "prod.sse" || c.NodeID != 7 {
		t.Fatalf("cluster settings: %+v", c)
	}
	for _, bad := range []map[string]string{
		{"NATS_URL": "http://127.0.0.1:4222"},
		{"NATS_URL": "127.0.0.1:4222"},
		{"NATS_URL": "nats://a:1,"},
		{"NATS_SUBJECT_PREFIX": "a..b"},
		{"NATS_SUBJECT_PREFIX": "a.*"},
		{"NATS_SUBJECT_PREFIX": "a b"},
		{"NATS_SUBJECT_PREFIX": "a.>"},
		{"NODE_ID": "0"},
		{"NODE_ID": "65536"},
		{"NODE_ID": "x"},
	} {
		_, err := Load(nil, env(bad), 2, io.Discard)
		var name string
		for k := range bad {
			name = k
		}
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("Load(%v): error %v, want one naming %s", bad, err, name)
		}
	}
}

func TestRabbitMQSettings(t *testing.T) {
	c, err := Load(nil, env(nil), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RabbitMQURL != "" || c.RabbitMQQueueTTL != 300000 || c.RabbitMQEnvPrefix != "" || c.RabbitMQAutoDelete {
		t.Fatalf("rabbitmq defaults: %+v", c)
	}
	if c.RedactedRabbitMQURL() != "not configured" {
		t.Fatalf("redacted empty url %q", c.RedactedRabbitMQURL())
	}
	c, err = Load([]string{"--rabbitmq-queue-ttl-ms", "60000"}, env(map[string]string{
		"RABBITMQ_URL": "amqp://app:s3cret@127.0.0.1:5672/vh?heartbeat=5", "RABBITMQ_QUEUE_TTL_MS": "1000",
		"RABBITMQ_ENV_PREFIX": "staging", "RABBITMQ_ENV_AUTO_DELETE": "true"}), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RabbitMQURL != "amqp://app:s3cret@127.0.0.1:5672/vh?heartbeat=5" || c.RabbitMQQueueTTL != 60000 ||
		c.RabbitMQEnvPrefix != "staging" || !c.RabbitMQAutoDelete {
		t.Fatalf("rabbitmq settings: %+v", c)
	}
	if r := c.RedactedRabbitMQURL(); strings.Contains(r, "s3cret") || !strings.Contains(r, "127.0.0.1:5672") {
		t.Fatalf("redacted url %q", r)
	}
	for _, bad := range []map[string]string{
		{"RABBITMQ_URL": "http://127.0.0.1:5672"},
		{"RABBITMQ_URL": "amqp://127.0.0.1:port"},
		{"RABBITMQ_URL": "amqp://127.0.0.1/?heartbeat=x"},
		{"RABBITMQ_QUEUE_TTL_MS": "0"},
		{"RABBITMQ_QUEUE_TTL_MS": "-5"},
		{"RABBITMQ_QUEUE_TTL_MS": "1e3"},
		{"RABBITMQ_QUEUE_TTL_MS": "4294967296"},
		{"RABBITMQ_ENV_PREFIX": "amq.x"},
		{"RABBITMQ_ENV_PREFIX": strings.Repeat("p", 245)},
		{"RABBITMQ_ENV_PREFIX": "a\nb"},
		{"RABBITMQ_ENV_AUTO_DELETE": "1"},
		{"RABBITMQ_ENV_AUTO_DELETE": "TRUE"},
	} {
		_, err := Load(nil, env(bad), 2, io.Discard)
		var name string
		for k := range bad {
			name = k
		}
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("Load(%v): error %v, want one naming %s", bad, err, name)
		}
	}
	// A bad URL's password is not repeated in the error.
	_, err = Load(nil, env(map[string]string{"RABBITMQ_URL": "amqp://u:hunter2@h:bad/"}), 2, io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v shows the password", err)
	}
	if _, err := Load(nil, env(map[string]string{"RABBITMQ_ENV_PREFIX": strings.Repeat("p", 244), "RABBITMQ_QUEUE_TTL_MS": "4294967295"}), 2, io.Discard); err != nil {
		t.Fatalf("longest prefix, largest TTL: %v", err)
	}
}
