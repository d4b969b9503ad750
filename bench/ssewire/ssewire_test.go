package ssewire

import (
	"strings"
	"testing"
)

func TestAppendFrameContractBytes(t *testing.T) {
	retry := int64(3000)
	cases := []struct {
		ev   Event
		want string
	}{
		{Event{Data: "x"}, "data: x\n\n"},
		{Event{Data: ""}, "data: \n\n"},
		{Event{Name: "tick", ID: "7", Retry: &retry, Data: "a\r\nb\rc\nd"},
			"id: 7\nevent: tick\nretry: 3000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"},
		{Event{Data: "end\n"}, "data: end\ndata: \n\n"},
	}
	for _, c := range cases {
		if got := string(AppendFrame(nil, &c.ev)); got != c.want {
			t.Errorf("%+v: got %q want %q", c.ev, got, c.want)
		}
	}
	if got := string(AppendChunk(nil, []byte(Heartbeat))); got != "d\r\n: heartbeat\n\n\r\n" {
		t.Fatalf("chunk %q", got)
	}
}

func TestDecodePublish(t *testing.T) {
	if _, err := DecodePublish(strings.NewReader(`{"event":{"data":"x"}}`)); err != ErrChannelMissing {
		t.Fatalf("got %v", err)
	}
	if _, err := DecodePublish(strings.NewReader(`{"channel":"c"}`)); err != ErrEventData {
		t.Fatalf("got %v", err)
	}
	p, err := DecodePublish(strings.NewReader(`{"channel":"c","event":{"name":"n","data":"d"}}`))
	if err != nil || p.Channel != "c" || p.Event.Name != "n" || p.Event.Data != "d" {
		t.Fatalf("%+v %v", p, err)
	}
}
