package ceiling

import (
	"strings"
	"testing"
)

func TestSkipHeadAnySplit(t *testing.T) {
	heads := []string{
		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a HTTP/1.1\nHost: x\n\n",
		"GET /a HTTP/1.1\r\nHost: x\r\n\n",
	}
	for _, h := range heads {
		for k := 0; k <= len(h); k++ {
			l := &loop{headProg: make([]uint8, 1)}
			first := l.skipHead(0, []byte(h[:k]))
			second := l.skipHead(0, []byte(h[k:]))
			if first == second || (first && k != len(h)) {
				t.Fatalf("%q split %d: done %v then %v", h, k, first, second)
			}
		}
	}
	l := &loop{headProg: make([]uint8, 1)}
	if l.skipHead(0, []byte(strings.Repeat("GET / HTTP/1.1\r\nA: b\r\n", 10))) {
		t.Fatal("no blank line, yet head reported complete")
	}
}

func TestListenRefusesBadAddress(t *testing.T) {
	if err := New(Config{}).Listen("localhost:0"); err != ErrBadAddress {
		t.Fatalf("want ErrBadAddress, got %v", err)
	}
}
