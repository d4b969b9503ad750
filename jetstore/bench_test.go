package jetstore_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkPublish: a chained publish (one round trip to the embedded
// broker, file storage) against a plain JetStream publish of the same bytes
// to the same stream in the same run, one channel and 1,000 channels.
func BenchmarkPublish(b *testing.B) {
	msg := []byte(`event: message` + "\n" + `data: {"user":"u000001","text":"hello there, this is a message"}` + "\n\n")
	for _, channels := range []int{1, 1000} {
		br := startBroker(b)
		nc := br.connect(b)
		o := defaults
		o.MaxBytes = 1 << 30
		s := open(b, nc, o)
		js, _ := jetstream.New(nc)
		names := make([]string, channels)
		for i := range names {
			names[i] = fmt.Sprint("channel-", i)
		}
		b.Run(fmt.Sprintf("chained/%d-channels", channels), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := s.Publish(b.Context(), names[i%channels], msg, false); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("plain-baseline/%d-channels", channels), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := js.Publish(b.Context(), "ssegw.hist.plain-"+names[i%channels], msg); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
