package httpparse

// state names the position of the parser inside the head.
type state uint8

const (
	stStart       state = iota // before the request line; one empty line may come first
	stMethodStart              // first byte of the method
	stMethod                   // inside the method
	stTarget                   // inside the request-target
	stVersion                  // inside the HTTP version
	stLineStart                // first byte of a header line or of the final empty line
	stName                     // inside a header name
	stOWS                      // whitespace after the colon
	stValue                    // inside a header value
	stLF                       // a CR was seen; LF must follow (scanState.eol says which line ends)
	stDone                     // head complete
	stError                    // head rejected; Parse repeats scanState.err until Reset
)

// lineEnd names the kind of line a CR or LF terminates.
type lineEnd uint8

const (
	endLeading     lineEnd = iota // the optional empty line before the request line
	endRequestLine                // the request line
	endHeader                     // a header line
	endHead                       // the final empty line
)

// scanState is everything the parser must remember between two Parse calls.
type scanState struct {
	state         state
	eol           lineEnd
	pos           int   // next byte to examine
	mark          int   // start of the method, target, version, name or value being scanned
	end           int   // end of the version, or of the value without trailing OWS
	name          Span  // name of the header line being scanned
	pct           uint8 // hex digits a percent-escape in the target still owes
	query         bool  // the target scan has passed '?'
	connClose     bool  // a Connection header carries "close"
	connKeepAlive bool  // a Connection header carries "keep-alive"
	err           error
}

// Parser is a resumable HTTP/1.1 request-head parser. The zero value is ready
// to use with the default limits. A Parser belongs to one goroutine.
//
// For a pipelined request, call Reset and parse buf[HeadLen:]; the spans of
// the new result index that slice, not the original buffer.
type Parser struct {
	req Request
	lim Limits
	st  scanState
}

// Reset prepares p for a new request with limits l. It keeps p's header
// storage; it allocates only the first time l.MaxHeaders exceeds
// DefaultMaxHeaders.
func (p *Parser) Reset(l Limits) {
	p.lim = l.withDefaults()
	p.req.reset()
	if extra := p.lim.MaxHeaders - DefaultMaxHeaders; extra > cap(p.req.more) {
		p.req.more = make([]Header, 0, extra)
	}
	p.st = scanState{}
}

// Request returns the parse result, valid once Parse returned n > 0.
func (p *Parser) Request() *Request { return &p.req }

// Parse is given buf = every byte received since the start of this request:
// each call passes the same prefix plus whatever arrived since. It resumes
// where the previous call stopped, so no byte accepted by an earlier call is
// scanned again: a head fed one byte at a time costs linear work.
//
// It returns n > 0 (== HeadLen) when the head is complete, n == 0 with a nil
// error when more bytes are needed, or one of the Err values of this package;
// after an error, or after completion, it returns the same result until Reset.
func (p *Parser) Parse(buf []byte) (n int, err error) {
	if p.lim.MaxHeadBytes == 0 {
		p.Reset(Limits{})
	}
	switch p.st.state {
	case stDone:
		return p.req.HeadLen, nil
	case stError:
		return 0, p.st.err
	}
	b := buf[:min(len(buf), p.lim.MaxHeadBytes)]
	err = p.run(b)
	if err == nil && p.st.state != stDone && len(b) == p.lim.MaxHeadBytes {
		err = ErrHeadTooLarge
	}
	if err != nil {
		p.st.state, p.st.err = stError, err
		return 0, err
	}
	if p.st.state == stDone {
		return p.req.HeadLen, nil
	}
	return 0, nil
}

// run advances the state machine over b[pos:] until the head is complete,
// an error is found or b is exhausted.
func (p *Parser) run(b []byte) error {
	i := p.st.pos
	var err error
	for i < len(b) && err == nil && p.st.state != stDone {
		switch p.st.state {
		case stStart:
			i, err = p.start(b, i)
		case stMethodStart:
			i, err = p.methodStart(b, i)
		case stMethod:
			i, err = p.method(b, i)
		case stTarget:
			i, err = p.target(b, i)
		case stVersion:
			i, err = p.version(b, i)
		case stLineStart:
			i, err = p.lineStart(b, i)
		case stName:
			i, err = p.name(b, i)
		case stOWS:
			i = p.ows(b, i)
		case stValue:
			i, err = p.value(b, i)
		case stLF:
			i, err = p.lf(b, i)
		}
	}
	p.st.pos = i
	return err
}

// start skips at most one empty line before the request line (RFC 9112 §2.2).
func (p *Parser) start(b []byte, i int) (int, error) {
	if c := b[i]; c == '\r' || c == '\n' {
		return p.lineEnd(b, i, endLeading)
	}
	p.st.state = stMethodStart
	return i, nil
}

func (p *Parser) methodStart(b []byte, i int) (int, error) {
	switch c := b[i]; {
	case class[c]&cToken != 0:
		p.st.mark, p.st.state = i, stMethod
		return i + 1, nil
	case c == '\r' || c == '\n':
		return i, ErrMalformedRequestLine // a second empty line
	case isCtl(c):
		return i, ErrControlByte
	}
	return i, ErrInvalidMethod
}

func (p *Parser) method(b []byte, i int) (int, error) {
	for i < len(b) && class[b[i]]&cToken != 0 {
		i++
	}
	if i == len(b) {
		return i, nil
	}
	switch c := b[i]; {
	case c == ' ':
		p.req.Method = span(p.st.mark, i)
		p.st.mark, p.st.state = i+1, stTarget
		return i + 1, nil
	case c == '\r' || c == '\n':
		return i, ErrMalformedRequestLine
	case isCtl(c):
		return i, ErrControlByte
	}
	return i, ErrInvalidMethod
}

// target scans the request-target up to the SP that ends it, tracking the
// percent-escapes of the path on the way.
func (p *Parser) target(b []byte, i int) (int, error) {
	limit := p.st.mark + p.lim.MaxTargetBytes
	end := min(len(b), limit)
	pct, query := p.st.pct, p.st.query
	for ; i < end; i++ {
		c := b[i]
		cl := class[c]
		switch {
		case pct > 0:
			if cl&cHex == 0 {
				return i, ErrInvalidTarget
			}
			pct--
		case cl&cTarget != 0:
		case c == '%':
			if !query {
				pct = 2
			}
		case c == '?':
			query = true
		default:
			return p.targetEnd(b, i)
		}
	}
	p.st.pct, p.st.query = pct, query
	if i == limit && i < len(b) {
		if c := b[i]; class[c]&cTarget != 0 || c == '%' || c == '?' {
			return i, ErrTargetTooLong
		}
		return p.targetEnd(b, i)
	}
	return i, nil
}

// targetEnd handles the byte at b[i] that stopped the target scan.
func (p *Parser) targetEnd(b []byte, i int) (int, error) {
	switch c := b[i]; {
	case c == ' ' && i > p.st.mark:
		p.req.Target = span(p.st.mark, i)
		p.st.mark, p.st.state = i+1, stVersion
		return i + 1, p.checkTargetForm(b)
	case c == ' ' || c == '\r' || c == '\n':
		return i, ErrMalformedRequestLine
	case isCtl(c):
		return i, ErrControlByte
	}
	return i, ErrInvalidTarget
}

func (p *Parser) version(b []byte, i int) (int, error) {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\r' || c == '\n':
			p.st.end = i
			return p.lineEnd(b, i, endRequestLine)
		case c == ' ':
			return i, ErrMalformedRequestLine
		case isCtl(c):
			return i, ErrControlByte
		case i-p.st.mark >= len("HTTP/1.1"):
			return i, ErrBadVersion
		}
	}
	return i, nil
}

// parseVersion accepts HTTP/1.0 and HTTP/1.1, answers any other
// HTTP/DIGIT.DIGIT with 505 and anything else with 400.
func parseVersion(v []byte) (Version, error) {
	if len(v) != len("HTTP/1.1") || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, ErrBadVersion
	}
	switch {
	case v[5] != '1':
		return 0, ErrUnsupportedVersion
	case v[7] == '0':
		return HTTP10, nil
	case v[7] == '1':
		return HTTP11, nil
	}
	return 0, ErrUnsupportedVersion
}

func (p *Parser) lineStart(b []byte, i int) (int, error) {
	switch c := b[i]; {
	case class[c]&cToken != 0:
		p.st.mark, p.st.state = i, stName
		return i + 1, nil
	case c == '\r' || c == '\n':
		return p.lineEnd(b, i, endHead)
	case c == ' ' || c == '\t':
		return i, ErrObsFold
	case c == ':':
		return i, ErrMalformedHeader
	case isCtl(c):
		return i, ErrControlByte
	}
	return i, ErrInvalidHeaderName
}

func (p *Parser) name(b []byte, i int) (int, error) {
	for i < len(b) && class[b[i]]&cToken != 0 {
		i++
	}
	if i == len(b) {
		return i, nil
	}
	switch c := b[i]; {
	case c == ':':
		p.st.name, p.st.state = span(p.st.mark, i), stOWS
		return i + 1, nil
	case c == ' ' || c == '\t':
		return i, ErrSpaceBeforeColon
	case c == '\r' || c == '\n':
		return i, ErrMalformedHeader
	case isCtl(c):
		return i, ErrControlByte
	}
	return i, ErrInvalidHeaderName
}

// ows skips the optional whitespace before a header value.
func (p *Parser) ows(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i < len(b) {
		p.st.mark, p.st.end, p.st.state = i, i, stValue
	}
	return i
}

// value scans a header value; st.end follows the last byte that is not OWS,
// so the value comes out trimmed without a second pass.
func (p *Parser) value(b []byte, i int) (int, error) {
	end := p.st.end
	for ; i < len(b); i++ {
		c := b[i]
		if class[c]&cVChar != 0 {
			end = i + 1
			continue
		}
		if c == ' ' || c == '\t' {
			continue
		}
		p.st.end = end
		if c == '\r' || c == '\n' {
			return p.lineEnd(b, i, endHeader)
		}
		return i, ErrControlByte
	}
	p.st.end = end
	return i, nil
}

// lineEnd handles the CR or LF at b[i] that ends a line of kind k. A lone LF
// ends a line like CRLF does (RFC 9112 §2.2 allows it; net/textproto does too).
func (p *Parser) lineEnd(b []byte, i int, k lineEnd) (int, error) {
	if b[i] == '\r' {
		p.st.eol, p.st.state = k, stLF
		return i + 1, nil
	}
	return p.endLine(b, i+1, k)
}

func (p *Parser) lf(b []byte, i int) (int, error) {
	if b[i] != '\n' {
		return i, ErrBareCR
	}
	return p.endLine(b, i+1, p.st.eol)
}

// endLine acts on a complete line of kind k; next is the offset after its LF.
func (p *Parser) endLine(b []byte, next int, k lineEnd) (int, error) {
	switch k {
	case endLeading:
		p.st.state = stMethodStart
	case endRequestLine:
		v, err := parseVersion(b[p.st.mark:p.st.end])
		if err != nil {
			return next, err
		}
		p.req.Version, p.st.state = v, stLineStart
	case endHeader:
		if err := p.endHeader(b); err != nil {
			return next, err
		}
		p.st.state = stLineStart
	case endHead:
		if err := p.finish(); err != nil {
			return next, err
		}
		p.req.HeadLen, p.st.state = next, stDone
	}
	return next, nil
}

func (p *Parser) endHeader(b []byte) error {
	if p.req.n == p.lim.MaxHeaders {
		return ErrTooManyHeaders
	}
	h := Header{Name: p.st.name, Value: span(p.st.mark, p.st.end)}
	p.req.add(h)
	return p.interpret(b, h, p.req.n-1)
}

// finish applies the checks that need the whole head.
func (p *Parser) finish() error {
	r := &p.req
	if r.Version == HTTP11 && r.host == noHeader {
		return ErrMissingHost
	}
	r.KeepAlive = !p.st.connClose && (r.Version == HTTP11 || p.st.connKeepAlive)
	return nil
}
