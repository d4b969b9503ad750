package httpparse

import "bytes"

// checkTargetForm runs once, when the target is complete, and accepts the four
// forms of RFC 9112 §3.2. The per-byte rules were applied during the scan.
func (p *Parser) checkTargetForm(b []byte) error {
	t := p.req.Target.In(b)
	switch {
	case t[0] == '/': // origin-form, the only one browsers send
		return nil
	case len(t) == 1 && t[0] == '*': // asterisk-form
		if p.req.IsMethod(b, "OPTIONS") {
			return nil
		}
	case p.req.IsMethod(b, "CONNECT"): // authority-form
		if validAuthority(t, true) {
			return nil
		}
	case validAbsolute(t): // absolute-form
		return nil
	}
	return ErrInvalidTarget
}

// validAbsolute accepts scheme "://" authority followed by nothing, a path or
// a query. The scheme is not judged.
func validAbsolute(t []byte) bool {
	i := schemeLen(t)
	if i == 0 || string(t[i:min(len(t), i+3)]) != "://" {
		return false
	}
	rest := t[i+len("://"):]
	end := bytes.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	return validAuthority(rest[:end], false)
}

// schemeLen returns the length of the scheme at the start of t, or 0 if t does
// not start with ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
func schemeLen(t []byte) int {
	if len(t) == 0 || lower(t[0])-'a' >= 26 {
		return 0
	}
	for i := 1; i < len(t); i++ {
		switch {
		case t[i] == ':':
			return i
		case class[t[i]]&cScheme == 0:
			return 0
		}
	}
	return 0
}

// validAuthority accepts a non-empty reg-name with an optional ":" port of
// digits; needPort makes the port mandatory (CONNECT). Stricter than RFC 3986:
// no userinfo, no IP-literal, no percent-escapes in the host.
func validAuthority(a []byte, needPort bool) bool {
	host, port := a, a[len(a):]
	if i := bytes.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
	}
	if len(host) == 0 || (needPort && len(port) == 0) {
		return false
	}
	for _, c := range host {
		if class[c]&cAuth == 0 {
			return false
		}
	}
	for _, c := range port {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
