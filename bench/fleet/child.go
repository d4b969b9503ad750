package fleet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"ssegw/bench/loadclient"
)

const (
	// replyTimeout bounds the wait for one child reply; a child answers from
	// memory, so anything slower means it is stuck or gone.
	replyTimeout = 30 * time.Second
	// exitTimeout bounds the wait for a child to exit after "close" (it
	// closes up to 15,000 sockets first).
	exitTimeout = 30 * time.Second
	// maxReplyBytes bounds one reply line (a result holds sparse histograms).
	maxReplyBytes = 16 << 20
	// WorkerCommand is the subcommand a child runs.
	WorkerCommand = "worker"
)

// Spawn says how to start a child: Path with Args, plus Env added to ours.
type Spawn struct {
	Path string
	Args []string
	Env  []string
}

// DefaultSpawn starts this same executable as "worker".
func DefaultSpawn() *Spawn {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return &Spawn{Path: exe, Args: []string{WorkerCommand}}
}

// request is one line to a child.
type request struct {
	Op     string             `json:"op"` // config, open, closegroup, counters, result, close
	Config *loadclient.Config `json:"config,omitempty"`
	Group  int                `json:"group,omitempty"`
	N      int                `json:"n,omitempty"`
}

// reply is one line from a child.
type reply struct {
	Error    string                                     `json:"error,omitempty"`
	Counters *[loadclient.MaxGroups]loadclient.Counters `json:"counters,omitempty"`
	Result   *loadclient.Result                         `json:"result,omitempty"`
}

// child is a worker process driven over its stdin/stdout.
type child struct {
	mu      sync.Mutex // one round trip at a time
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan []byte
	final   *loadclient.Result
}

func startChild(cfg loadclient.Config, sp *Spawn) (*child, error) {
	cmd := exec.Command(sp.Path, sp.Args...)
	cmd.Env = append(os.Environ(), sp.Env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, replies: make(chan []byte, 1)}
	go c.readReplies(stdout)
	if _, err := c.roundTrip(request{Op: "config", Config: &cfg}); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// readReplies is the child's reader goroutine: one line per reply.
func (c *child) readReplies(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxReplyBytes)
	for sc.Scan() {
		c.replies <- append([]byte(nil), sc.Bytes()...)
	}
	close(c.replies)
}

func (c *child) roundTrip(req request) (reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rep reply
	b, _ := json.Marshal(req)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		return rep, fmt.Errorf("%w: pid %d: %v", ErrWorker, c.cmd.Process.Pid, err)
	}
	t := time.NewTimer(replyTimeout)
	defer t.Stop()
	select {
	case line, ok := <-c.replies:
		if !ok {
			return rep, fmt.Errorf("%w: pid %d exited", ErrWorker, c.cmd.Process.Pid)
		}
		if err := json.Unmarshal(line, &rep); err != nil {
			return rep, fmt.Errorf("%w: pid %d: bad reply: %v", ErrWorker, c.cmd.Process.Pid, err)
		}
	case <-t.C:
		return rep, fmt.Errorf("%w: pid %d: no reply in %v", ErrWorker, c.cmd.Process.Pid, replyTimeout)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("%w: pid %d: %s", ErrWorker, c.cmd.Process.Pid, rep.Error)
	}
	return rep, nil
}

func (c *child) Open(g, n int) error {
	_, err := c.roundTrip(request{Op: "open", Group: g, N: n})
	return err
}

func (c *child) CloseGroup(g int) error {
	_, err := c.roundTrip(request{Op: "closegroup", Group: g})
	return err
}

func (c *child) Counters() ([loadclient.MaxGroups]loadclient.Counters, error) {
	rep, err := c.roundTrip(request{Op: "counters"})
	if err != nil || rep.Counters == nil {
		return [loadclient.MaxGroups]loadclient.Counters{}, orWorker(err)
	}
	return *rep.Counters, nil
}

func (c *child) Result() (loadclient.Result, error) {
	if c.final != nil {
		return *c.final, nil
	}
	rep, err := c.roundTrip(request{Op: "result"})
	if err != nil || rep.Result == nil {
		return loadclient.Result{}, orWorker(err)
	}
	return *rep.Result, nil
}

func orWorker(err error) error {
	if err != nil {
		return err
	}
	return ErrWorker
}

// Close asks the child to close its streams, keeps its final result (so
// Result still answers), and waits for it to exit.
func (c *child) Close() error {
	if c.final != nil {
		return nil
	}
	rep, err := c.roundTrip(request{Op: "close"})
	if err == nil && rep.Result != nil {
		c.final = rep.Result
	}
	c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case werr := <-done:
		if err == nil {
			err = werr
		}
	case <-time.After(exitTimeout):
		c.kill()
		<-done
		err = fmt.Errorf("%w: pid %d did not exit", ErrWorker, c.cmd.Process.Pid)
	}
	return err
}

// PID is the child's process id.
func (c *child) PID() int { return c.cmd.Process.Pid }

// kill ends this child (by its own PID, nothing else).
func (c *child) kill() {
	c.cmd.Process.Kill()
}

// RunWorker is the child side: it reads the config line, then serves
// commands until "close" or the end of stdin (parent gone), and always closes
// its client before returning.
func RunWorker(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxReplyBytes)
	enc := json.NewEncoder(out)
	var client *loadclient.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			enc.Encode(reply{Error: err.Error()})
			continue
		}
		rep, stop := serve(&client, req)
		if err := enc.Encode(rep); err != nil {
			return err
		}
		if stop {
			return nil
		}
	}
	return sc.Err()
}

// serve runs one command for RunWorker.
func serve(client **loadclient.Client, req request) (reply, bool) {
	if req.Op == "config" {
		if *client != nil || req.Config == nil {
			return reply{Error: "config must come first, once"}, false
		}
		c, err := loadclient.New(*req.Config)
		if err != nil {
			return reply{Error: err.Error()}, true
		}
		*client = c
		return reply{}, false
	}
	c := *client
	if c == nil {
		return reply{Error: "no config"}, false
	}
	switch req.Op {
	case "open":
		if err := c.Open(req.Group, req.N); err != nil {
			return reply{Error: err.Error()}, false
		}
		return reply{}, false
	case "closegroup":
		if err := c.CloseGroup(req.Group); err != nil {
			return reply{Error: err.Error()}, false
		}
		return reply{}, false
	case "counters":
		var cs [loadclient.MaxGroups]loadclient.Counters
		for g := range cs {
			cs[g] = c.Counters(g)
		}
		return reply{Counters: &cs}, false
	case "result", "close":
		if req.Op == "close" {
			c.Close()
		}
		r, err := c.Result()
		if err != nil {
			return reply{Error: err.Error()}, req.Op == "close"
		}
		r.CPUSeconds = selfCPU()
		return reply{Result: &r}, req.Op == "close"
	}
	return reply{Error: "unknown op " + req.Op}, false
}
