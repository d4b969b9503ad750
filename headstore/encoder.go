package headstore

import (
	"bytes"
	"encoding/binary"
)

// encoder cuts a head into pieces and writes its compact form: after the
// form byte, a sequence of uvarints, each either
//
//	id<<1                      a reference to a piece of the table
//	(n<<2 | kind)<<1 | 1       a literal of n bytes of the head, stored as kind
//	                           says (pack.go), followed by its packed bytes
//
// The pieces and literals, in order, are the head: restoring appends them
// and gives back the exact bytes whatever the input (the cut points only
// decide what can be shared).
//
// Where it cuts, coarse to fine, each piece shared if the table has it (or
// has seen it once before) and cut further otherwise:
//
//	a line, CRLF included            "Accept-Language: en-US,en;q=0.9\r\n"
//	  (the last one with the empty line that ends the head)
//	  request line: method, target, version   "GET " "/events?room=12" " HTTP/1.1\r\n"
//	  header line: name, then value  "Cookie: " ...
//	    cookie value: its pairs      "theme=dark; "  "sessionid=" + (value)
//	    URL (target, Referer, Origin): its parts at / ? &   "/events" "?room=" + (value)
//
// Then a run of shared pieces with nothing between them (most of a browser's
// header lines) is itself shared as one piece, a block, which holds its
// members, so a stream keeps one reference for the run. What is not shared
// is copied into the stream's form, adjacent bytes in one literal, runs of
// id-like bytes packed.
//
// One encoder per Store; its scratch buffer is reused.
type encoder struct {
	t   *table
	src []byte
	lit int    // start of the bytes not yet written (the pending literal)
	ops []byte // scratch: the pieces of the head being compacted

	// The run of references written since the last literal.
	runStart int // where the run's bytes start in src
	runOps   int // where its references start in ops
	runN     int // how many
}

func (e *encoder) compact(t *table, head []byte) []byte {
	e.t, e.src, e.lit, e.ops, e.runN = t, head, 0, e.ops[:0], 0
	first := true
	for off := 0; off < len(head); {
		end := off + lineLen(head[off:])
		if rest := head[end:]; string(rest) == "\r\n" || string(rest) == "\n" {
			end = len(head) // the empty line that ends the head goes with the last line
		}
		switch {
		case !first:
			e.headerLine(off, end)
		case end-off > 2 || (end-off == 2 && head[off] != '\r'): // not the empty line a client may send first
			e.requestLine(off, end)
			first = false
		}
		off = end
		if e.lit > off && !first { // a block took the lines up to lit: go on at the line it ends in
			off = bytes.LastIndexByte(head[:e.lit], '\n') + 1
		}
	}
	e.flush(len(head))
	e.closeRun()
	out := make([]byte, 0, 1+len(e.ops)) // exact: this is what the stream keeps
	out = append(out, formCompact)
	out = append(out, e.ops...)
	e.src = nil
	return out
}

// try shares src[off:end] if the table takes it: the pending literal up to
// off is written, then the reference. Pieces are tried in order.
//
// A shared piece that began a block the last time it started a run is
// checked against that block: if the head goes on with the block's bytes,
// the block is taken at once and the encoder jumps past it (the pieces it
// holds are not looked up one by one; this is most of a browser's head).
// Pieces inside a block taken that way report success; a piece that starts
// inside it and ends after it fails, so its bytes past the block become a
// literal.
func (e *encoder) try(off, end int) bool {
	if off < e.lit {
		return end <= e.lit
	}
	id, ok := e.t.ref(e.src[off:end])
	if !ok {
		return false
	}
	for {
		b, ok := e.t.hinted(id, e.src[off:])
		if !ok {
			break
		}
		e.t.release(id) // the block holds it
		id, end = b, off+len(e.t.piece(b))
	}
	e.flush(off)
	if e.runN == 0 {
		e.runStart, e.runOps = off, len(e.ops)
	}
	e.runN++
	e.ops = binary.AppendUvarint(e.ops, uint64(id)<<1)
	e.lit = end
	return true
}

// closeRun replaces a run of two or more references by one to the block of
// their bytes, if the table takes the block. A block the table already had
// holds its own members, so the run's references on them are dropped; a new
// block takes them over.
func (e *encoder) closeRun() {
	n := e.runN
	e.runN = 0
	if n < 2 {
		return
	}
	members := e.ops[e.runOps:]
	id, ok, created := e.t.refBlock(e.src[e.runStart:e.lit], members)
	if !ok {
		return
	}
	v, _ := binary.Uvarint(members)
	e.t.hint(uint32(v>>1), id)
	if !created {
		forRefs(members, e.t.release)
	}
	e.ops = binary.AppendUvarint(e.ops[:e.runOps], uint64(id)<<1)
}

// flush writes src[lit:upTo] as literals: raw bytes, with runs of id-like
// bytes packed (pack.go).
func (e *encoder) flush(upTo int) {
	if upTo <= e.lit {
		return
	}
	e.closeRun()
	b := e.src[e.lit:upTo]
	raw := 0 // start of the raw bytes not written yet
	for i := 0; i < len(b); {
		kind, n := litDigit, digitRun(b[i:])
		if n < minDigitRun {
			if kind, n = litToken, tokenRun(b[i:]); n < minTokenRun {
				i++
				continue
			}
		}
		e.literal(litRaw, b[raw:i])
		e.literal(kind, b[i:i+n])
		i += n
		raw = i
	}
	e.literal(litRaw, b[raw:])
	e.lit = upTo
}

func (e *encoder) literal(kind int, b []byte) {
	if len(b) == 0 {
		return
	}
	e.ops = binary.AppendUvarint(e.ops, uint64(len(b)<<2|kind)<<1|1)
	if kind == litRaw {
		e.ops = append(e.ops, b...)
		return
	}
	e.ops = appendPacked(e.ops, kind, b)
}

// forRefs calls f with the id of every reference in ops (which holds only
// references).
func forRefs(ops []byte, f func(uint32)) {
	for len(ops) > 0 {
		v, k := binary.Uvarint(ops)
		ops = ops[k:]
		f(uint32(v >> 1))
	}
}

func (e *encoder) requestLine(off, end int) {
	if e.try(off, end) {
		return
	}
	line := e.src[off:end]
	sp := indexByte(line, ' ')
	if sp < 0 {
		return
	}
	e.try(off, off+sp+1) // "GET "
	t := off + sp + 1
	tEnd := end
	if sp2 := indexByte(e.src[t:end], ' '); sp2 >= 0 {
		tEnd = t + sp2
	}
	e.url(t, tEnd)
	e.try(tEnd, end) // " HTTP/1.1\r\n"
}

func (e *encoder) headerLine(off, end int) {
	if e.try(off, end) {
		return
	}
	line := e.src[off:end]
	colon := indexByte(line, ':')
	if colon < 0 {
		return
	}
	v := colon + 1
	for v < len(line) && (line[v] == ' ' || line[v] == '\t') {
		v++
	}
	e.try(off, off+v) // "Cookie: "
	switch name := line[:colon]; {
	case bytes.EqualFold(name, []byte("cookie")):
		e.cookie(off+v, end)
	case bytes.EqualFold(name, []byte("referer")), bytes.EqualFold(name, []byte("origin")):
		e.url(off+v, end)
	}
}

// cookie cuts a cookie value into its pairs, each with the "; " after it
// (the last one with the line's end).
func (e *encoder) cookie(off, end int) {
	for off < end {
		next := end
		if semi := indexByte(e.src[off:end], ';'); semi >= 0 {
			next = off + semi + 1
			for next < end && (e.src[next] == ' ' || e.src[next] == '\t') {
				next++
			}
		}
		e.param(off, next)
		off = next
	}
}

// url cuts a URL, whole if the table knows it, else into parts that each
// start at '/', '?' or '&'.
func (e *encoder) url(off, end int) {
	if e.try(off, end) {
		return
	}
	for off < end {
		next := end
		for i := off + 1; i < end; i++ {
			if c := e.src[i]; c == '/' || c == '?' || c == '&' {
				next = i
				break
			}
		}
		e.param(off, next)
		off = next
	}
}

// param shares a cookie pair or URL part whole, or else its "name=".
func (e *encoder) param(off, end int) {
	if e.try(off, end) {
		return
	}
	if eq := indexByte(e.src[off:end], '='); eq >= 0 {
		e.try(off, off+eq+1)
	}
}

// lineLen is the length of b's first line, its LF included.
func lineLen(b []byte) int {
	if i := indexByte(b, '\n'); i >= 0 {
		return i + 1
	}
	return len(b)
}

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }
