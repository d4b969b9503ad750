package control

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseCommand: any body gets either a valid command or one of the named
// errors, never a panic; an accepted event has a name and id free of CR, LF, NUL.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`{"token":"t","event":{"name":"n","data":"d","id":"1","retry":5},"close":true}`,
		`{"channel":"c","event":{"data":""}}`, `[]`, `{"token":5}`, `{"token":"t","event":null}`, `"x"`, `{`,
		`{"token":"t","event":{"data":"x","retry":1e3}}`, `{"token":"t","event":{"data":"x","id":"a\nb"}}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	named := map[*apiError]bool{errTokenMissing: true, errChannelMissing: true, errEventType: true, errEventData: true,
		errEventNameType: true, errCloseType: true, errEventName: true, errEventID: true, errEventRetry: true, errNotObject: true}
	f.Fuzz(func(t *testing.T, body []byte, publish bool) {
		if !json.Valid(body) {
			return // the handler answers INVALID_JSON before parsing
		}
		cmd, e := parseCommand(body, publish)
		if e != nil {
			if !named[e] {
				t.Fatalf("unnamed error %v", e)
			}
			return
		}
		if cmd.target == "" || strings.ContainsAny(cmd.event.Name, "\r\n\x00") || strings.ContainsAny(cmd.event.ID, "\r\n\x00") {
			t.Fatalf("accepted a bad command %+v from %q", cmd, body)
		}
	})
}
