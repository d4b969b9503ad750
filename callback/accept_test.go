package callback

import (
	"reflect"
	"testing"
)

var acceptBodies = []string{
	`{"bindings":["bench"]}`,
	`{"bindings":["a","b"],"request_id":"r1","since":"7"}`,
	` { "request_id" : "r" , "bindings" : [ "x" , "y" ] } `,
	`{"bindings":[]}`, `{"bindings":null}`, `{"bindings":"a"}`, `{"bindings":["a",1]}`, `{"bindings":["a",null]}`,
	`{"request_id":null,"since":5}`, `{"request_id":""}`, `{"request_id":"a","request_id":"b"}`,
	`{"request_id":"caf\u00e9 \"q\" \\"}`, `{"request_id":"caf` + "\xe9" + `"}`, `{"request_id":"` + "\xc3\xa9" + `"}`,
	`{"Request_ID":"x"}`, `{"request\u005fid":"x"}`, `{"x":{"bindings":["no"],"y":[1,{"z":"]}"}]},"bindings":["yes"]}`,
	`{"a":"\\","bindings":["\"]"]}`, `{"n":-1.5e3,"t":true,"f":false,"z":null,"bindings":["k"]}`,
	`null`, `[]`, `"x"`, `{`, `{"bindings":["a"]`, ``, `{}`, `{"bindings":["a"]} x`,
}

// TestParseAcceptFastMatchesGeneral: where the walk answers, it answers as
// the map decoding does.
func TestParseAcceptFastMatchesGeneral(t *testing.T) {
	for _, b := range acceptBodies {
		checkAcceptFast(t, []byte(b))
	}
}

func checkAcceptFast(t *testing.T, b []byte) {
	t.Helper()
	var fast, general Result
	if !parseAcceptFast(b, &fast) {
		if !reflect.DeepEqual(fast, Result{}) {
			t.Fatalf("%q: declined but changed the result: %+v", b, fast)
		}
		return
	}
	parseAcceptBody(b, &general)
	if !reflect.DeepEqual(fast, general) {
		t.Fatalf("%q:\nfast    %+v\ngeneral %+v", b, fast, general)
	}
}

func FuzzParseAcceptFast(f *testing.F) {
	for _, b := range acceptBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAcceptFast(t, b) })
}
