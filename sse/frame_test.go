package sse

import "testing"

func TestAppendEventStandard(t *testing.T) {
	f := func(ev Event, want string) {
		t.Helper()
		if got := string(AppendEvent(nil, &ev, Standard)); got != want {
			t.Fatalf("AppendEvent(%+v)\n got %q\nwant %q", ev, got, want)
		}
	}
	f(Event{Data: "Hello"}, "data: Hello\n\n")
	f(Event{Data: ""}, "data: \n\n")
	f(Event{Name: "", Data: "x"}, "data: x\n\n")
	f(Event{Name: "update", Data: "x"}, "event: update\ndata: x\n\n")
	f(Event{Data: "a\nb"}, "data: a\ndata: b\n\n")
	f(Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n")
	f(Event{Data: "a\rb"}, "data: a\ndata: b\n\n")
	f(Event{Data: "a\n"}, "data: a\ndata: \n\n")
	f(Event{Data: "\n\n"}, "data: \ndata: \ndata: \n\n")
	f(Event{Data: "\r\r\n"}, "data: \ndata: \ndata: \n\n")
	f(Event{Data: "\na"}, "data: \ndata: a\n\n")
	f(Event{Name: "n", Data: "d", ID: "42", HasID: true, Retry: 3000, HasRetry: true},
		"id: 42\nevent: n\nretry: 3000\ndata: d\n\n")
	f(Event{Data: "d", ID: "", HasID: true}, "id: \ndata: d\n\n")
	f(Event{Data: "d", Retry: 0, HasRetry: true}, "retry: 0\ndata: d\n\n")
	f(Event{Data: "ünï <&>"}, "data: ünï <&>\n\n")
}

func TestAppendEventEnvelope(t *testing.T) {
	f := func(ev Event, want string) {
		t.Helper()
		if got := string(AppendEvent(nil, &ev, Envelope)); got != want {
			t.Fatalf("AppendEvent(%+v)\n got %q\nwant %q", ev, got, want)
		}
	}
	// The Node.js gateway's own unit cases.
	f(Event{Name: "message", Data: `"Hello, world!"`}, `data: {"type":"message","payload":"Hello, world!"}`+"\n\n")
	f(Event{Name: "task_event", Data: `{"a":1}`}, `data: {"type":"task_event","payload":{"a":1}}`+"\n\n")
	f(Event{Data: "Hello"}, "data: Hello\n\n")
	f(Event{Name: "", Data: "Hello"}, "data: Hello\n\n")
	f(Event{Data: "a\nb"}, "data: a\ndata: b\n\n")
	f(Event{Data: ""}, "data: \n\n")
	f(Event{Name: `q"uote`, Data: "1"}, `data: {"type":"q\"uote","payload":1}`+"\n\n")
	// No HTML escaping, non-ASCII as is (JSON.stringify).
	f(Event{Name: "<a&b>é", Data: "1"}, `data: {"type":"<a&b>é","payload":1}`+"\n\n")
	// Multi-line data continues on further data lines (Node broke the framing).
	f(Event{Name: "m", Data: "{\n\"a\":1\r\n}"}, "data: {\"type\":\"m\",\"payload\":{\ndata: \"a\":1\ndata: }}\n\n")
	// id and retry are standard fields in both formats.
	f(Event{Name: "m", Data: "1", ID: "7", HasID: true}, "id: 7\n"+`data: {"type":"m","payload":1}`+"\n\n")
}

func TestFixedFrames(t *testing.T) {
	if string(Ready) != "event: ready\ndata:\n\n" {
		t.Fatalf("ready %q", Ready)
	}
	if string(Heartbeat) != ": heartbeat\n\n" {
		t.Fatalf("heartbeat %q", Heartbeat)
	}
	if got := string(AppendRetry(nil, 1500)); got != "retry: 1500\n\n" {
		t.Fatalf("retry %q", got)
	}
	f := func(status int, msg, want string) {
		t.Helper()
		if got := string(AppendRejected(nil, status, msg)); got != want {
			t.Fatalf("rejected got %q want %q", got, want)
		}
	}
	f(401, "Token Expired", "event: rejected\ndata: {\"status\":401,\"message\":\"Token Expired\"}\n\n")
	f(403, `Say "no"`, "event: rejected\ndata: {\"status\":403,\"message\":\"Say \\\"no\\\"\"}\n\n")
}

func TestAppendJSONString(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(AppendJSONString(nil, in)); got != want {
			t.Fatalf("AppendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
	f("", `""`)
	f("a\"b\\c", `"a\"b\\c"`)
	f("\n\r\t\b\f", `"\n\r\t\b\f"`)
	f("\x00\x1f", `"\u0000\u001f"`)
	f("\x7f", "\"\x7f\"")
	f("\u2028", "\"\u2028\"")
	f("\xff", "\"\ufffd\"")
}

func BenchmarkAppendEvent(b *testing.B) {
	ev := Event{Name: "update", Data: `{"t":1700000000000000000,"v":"some payload of a typical size"}`, ID: "123", HasID: true}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendEvent(buf[:0], &ev, Standard)
	}
}
