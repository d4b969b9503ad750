package control

import (
	"bytes"
	"encoding/json"
	"net/http"

	"ssegw/jsonscan"
	"ssegw/loop"
)

// batch applies a JSON array or newline-delimited JSON of send and publish
// commands in order and answers one result per command, in order. An item
// with a "channel" key is a publish, any other item a send. Invalid items get
// their error and the rest still run.
func (s *Server) batch(w http.ResponseWriter, body []byte) {
	items, e := splitBatch(body)
	if e != nil {
		writeError(w, e)
		return
	}
	parsed := make([]command, len(items))
	errs := make([]*apiError, len(items))
	cmds := make([]loop.Command, 0, len(items))
	index := make([]int, 0, len(items)) // cmds[k] is items[index[k]]
	for i, raw := range items {
		fields, e := readFields(raw, false)
		if e != nil {
			errs[i] = e
			continue
		}
		publish := fields.channel != nil
		parsed[i], errs[i] = commandFrom(&fields, publish, s.opts.History)
		if errs[i] == nil {
			cmds = append(cmds, s.toLoop(&parsed[i]))
			index = append(index, i)
		}
	}
	results := make([]loop.CmdResult, len(cmds))
	if len(cmds) > 0 {
		if err := s.opts.Gateway.Do(cmds, results); err != nil {
			writeError(w, doError(err))
			return
		}
	}
	for k, i := range index {
		errs[i] = resultError(&results[k])
	}
	writeJSON(w, 200, appendBatch(parsed, errs, index, results))
}

func appendBatch(parsed []command, errs []*apiError, index []int, results []loop.CmdResult) []byte {
	b := make([]byte, 0, 24*len(parsed)+16)
	b = append(b, `{"results":[`...)
	k := 0
	for i := range parsed {
		if i > 0 {
			b = append(b, ',')
		}
		var r *loop.CmdResult
		if k < len(index) && index[k] == i {
			r = &results[k]
			k++
		}
		if errs[i] != nil {
			b = appendError(b, errs[i])
			continue
		}
		b = appendResult(b, &parsed[i], r)
	}
	return append(b, "]}"...)
}

// splitBatch returns the raw items of a JSON array or of newline-delimited JSON.
func splitBatch(body []byte) ([]json.RawMessage, *apiError) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '[' {
		if !json.Valid(t) {
			return nil, errInvalidJSON
		}
		return checkBatchSize(arrayItems(t))
	}
	var items []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(t))
	for dec.More() {
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return nil, errInvalidJSON
		}
		items = append(items, raw)
		if len(items) > maxBatchCommands {
			return nil, errBatchTooLarge
		}
	}
	if len(items) == 0 {
		return nil, errBatchShape
	}
	return items, nil
}

func checkBatchSize(items []json.RawMessage) ([]json.RawMessage, *apiError) {
	if len(items) > maxBatchCommands {
		return nil, errBatchTooLarge
	}
	return items, nil
}

// arrayItems splits a valid JSON array into its raw elements.
func arrayItems(arr []byte) []json.RawMessage {
	var items []json.RawMessage
	jsonscan.ArrayItems(arr, func(item []byte) { items = append(items, item) })
	return items
}
