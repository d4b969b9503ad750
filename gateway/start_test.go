package gateway_test

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"ssegw/config"
	"ssegw/gateway"
)

// TestStartOnATakenPort: a public port another socket holds is reported as
// the bind error it is (gnet alone reported "setsockopt: bad file
// descriptor", the keepalive option it set on the descriptor its failed open
// had closed).
func TestStartOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := map[string]string{"LISTEN_ADDR": ln.Addr().String(), "CONTROL_ADDR": "127.0.0.1:0", "EVENT_LOOPS": "2"}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.Start(cfg, gateway.Capacity{FDLimit: 1024, MaxSockets: 100, MaxConnections: 90}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		g.Kill()
		t.Fatal("started on a taken port")
	}
	if !strings.Contains(err.Error(), "bind: address already in use") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("error %q, want the address and its bind error", err)
	}
}
