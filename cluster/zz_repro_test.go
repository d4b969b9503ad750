package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"ssegw/config"
	"ssegw/gateway"
)

func TestReproEBADF(t *testing.T) {
	if os.Getenv("REPRO") == "" {
		t.Skip()
	}
	be := startBackend(t, "news")
	for i := 0; i < 60; i++ {
		var gs []*gateway.Gateway
		for k := 0; k < 3; k++ {
			base := map[string]string{
				"LISTEN_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0", "HEARTBEAT_INTERVAL_SECONDS": "60",
				"EVENT_LOOPS": "2", "SHUTDOWN_TIMEOUT_SECONDS": "5", "DRAIN_WINDOW_MS": "0", "CALLBACK_URL": be.url(),
			}
			cfg, err := config.Load(nil, func(k string) string { return base[k] }, 2, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			capacity, _ := gateway.RaiseFDLimit(cfg)
			g, err := gateway.Start(cfg, capacity, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
			if err != nil {
				t.Fatalf("iteration %d gateway %d: %v", i, k, err)
			}
			gs = append(gs, g)
		}
		for _, g := range gs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			g.Shutdown(ctx)
			cancel()
		}
	}
}
