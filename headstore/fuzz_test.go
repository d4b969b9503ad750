package headstore

import (
	"bytes"
	"testing"
)

// FuzzKeepTake round-trips random heads through one store: the input is
// several heads separated by NUL bytes (which no head holds), each kept
// three times so that its pieces and blocks get shared, then taken back in
// an order the input picks. Every head must come back exact, and the table
// must be empty at the end. Tight limits on every other input make the
// table refuse pieces as well. For heads the parser accepts, URL mode must
// keep exactly the parser's request-target.
func FuzzKeepTake(f *testing.F) {
	f.Add([]byte("GET /events?room=1 HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n\x00" +
		"GET /events?room=2 HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		heads := bytes.Split(data, []byte{0})
		if len(heads) > 64 {
			heads = heads[:64]
		}
		l := defaultLimits
		if len(data)%2 == 1 {
			l = limits{pieces: 3, bytes: 64, minPiece: 1}
		}
		s := newStore(Full, l)
		type kept struct {
			head, kept []byte
		}
		var all []kept
		for range 3 {
			for _, h := range heads {
				k := s.Keep(h)
				if got := s.Restore(k); !bytes.Equal(got, h) {
					t.Fatalf("restored %q, want %q", got, h)
				}
				if got, want := s.Target(k), target(h); !bytes.Equal(got, want) {
					t.Fatalf("Target %q, want %q", got, want)
				}
				all = append(all, kept{h, k})
			}
		}
		// Take back in an order drawn from the input: walk with a stride.
		stride := 1
		if len(data) > 0 {
			stride = int(data[0])%7 + 1
		}
		taken := make([]bool, len(all))
		for i, n := 0, 0; n < len(all); i = (i + stride) % len(all) {
			for taken[i] {
				i = (i + 1) % len(all)
			}
			taken[i] = true
			n++
			if got := s.Take(all[i].kept); !bytes.Equal(got, all[i].head) {
				t.Fatalf("taken %q, want %q", got, all[i].head)
			}
		}
		if st := s.Stats(); st != (Stats{}) {
			t.Fatalf("table not empty after every head was taken: %+v", st)
		}
		u := New(URL)
		for _, h := range heads {
			checkTarget(t, h)
			if got, want := u.Take(u.Keep(h)), target(h); !bytes.Equal(got, want) {
				t.Fatalf("URL mode: %q, want %q", got, want)
			}
		}
	})
}
