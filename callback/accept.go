package callback

import (
	"encoding/json"

	"ssegw/jsonscan"
)

// parseAcceptFast reads a 2xx body the way parseAcceptBody does, without
// decoding the whole object into a map: after json.Valid it walks the top
// level once (jsonscan), and takes a string without escapes as it is. ok
// false (a body that is not an object) leaves res untouched: use
// parseAcceptBody. Same keys, same rules: the last of a repeated key wins
// (as in a map), request_id and since count only as strings, bindings only
// when every element is a string.
func parseAcceptFast(data []byte, res *Result) (ok bool) {
	if len(data) == 0 || len(data) > maxResponseBody || !json.Valid(data) {
		return true // parseAcceptBody takes nothing from these either
	}
	var rid, since, bindings []byte
	if !jsonscan.ObjectFields(data, func(key, value []byte) {
		switch string(key) {
		case "request_id":
			rid = value
		case "since":
			since = value
		case "bindings":
			bindings = value
		}
	}) {
		return false
	}
	res.HasRequestID = jsonscan.String(rid, &res.RequestID)
	res.HasSince = jsonscan.String(since, &res.Since)
	var list []string
	bad := false
	if jsonscan.ArrayItems(bindings, func(item []byte) {
		var b string
		bad = bad || !jsonscan.String(item, &b)
		list = append(list, b)
	}) && !bad && len(list) > 0 {
		res.Bindings = list
	}
	return true
}
