package httpparse

// Byte classes. One table lookup answers "may this byte appear here?" for
// every position in the head.
const (
	cToken  uint8 = 1 << iota // tchar (RFC 9110 §5.6.2): method and header names
	cVChar                    // VCHAR or obs-text: a header value byte that ends trailing OWS
	cTarget                   // request-target byte that needs no further thought
	cHost                     // Host header byte (reg-name, IP-literal, port, pct-encoded)
	cHex                      // HEXDIG
	cCtl                      // CTL other than HTAB: 0x00-0x1F and 0x7F (CR and LF included)
	cAuth                     // reg-name byte in an absolute-form or CONNECT authority
	cScheme                   // scheme byte after the first: ALPHA DIGIT + - .
)

// class maps every byte to its classes.
var class = buildClass()

func buildClass() (t [256]uint8) {
	set := func(chars string, c uint8) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= c
		}
	}
	const (
		alpha   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		digit   = "0123456789"
		subDlm  = "!$&'()*+,;="
		unrsrvd = "-._~"
	)
	set(alpha+digit+"!#$%&'*+-.^_`|~", cToken)
	set(alpha+digit+unrsrvd+subDlm, cAuth)
	set(alpha+digit+"+-.", cScheme)
	set(alpha+digit+unrsrvd+subDlm+"%:[]", cHost)
	set(digit+"abcdefABCDEF", cHex)
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20 && c != '\t', c == 0x7f:
			t[c] |= cCtl
		case c > 0x20:
			t[c] |= cVChar
		}
		// '%' and '?' are excluded so the target loop can track the
		// percent-escapes of the path; '#' never appears in a request-target.
		if c > 0x20 && c < 0x7f && c != '%' && c != '?' && c != '#' {
			t[c] |= cTarget
		}
	}
	return t
}

func isCtl(c byte) bool { return class[c]&cCtl != 0 }

func isDigit(c byte) bool { return c-'0' < 10 }

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if c-'A' < 26 {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}
