package loadclient

import (
	"errors"
	"math/rand/v2"
	"time"

	"golang.org/x/sys/unix"
)

type cmdKind uint8

const (
	cmdOpen cmdKind = iota
	cmdResult
	cmdStop
	cmdCloseGroup
)

// command is how other goroutines talk to a poller.
type command struct {
	kind  cmdKind
	group int
	n     int
	reply chan Result
}

// cmdQueue is the command channel capacity: commands are rare (opens, result
// requests, stop), so a small buffer never blocks callers in practice.
const cmdQueue = 64

// maxCatchUp bounds how far connect pacing may run behind and then catch up
// in a burst (epoll_wait sleeps in whole milliseconds).
const maxCatchUp = 100 * time.Millisecond

// deadlineEntry is one pending timeout; entries are appended in time order.
type deadlineEntry struct {
	s  *stream
	at time.Time
}

// poller owns an epoll instance and the streams registered on it.
type poller struct {
	id      int
	cfg     Config
	req     []byte
	srcs    [][4]byte
	epfd    int
	wakefd  int
	cmds    chan command
	done    chan struct{}
	final   Result // set before done is closed
	endAt   time.Time
	buf     []byte
	events  []unix.EpollEvent
	streams []*stream // indexed by fd
	live    [MaxGroups]liveCounters
	hists   [MaxGroups]groupHists
	// Connect pacing: streams still to open per group, and the next slot.
	todo      [MaxGroups]int
	nextSlot  time.Time
	interval  time.Duration
	inFlight  int
	opened    int // connects started, for source address spreading
	connectQ  []deadlineEntry
	headQ     []deadlineEntry
	stopping  bool
	sockTotal int
	retryQ    retryQueue // shed streams waiting to re-open (Config.ReopenShed)
	rng       *rand.Rand // per-stream head bytes (Config.Head)
	free      []*slot    // Config.Track: slots without a connection, oldest first from freeHead
	freeHead  int
}

func newPoller(id int, cfg Config, req []byte, srcs [][4]byte, endAt time.Time) (*poller, error) {
	p := &poller{id: id, cfg: cfg, req: req, srcs: srcs, endAt: endAt, epfd: -1, wakefd: -1,
		cmds: make(chan command, cmdQueue), done: make(chan struct{}),
		buf: make([]byte, readBufferBytes), events: make([]unix.EpollEvent, epollBatch),
		rng: rand.New(rand.NewPCG(uint64(cfg.SourceOffset), uint64(id)))}
	for g := range p.hists {
		p.hists[g] = newGroupHists()
	}
	if cfg.Rate > 0 {
		p.interval = time.Duration(float64(time.Second) * float64(cfg.Pollers) / cfg.Rate)
	}
	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if p.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(p.epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.wakefd)}
	if err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, p.wakefd, &ev); err != nil {
		unix.Close(p.epfd)
		unix.Close(p.wakefd)
		return nil, err
	}
	return p, nil
}

// send posts a command and wakes the poller; after the poller exited it is a no-op.
func (p *poller) send(c command) bool {
	select {
	case <-p.done:
		return false
	case p.cmds <- c:
	}
	var one = [8]byte{1}
	unix.Write(p.wakefd, one[:])
	return true
}

// result asks the running poller for a copy of its results, or returns the
// final results once it stopped.
func (p *poller) result() (Result, error) {
	reply := make(chan Result, 1)
	if p.send(command{kind: cmdResult, reply: reply}) {
		select {
		case r := <-reply:
			return r, nil
		case <-p.done:
		}
	}
	return p.final, nil
}

// run is the poller goroutine.
func (p *poller) run() {
	defer close(p.done)
	defer p.shutdown()
	for !p.stopping {
		n, err := unix.EpollWait(p.epfd, p.events, p.waitMillis())
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for i := 0; i < n; i++ {
			p.handle(p.events[i])
		}
		p.drainCommands()
		now := time.Now()
		p.reopenDue(now)
		p.startConnects(now)
		p.expire(now)
		if now.After(p.endAt) {
			return
		}
	}
}

// waitMillis is how long epoll_wait may block: until the next connect slot,
// at most maxIdleWait.
func (p *poller) waitMillis() int {
	wait := maxIdleWait
	if p.pending() > 0 && p.inFlight < MaxInFlight {
		wait = min(wait, max(0, time.Until(p.nextSlot)))
	}
	if len(p.retryQ) > 0 {
		wait = min(wait, max(0, time.Until(p.retryQ[0])))
	}
	return int((wait + time.Millisecond - 1) / time.Millisecond)
}

func (p *poller) pending() int {
	n := 0
	for _, t := range p.todo {
		n += t
	}
	return n
}

func (p *poller) drainCommands() {
	for {
		select {
		case c := <-p.cmds:
			p.apply(c)
		default:
			return
		}
	}
}

func (p *poller) apply(c command) {
	switch c.kind {
	case cmdOpen:
		p.todo[c.group] += c.n
		p.live[c.group].requested.Add(int64(c.n))
	case cmdResult:
		c.reply <- p.snapshot()
	case cmdStop:
		p.stopping = true
	case cmdCloseGroup:
		p.closeGroup(c.group)
		c.reply <- Result{}
	}
}

func (p *poller) snapshot() Result {
	var r Result
	for g := range r.Groups {
		h := p.hists[g]
		r.Groups[g] = GroupResult{Counters: p.live[g].load(), Latency: h.latency.Snapshot(),
			Open: h.open.Snapshot(), Ready: h.ready.Snapshot(), HeartbeatGap: h.heartbeat.Snapshot()}
	}
	return r
}

// startConnects opens the streams whose pacing slot has come.
func (p *poller) startConnects(now time.Time) {
	for burst := 0; burst < connectBurst && p.inFlight < MaxInFlight; burst++ {
		g := p.nextGroup()
		if g < 0 || now.Before(p.nextSlot) {
			return
		}
		p.todo[g]--
		if p.interval > 0 {
			p.nextSlot = p.nextSlot.Add(p.interval)
			if floor := now.Add(-maxCatchUp); p.nextSlot.Before(floor) {
				p.nextSlot = floor
			}
		}
		p.connect(g, now)
	}
}

// nextGroup is the first group with streams still to open, or -1.
func (p *poller) nextGroup() int {
	for g, t := range p.todo {
		if t > 0 {
			return g
		}
	}
	return -1
}

// expire fails streams past their connect or handshake deadline. Entries of
// streams that moved on are dropped as they reach the front.
func (p *poller) expire(now time.Time) {
	p.connectQ = p.expireQueue(p.connectQ, now, stConnecting)
	p.headQ = p.expireQueue(p.headQ, now, stAwaitHead)
}

func (p *poller) expireQueue(q []deadlineEntry, now time.Time, state streamState) []deadlineEntry {
	i := 0
	for ; i < len(q); i++ {
		e := q[i]
		if e.s.state != state && !(state == stAwaitHead && e.s.state == stWriting) {
			continue
		}
		if now.Before(e.at) {
			break
		}
		p.fail(e.s, &p.live[e.s.group].timeouts)
	}
	if i == len(q) {
		return q[:0]
	}
	return q[i:]
}

// shutdown closes every stream and the poller's descriptors.
func (p *poller) shutdown() {
	for fd, s := range p.streams {
		if s != nil {
			p.closeStream(s)
			p.streams[fd] = nil
		}
	}
	p.final = p.snapshot()
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
