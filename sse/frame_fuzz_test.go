package sse

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzAppendEvent: whatever the data, a frame is whole lines of known fields,
// ends with one blank line, holds no CR, and its data lines give back the data
// (line breaks normalised to LF), as a browser would read it.
func FuzzAppendEvent(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\r\nb", "a\rb", "\n", "\r\r\n", "x\n"} {
		f.Add("n", s, false)
		f.Add("", s, true)
	}
	f.Fuzz(func(t *testing.T, name, data string, envelope bool) {
		if strings.ContainsAny(name, "\r\n\x00") {
			return // the control port refuses such names
		}
		format := Standard
		if envelope {
			format = Envelope
		}
		frame := AppendEvent(nil, &Event{Name: name, Data: data}, format)
		if !bytes.HasSuffix(frame, []byte("\n\n")) || bytes.IndexByte(frame, '\r') >= 0 {
			t.Fatalf("bad framing %q", frame)
		}
		lines := strings.Split(string(frame[:len(frame)-2]), "\n")
		var got []string
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "data: "):
				got = append(got, l[len("data: "):])
			case strings.HasPrefix(l, "event: ") && format == Standard:
			default:
				t.Fatalf("unexpected line %q in %q", l, frame)
			}
		}
		joined := strings.Join(got, "\n")
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
		if format == Envelope && name != "" {
			want = `{"type":` + string(AppendJSONString(nil, name)) + `,"payload":` + want + "}"
		}
		if joined != want {
			t.Fatalf("data %q came back as %q", want, joined)
		}
	})
}
