package scenario

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"ssegw/bench/gwproc"
	"ssegw/bench/loadclient"
	"ssegw/bench/procstat"
)

const (
	// DefaultRollingRate is the rolling restart's publishes per second.
	DefaultRollingRate = 5
	// DefaultRollingDuration is how long the rolling restart publishes.
	DefaultRollingDuration = 60 * time.Second
	// DefaultRollingGateways is how many gateways share the port.
	DefaultRollingGateways = 3
	// DefaultRollingDrainWindow is DRAIN_WINDOW_MS of the cluster's
	// gateways: the drained streams' retry hints spread them over it.
	DefaultRollingDrainWindow = 2 * time.Second
	// rollingSettleBudget bounds the wait, after the last publish, until
	// every stream is open again and saw the last publish.
	rollingSettleBudget = 60 * time.Second
	// streamsOpenMetric is the gateway's open stream gauge.
	streamsOpenMetric = "ssegw_streams_open"
)

// resumeGateway is a gateway started by a resume scenario.
type resumeGateway struct {
	*gwproc.Gateway
	listen netip.AddrPort
}

// startResumeGateway starts exe on free loopback ports (listen "" picks one).
func startResumeGateway(ctx context.Context, exe string, env []string) (*resumeGateway, error) {
	return startGatewayOn(ctx, exe, "", env)
}

func startGatewayOn(ctx context.Context, exe, listen string, env []string) (*resumeGateway, error) {
	var err error
	if listen == "" {
		if listen, err = gwproc.FreePort(); err != nil {
			return nil, err
		}
	}
	control, err := gwproc.FreePort()
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, err
	}
	g, err := gwproc.StartGateway(ctx, exe, listen, control, env)
	if err != nil {
		return nil, err
	}
	return &resumeGateway{Gateway: g, listen: ap}, nil
}

// RollingConfig configures the cluster rolling restart: Gateways gateways
// sharing one public port (SO_REUSEPORT) in cluster mode with history in
// JetStream, N streams, publishing at PublishRate for Duration through the
// control ports of the gateways that are up, while each gateway in turn is
// stopped with SIGTERM (it drains: its streams get a retry hint and end),
// waited for and started again. Streams come back by themselves with their
// Last-Event-ID (loadclient Config.ReconnectAll), on whichever gateway the
// kernel hands them to.
type RollingConfig struct {
	Common
	GatewayExe  string
	CallbackURL string // the bench backend (bindings: ResumeChannel)
	// BrokerDir is the embedded broker's JetStream store ("": a temporary
	// directory, removed at the end).
	BrokerDir    string
	Gateways     int
	PublishRate  float64
	Duration     time.Duration
	PhaseTimeout time.Duration // bound on the first connect
	DrainWindow  time.Duration // DRAIN_WINDOW_MS of every gateway
	HistoryEnv   []string      // HISTORY_SIZE=... and so on
	GatewayEnv   []string      // anything else (EVENT_LOOPS=...)
}

// RestartRecord is one gateway's restart.
type RestartRecord struct {
	Gateway     int     `json:"gateway"`
	At          float64 `json:"at_seconds"`   // since publishing started
	ExitSeconds float64 `json:"exit_seconds"` // SIGTERM to exit (the drain)
	Exit        string  `json:"exit"`         // "ok" or the error
	UpSeconds   float64 `json:"up_seconds"`   // SIGTERM to /readyz of the new process
	StreamsHeld float64 `json:"streams_held"` // its open streams just before SIGTERM
}

// RollingReport is the outcome of the rolling restart.
type RollingReport struct {
	Scenario        string              `json:"scenario"`
	Streams         int                 `json:"streams"`
	Gateways        int                 `json:"gateways"`
	Procs           int                 `json:"client_procs"`
	PublishRate     float64             `json:"publish_rate"`
	Duration        time.Duration       `json:"duration_ns"`
	Connect         StormPhase          `json:"connect"`
	Restarts        []RestartRecord     `json:"restarts"`
	Tracked         Tracked             `json:"tracked"`
	PublishErrors   int64               `json:"publish_errors"`
	LastPublishErr  string              `json:"last_publish_error,omitempty"`
	PublishAchieved float64             `json:"publish_rate_achieved"` // successful publishes per second
	Reconnects      int64               `json:"reconnects"`            // streams re-opened by the clients
	SettleSeconds   float64             `json:"settle_seconds"`        // last publish until all streams open and caught up
	OpenAtEnd       int64               `json:"open_at_end"`
	StreamsPerGW    []float64           `json:"streams_per_gateway_end"`
	ServerReplayed  float64             `json:"server_replayed_messages"` // summed over the gateways' last processes
	GatewayExits    []string            `json:"gateway_exits"`            // the final stop of each
	Clients         loadclient.Counters `json:"clients"`
}

// RollingRestart runs the cluster rolling restart.
func RollingRestart(ctx context.Context, cfg RollingConfig) (rep *RollingReport, err error) {
	if cfg.GatewayExe == "" {
		return nil, ErrNoGateway
	}
	if cfg.Client.Rate == 0 {
		cfg.Client.Rate = DefaultRate
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.PublishRate <= 0 || cfg.Duration <= 0 {
		return nil, ErrBadPublishRate
	}
	if cfg.Gateways <= 0 {
		cfg.Gateways = DefaultRollingGateways
	}
	cfg.PhaseTimeout = orDur(cfg.PhaseTimeout, DefaultStormTimeout)
	cfg.DrainWindow = orDur(cfg.DrainWindow, DefaultRollingDrainWindow)
	rep = &RollingReport{Scenario: "rolling", Streams: cfg.Streams, Gateways: cfg.Gateways,
		PublishRate: cfg.PublishRate, Duration: cfg.Duration}

	dir := cfg.BrokerDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ssegw-bench-js-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	broker, err := gwproc.StartBroker(dir)
	if err != nil {
		return nil, err
	}
	defer broker.Close()
	env := append([]string{"CALLBACK_URL=" + cfg.CallbackURL, "NATS_URL=" + broker.URL(), "LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT_SECONDS=" + resumeGatewayShutdown,
		fmt.Sprintf("DRAIN_WINDOW_MS=%d", cfg.DrainWindow.Milliseconds())}, cfg.GatewayEnv...)
	env = append(env, cfg.HistoryEnv...)
	var gws []*resumeGateway
	defer func() {
		for _, g := range gws {
			rep.GatewayExits = append(rep.GatewayExits, exitText(g.Stop()))
		}
	}()
	listen := ""
	for range cfg.Gateways {
		g, err := startGatewayOn(ctx, cfg.GatewayExe, listen, env)
		if err != nil {
			return rep, err
		}
		gws = append(gws, g)
		listen = g.listen.String()
	}
	common := cfg.Common
	common.Client.Target = gws[0].listen
	common.Client.Track, common.Client.ReopenShed, common.Client.ReconnectAll = true, true, true
	common.Client.ReopenGroup = groupAgain
	common.ServerPID, common.MetricsURL = 0, ""
	r, err := start(ctx, &common, "rolling")
	if err != nil {
		return rep, err
	}
	rep.Procs = r.fleet.Procs()
	err = r.rolling(ctx, &cfg, gws, rep)
	out, ferr := r.finish()
	if err == nil {
		err = ferr
	}
	rep.Clients = out.Groups[groupFirst].Counters
	rep.Clients.Add(out.Groups[groupAgain].Counters)
	rep.Reconnects = out.Groups[groupAgain].Counters.Reopened
	return rep, err
}

func (r *run) rolling(ctx context.Context, cfg *RollingConfig, gws []*resumeGateway, rep *RollingReport) error {
	storm := &StormConfig{Common: *r.c, PhaseTimeout: cfg.PhaseTimeout}
	ph, err := r.stormPhase(ctx, storm, "connect")
	rep.Connect = ph
	if err != nil {
		return err
	}
	if !ph.AllReady {
		return fmt.Errorf("%w: %d of %d streams ready", ErrOpenStuck, ph.Ready, ph.Streams)
	}
	controls := make([]string, len(gws))
	for i, g := range gws {
		controls[i] = g.ControlURL()
	}
	pub := newSeqPublisher(controls...)
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(pubDone)
		pub.run(ctx, cfg.PublishRate, t0.Add(cfg.Duration), stop)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-pubDone
	}()
	r.setStatus("publishing")
	// Gateway i is restarted at (i+1)/(n+1) of the publishing time.
	for i, g := range gws {
		at := t0.Add(cfg.Duration * time.Duration(i+1) / time.Duration(len(gws)+1))
		if err := SleepCtx(ctx, time.Until(at)); err != nil {
			return err
		}
		r.setStatus(fmt.Sprintf("restarting gateway %d", i))
		rec := RestartRecord{Gateway: i, At: time.Since(t0).Seconds()}
		rec.StreamsHeld, _ = procstat.ScrapeGauge(ctx, g.ControlURL()+"/metrics", streamsOpenMetric)
		pub.down[i].Store(true)
		t1 := time.Now()
		exitTook, err := g.Restart(ctx)
		rec.ExitSeconds, rec.UpSeconds = exitTook.Seconds(), time.Since(t1).Seconds()
		rec.Exit = "ok"
		if err != nil {
			rec.Exit = err.Error()
		}
		pub.down[i].Store(false)
		rep.Restarts = append(rep.Restarts, rec)
		if err != nil {
			return err
		}
		r.setStatus("publishing")
	}
	<-pubDone
	tEnd := time.Now()
	r.setStatus("settle")
	var cs [loadclient.MaxGroups]loadclient.Counters
	var t Tracked
	err = waitUntil(ctx, rollingSettleBudget, func() (bool, error) {
		var err error
		if cs, err = r.fleet.Counters(); err != nil {
			return false, err
		}
		t = tracked(cs, pub.last.Load())
		return t.Missing == 0 && cs[groupFirst].Active+cs[groupAgain].Active >= int64(cfg.Streams), nil
	})
	rep.SettleSeconds = time.Since(tEnd).Seconds()
	rep.Tracked, rep.PublishErrors, rep.LastPublishErr = t, pub.errs.Load(), pub.lastError()
	rep.PublishAchieved = pub.achieved()
	rep.OpenAtEnd = cs[groupFirst].Active + cs[groupAgain].Active
	for _, g := range gws {
		n, _ := procstat.ScrapeGauge(ctx, g.ControlURL()+"/metrics", streamsOpenMetric)
		rep.StreamsPerGW = append(rep.StreamsPerGW, n)
		rp, _ := procstat.ScrapeGauge(ctx, g.ControlURL()+"/metrics", replayedMessagesMetric)
		rep.ServerReplayed += rp
	}
	if err == context.DeadlineExceeded {
		err = nil // reported: Missing or OpenAtEnd
	}
	return err
}

// WriteTable prints the summary table.
func (s *RollingReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "rolling restart: %d gateways on one port (JetStream history), %d streams, %d client process(es), %.0f publishes/s for %v\n",
		s.Gateways, s.Streams, s.Procs, s.PublishRate, s.Duration)
	fmt.Fprintf(w, "  connect: %d ready in %.2fs\n", s.Connect.Ready, s.Connect.Seconds)
	for _, r := range s.Restarts {
		fmt.Fprintf(w, "  gateway %d at %.1fs: held %.0f streams, exited in %.2fs (%s), ready again after %.2fs\n",
			r.Gateway, r.At, r.StreamsHeld, r.ExitSeconds, r.Exit, r.UpSeconds)
	}
	writeTracked(w, s.Tracked, s.PublishErrors, s.LastPublishErr)
	fmt.Fprintf(w, "  publishes achieved %.1f/s (asked %.0f/s)\n", s.PublishAchieved, s.PublishRate)
	fmt.Fprintf(w, "  reconnects %d; all open and caught up %.2fs after the last publish (open %d); streams per gateway at the end %v\n",
		s.Reconnects, s.SettleSeconds, s.OpenAtEnd, s.StreamsPerGW)
	fmt.Fprintf(w, "  replayed events (gateways' current processes) %.0f; final gateway exits %v\n", s.ServerReplayed, s.GatewayExits)
	writeCounters(w, s.Clients, 0)
}
