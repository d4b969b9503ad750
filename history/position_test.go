package history

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPositionText(t *testing.T) {
	for _, p := range []Position{
		{1, 0}, {1, 1}, {MaxEpoch - 1, math.MaxUint64}, {12345, 61}, {12345, 62}, {NewEpoch(), 1 << 40},
	} {
		s := p.String()
		if len(s) != PositionLen || len(s) > 64 || strings.Trim(s, digits+"-") != "" {
			t.Fatalf("%v renders as %q", p, s)
		}
		q, err := ParsePosition(s)
		if err != nil || q != p {
			t.Fatalf("ParsePosition(%q) = %v, %v; want %v", s, q, err, p)
		}
	}
	if s := (Position{1, 61}).String(); s != "00000001-0000000000z" {
		t.Fatalf("rendering changed: %q", s)
	}
	if s := string((Position{1, 61}).AppendIDField([]byte("x"))); s != "xid: 00000001-0000000000z\n" {
		t.Fatalf("id field %q", s)
	}
}

// Within an epoch, ids compare as strings like their positions.
func TestPositionTextOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	e := NewEpoch()
	for range 100000 {
		a, b := r.Uint64()>>r.IntN(64), r.Uint64()>>r.IntN(64)
		sa, sb := Position{e, a}.String(), Position{e, b}.String()
		if (a < b) != (sa < sb) || (a == b) != (sa == sb) {
			t.Fatalf("%d vs %d: %q vs %q", a, b, sa, sb)
		}
	}
}

func TestParsePositionMalformed(t *testing.T) {
	good := Position{77, 1234}.String()
	for _, s := range []string{
		"",
		"42",
		good[:PositionLen-1],
		good + "0",
		strings.Replace(good, "-", ".", 1),
		"0000001-000000000000z", // separator moved
		"00000001-0000000000!",  // byte outside the digits
		"00000001-000000000 z",  // space
		"zzzzzzzz-zzzzzzzzzzz",  // sequence above 2^64-1
		"00000001-LygHa16AHYG",  // 2^64 exactly
		"00000001-0000000000\u00e9"[:PositionLen], // a cut UTF-8 byte
	} {
		if p, err := ParsePosition(s); !errors.Is(err, ErrMalformedPosition) {
			t.Errorf("ParsePosition(%q) = %v, %v; want ErrMalformedPosition", s, p, err)
		}
	}
	if p, err := ParsePosition("00000001-LygHa16AHYF"); err != nil || p.Seq != math.MaxUint64 {
		t.Fatalf("2^64-1: %v %v", p, err)
	}
}

func TestParsePositionDoesNotAllocate(t *testing.T) {
	s := Position{77, 1234}.String()
	if n := testing.AllocsPerRun(100, func() { _, _ = ParsePosition(s) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	b := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { b = Position{77, 1234}.AppendText(b[:0]) }); n != 0 {
		t.Fatalf("AppendText: %v allocs", n)
	}
}

func TestEpochOfSpreads(t *testing.T) {
	seen := map[uint64]bool{}
	for v := range uint64(10000) {
		e := EpochOf(v)
		if e == 0 || e >= MaxEpoch || seen[e] {
			t.Fatalf("EpochOf(%d) = %d", v, e)
		}
		seen[e] = true
	}
}

// Whatever the input, ParsePosition either refuses it with the named error
// or accepts exactly the text form of what it returns.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"", "00000001-0000000000z", "zzzzzzzz-zzzzzzzzzzz", "00000001-LygHa16AHYF", "00000001-LygHa16AHYG", "abc", "0000000a-0000000000-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePosition(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedPosition) || p != (Position{}) {
				t.Fatalf("ParsePosition(%q) = %v, %v", s, p, err)
			}
			return
		}
		if p.String() != s || p.Epoch >= MaxEpoch {
			t.Fatalf("ParsePosition(%q) = %v, which renders as %q", s, p, p.String())
		}
	})
}
