package loop

import (
	"regexp"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestTokenCarriesLoopAndSlot(t *testing.T) {
	var src tokenSource
	seen := map[token]bool{}
	f := func(loop int, slot uint32) {
		t.Helper()
		node := uint16(slot*31 + uint32(loop))
		tok := src.next(node, loop, slot)
		if !uuidV4.MatchString(tok.String()) {
			t.Fatalf("%s is not a lowercase UUID v4", tok)
		}
		if tok.loopIndex() != loop || tok.slot() != slot || tok.node() != node {
			t.Fatalf("token %s decodes to loop %d slot %d node %d, want %d %d %d", tok, tok.loopIndex(), tok.slot(), tok.node(), loop, slot, node)
		}
		if n, ok := TokenNode(tok.String()); !ok || n != node {
			t.Fatalf("TokenNode(%s) = %d %v", tok, n, ok)
		}
		back, err := parseToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("parse %s: %v %s", tok, err, back)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %s", tok)
		}
		seen[tok] = true
	}
	for i := 0; i < 1000; i++ { // crosses a refill of the random buffer
		f(i%256, uint32(i)*7919)
	}
	f(255, 1<<32-1)
	f(0, 0)
	// The same slot reused gets a different token.
	a, b := src.next(9, 1, 5), src.next(9, 1, 5)
	if a == b {
		t.Fatal("reused slot, same token")
	}
}

func TestParseTokenRejects(t *testing.T) {
	for _, s := range []string{"", "nope", "00000000-0000-4000-8000-00000000000", "00000000-0000-4000-8000-00000000000g",
		"00000000x0000-4000-8000-000000000000", "000000000-000-4000-8000-000000000000"} {
		if _, err := parseToken(s); err == nil {
			t.Fatalf("parseToken(%q) accepted", s)
		}
	}
	if _, err := parseToken("ABCDEF01-2345-4678-89AB-CDEF01234567"); err != nil {
		t.Fatalf("upper case: %v", err)
	}
}
