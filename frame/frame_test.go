package frame

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"ssegw/sse"
)

// checkChunk asserts that fr holds msg as one well-formed HTTP/1.1 chunk and
// as the bare message.
func checkChunk(t *testing.T, fr *Frame, msg []byte) {
	t.Helper()
	want := strconv.FormatInt(int64(len(msg)), 16) + "\r\n" + string(msg) + "\r\n"
	if got := string(fr.Bytes(true)); got != want {
		t.Fatalf("chunk of %d bytes:\n got %q\nwant %q", len(msg), trunc(got), trunc(want))
	}
	if !bytes.Equal(fr.Bytes(false), msg) {
		t.Fatalf("bare message of %d bytes differs", len(msg))
	}
	if !bytes.Equal(fr.Message(), msg) {
		t.Fatalf("Message of %d bytes differs", len(msg))
	}
	if fr.Size() < len(want)+frameHeader {
		t.Fatalf("Size %d below chunk %d + header %d", fr.Size(), len(want), frameHeader)
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-40:]
	}
	return s
}

// Every hex-digit boundary of the length prefix, and the empty message.
func TestNewRawChunkPrefix(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 255, 256, 4095, 4096, 65535, 65536, 1 << 20} {
		msg := bytes.Repeat([]byte{'x'}, n)
		for _, fr := range []*Frame{NewRaw(msg), NewCompactRaw(msg)} {
			checkChunk(t, fr, msg)
			fr.Release()
		}
	}
}

// NewRaw copies: changing the caller's bytes afterwards changes nothing.
func TestNewRawCopies(t *testing.T) {
	msg := []byte("data: a\n\n")
	fr := NewRaw(msg)
	defer fr.Release()
	msg[6] = 'b'
	checkChunk(t, fr, []byte("data: a\n\n"))
}

// New encodes exactly what sse.AppendEvent does, in both formats.
func TestNewMatchesAppendEvent(t *testing.T) {
	evs := []sse.Event{
		{Data: ""},
		{Name: "update", Data: "a\nb"},
		{Name: "n", Data: strings.Repeat("z", 5000), ID: "42", HasID: true, Retry: 3000, HasRetry: true},
	}
	for _, f := range []sse.Format{sse.Standard, sse.Envelope} {
		for i := range evs {
			for _, fr := range []*Frame{New(&evs[i], f), NewCompact(&evs[i], f)} {
				checkChunk(t, fr, sse.AppendEvent(nil, &evs[i], f))
				fr.Release()
			}
		}
	}
}

// The last Release returns the buffer: a frame that is still referenced keeps
// its bytes however many frames are made and released meanwhile.
func TestRetainRelease(t *testing.T) {
	fr := NewRaw([]byte("data: keep\n\n"))
	fr.Retain(2)
	fr.Release()
	fr.Release()
	for i := range 100 {
		o := NewRaw([]byte(fmt.Sprintf("data: other %d\n\n", i)))
		o.Release()
	}
	checkChunk(t, fr, []byte("data: keep\n\n"))
	fr.Release()
	if fr.b != nil || fr.pb != nil {
		t.Fatal("the last Release kept the buffer")
	}
}

// A compact frame holds a buffer of its message's size, not a pooled one
// sized for the pool's typical message, and nothing of the pool.
func TestCompactIsSmaller(t *testing.T) {
	ev := sse.Event{Name: "message", Data: strings.Repeat("m", 100)}
	// Calibrate the pool as a gateway's would be: mostly larger messages.
	big := sse.Event{Data: strings.Repeat("b", 3000)}
	for range 2000 {
		New(&big, sse.Standard).Release()
	}
	pooled, compact := New(&ev, sse.Standard), NewCompact(&ev, sse.Standard)
	defer pooled.Release()
	defer compact.Release()
	if compact.pb != nil || compact.chunkStart != 0 {
		t.Fatal("compact frame still pooled")
	}
	if compact.Size() >= pooled.Size() || compact.Size() > len(compact.Bytes(true))+frameHeader+16 {
		t.Fatalf("compact %d bytes, pooled %d, chunk %d", compact.Size(), pooled.Size(), len(compact.Bytes(true)))
	}
}

// Loops release concurrently; exactly one of them returns the buffer.
func TestConcurrentRelease(t *testing.T) {
	const holders = 8
	for i := range 200 {
		fr := NewRaw([]byte("data: x\n\n"))
		if i%2 == 1 {
			fr = compact(fr)
		}
		fr.Retain(holders - 1)
		var wg sync.WaitGroup
		for range holders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = fr.Bytes(true)[0]
				fr.Release()
			}()
		}
		wg.Wait()
		if fr.b != nil || fr.refs.Load() != 0 {
			t.Fatalf("after %d releases: refs %d, buffer kept %v", holders, fr.refs.Load(), fr.b != nil)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	ev := sse.Event{Name: "update", Data: `{"id":123,"text":"hello world"}`}
	b.ReportAllocs()
	for b.Loop() {
		New(&ev, sse.Standard).Release()
	}
}

func BenchmarkNewCompact(b *testing.B) {
	ev := sse.Event{Name: "update", Data: `{"id":123,"text":"hello world"}`}
	b.ReportAllocs()
	for b.Loop() {
		NewCompact(&ev, sse.Standard).Release()
	}
}
