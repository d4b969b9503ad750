package rabbitbroker

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestLifecycle boots a broker, keeps a persistent message in a durable
// queue across Stop and Restart, runs rabbitmqctl against it, and checks that
// Close leaves no process or directory behind.
func TestLifecycle(t *testing.T) {
	b, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	vm := b.BrokerPID()
	if vm == 0 {
		t.Fatal("no broker PID in RABBITMQ_PID_FILE")
	}

	publishDurable(t, b.URL, "rabbitbroker.test", "kept")
	out, err := b.Ctl("list_queues", "--no-table-headers", "name", "durable", "messages")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out); len(got) != 3 || got[0] != "rabbitbroker.test" || got[1] != "true" || got[2] != "1" {
		t.Fatalf("list_queues = %q, want rabbitbroker.test true 1", out)
	}

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(vm) {
		t.Fatalf("broker VM %d still running after Stop", vm)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.Port), time.Second); err == nil {
		c.Close()
		t.Fatal("AMQP port still accepts after Stop")
	}
	if err := b.Stop(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("second Stop = %v, want ErrNotRunning", err)
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := getOne(t, b.URL, "rabbitbroker.test"); got != "kept" {
		t.Fatalf("after restart the queue holds %q, want kept", got)
	}

	dir, epmd := b.Dir, b.epmd.Process.Pid
	vm = b.BrokerPID()
	b.Close()
	closed = true
	if alive(vm) || alive(epmd) {
		t.Fatalf("processes left after Close: vm %d alive %v, epmd %d alive %v", vm, alive(vm), epmd, alive(epmd))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory %s left after Close", dir)
	}
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func publishDurable(t *testing.T, url, queue, body string) {
	t.Helper()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	dc, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{Body: []byte(body), DeliveryMode: amqp.Persistent})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("publish not confirmed: %v %v", ok, err)
	}
}

func getOne(t *testing.T, url, queue string) string {
	t.Helper()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("get %s: ok %v err %v", queue, ok, err)
	}
	return string(d.Body)
}
