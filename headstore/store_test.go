package headstore

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"ssegw/bench/heads"
	"ssegw/httpparse"
)

// chromium returns n Chromium heads as a fleet sends them: the captured
// head with its per-user bytes (cookie values, room id) varied.
func chromium(t testing.TB, n int) [][]byte {
	t.Helper()
	tpl, err := heads.Chromium("gw.example:443")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		out[i] = tpl.Vary(nil, rng)
	}
	return out
}

// mixed are heads that exercise every cut: repeated and unique lines,
// repeated names (multi-value merges), odd casing, cookies, URLs, LF-only
// lines, a leading empty line, no final empty line, bytes that are no head.
func mixed(i int) []byte {
	u := fmt.Sprintf("%08x", uint32(i)*2654435761)
	all := []string{
		"GET /events?room=" + u + " HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
		"GET /s HTTP/1.1\r\nHost: gw\r\nCookie: a=1\r\ncOOKie: sid=" + u + "; theme=dark\r\nX-Foo: 1\r\nx-foo:  2 \r\nSet-Cookie: s1\r\nset-cookie: s2\r\n\r\n",
		"GET /s HTTP/1.1\r\nHOST: gw\r\nUSER-AGENT: first\r\nUser-Agent: second\r\nReferer: https://app.example/p/" + u + "?tab=1&x=2\r\nOrigin: https://app.example\r\n\r\n",
		"\r\nGET /lead HTTP/1.1\r\nHost: gw\r\nLast-Event-ID: " + u + "\r\n\r\n",
		"GET /lf HTTP/1.1\nHost: gw\nAccept: text/event-stream\nCookie: sessionid=" + u + "\n\n",
		"GET /absolute HTTP/1.0\r\nX-Latin: caf\xe9\r\n\r\n",
		"GET http://gw.example/abs?q=" + u + " HTTP/1.1\r\nHost: gw.example\r\n\r\n",
		"no head at all " + u,
		"GET /x HTTP/1.1\r\nCookie: ;;; ; =; a==b;" + u + "\r\n\r\n",
		"",
	}
	return []byte(all[i%len(all)])
}

// roundTrip keeps every head in one store, takes them back in a shuffled
// order, checks each comes back exact and the table ends empty.
func roundTrip(t *testing.T, s *Store, hs [][]byte, rng *rand.Rand) {
	t.Helper()
	kept := make([][]byte, len(hs))
	for i, h := range hs {
		kept[i] = s.Keep(h)
		if got := s.Restore(kept[i]); !bytes.Equal(got, h) {
			t.Fatalf("head %d restored as\n%q\nwant\n%q", i, got, h)
		}
	}
	for _, i := range rng.Perm(len(hs)) {
		if got := s.Take(kept[i]); !bytes.Equal(got, hs[i]) {
			t.Fatalf("head %d taken as\n%q\nwant\n%q", i, got, hs[i])
		}
	}
	if st := s.Stats(); st != (Stats{}) {
		t.Fatalf("table not empty after every head was taken: %+v", st)
	}
}

func TestKeepTakeGivesBackTheExactHead(t *testing.T) {
	var hs [][]byte
	for i := range 400 {
		hs = append(hs, mixed(i))
	}
	hs = append(hs, chromium(t, 200)...)
	s := New(Full)
	rng := rand.New(rand.NewPCG(3, 4))
	roundTrip(t, s, hs, rng)
	roundTrip(t, s, hs, rng) // again, on a table that was emptied: ids are reused
}

func TestRepeatedPiecesAreSharedAndUniqueOnesAreNot(t *testing.T) {
	s := New(Full)
	hs := chromium(t, 1000)
	kept := make([][]byte, len(hs))
	for i, h := range hs {
		kept[i] = s.Keep(h)
	}
	st := s.Stats()
	// Every stream brought its own cookie values and room: none of them may
	// be in the table, which holds only what the fleet shares.
	if st.Pieces > 60 || st.Bytes > 2*len(hs[0]) {
		t.Fatalf("table holds %d pieces, %d bytes for 1,000 streams of one browser: unique values were shared", st.Pieces, st.Bytes)
	}
	last := kept[len(kept)-1]
	t.Logf("Chromium head %d B, kept %d B; table %d pieces, %d B", len(hs[0]), len(last), st.Pieces, st.Bytes)
	if len(last) > len(hs[0])/3 {
		t.Fatalf("a Chromium head of %d B kept in %d B, want at most a third", len(hs[0]), len(last))
	}
	for i := range kept {
		s.Take(kept[i])
	}
	if st := s.Stats(); st != (Stats{}) {
		t.Fatalf("table not empty: %+v", st)
	}
}

// TestTableReturnsToEmptyUnderChurn is the leak check: streams come and go in
// random order while others stay; when the last one is taken, the table
// holds nothing.
func TestTableReturnsToEmptyUnderChurn(t *testing.T) {
	s := New(Full)
	rng := rand.New(rand.NewPCG(5, 6))
	fleet := chromium(t, 300)
	type live struct{ head, kept []byte }
	var open []live
	for i := range 20000 {
		if len(open) > 0 && rng.IntN(3) == 0 {
			j := rng.IntN(len(open))
			if got := s.Take(open[j].kept); !bytes.Equal(got, open[j].head) {
				t.Fatalf("step %d: taken %q, want %q", i, got, open[j].head)
			}
			open[j] = open[len(open)-1]
			open = open[:len(open)-1]
			continue
		}
		h := fleet[rng.IntN(len(fleet))]
		if rng.IntN(2) == 0 {
			h = mixed(rng.IntN(1000))
		}
		open = append(open, live{h, s.Keep(h)})
	}
	for _, l := range open {
		s.Take(l.kept)
	}
	if st := s.Stats(); st != (Stats{}) {
		t.Fatalf("table not empty after churn: %+v", st)
	}
}

func TestTableStaysWithinItsBounds(t *testing.T) {
	s := newStore(Full, limits{pieces: 8, bytes: 300, minPiece: minPiece})
	var hs [][]byte
	for i := range 200 {
		// Every header is new and comes twice, so each would be shared.
		h := fmt.Sprintf("GET /b HTTP/1.1\r\nHost: gw\r\nX-Piece-%d: some value %d\r\n\r\n", i/2, i/2)
		hs = append(hs, []byte(h))
	}
	kept := make([][]byte, len(hs))
	for i, h := range hs {
		kept[i] = s.Keep(h)
		if st := s.Stats(); st.Pieces > 8 || st.Bytes > 300 {
			t.Fatalf("after %d heads: %+v, bounds 8 pieces, 300 bytes", i+1, st)
		}
	}
	for i := range kept {
		if got := s.Take(kept[i]); !bytes.Equal(got, hs[i]) {
			t.Fatalf("past the bounds, head %d taken as %q", i, got)
		}
	}
	if st := s.Stats(); st != (Stats{}) {
		t.Fatalf("table not empty: %+v", st)
	}
}

func TestURLAndNoneKeepWhatTheySay(t *testing.T) {
	head := []byte("GET /events?room=7&x=%20 HTTP/1.1\r\nHost: gw\r\nCookie: sid=1\r\n\r\n")
	f := func(m Mode, wantKept int, want string) {
		t.Helper()
		s := New(m)
		k := s.Keep(head)
		if len(k) != wantKept {
			t.Fatalf("%v keeps %d bytes (%q), want %d", m, len(k), k, wantKept)
		}
		if got := s.Take(k); string(got) != want {
			t.Fatalf("%v: Take(kept) %q, want %q", m, got, want)
		}
		// A stream that never got to Keep hands over its plain head.
		if got := s.Take(head); string(got) != want {
			t.Fatalf("%v: Take(plain) %q, want %q", m, got, want)
		}
		if st := s.Stats(); st != (Stats{}) {
			t.Fatalf("%v: table %+v", m, st)
		}
	}
	f(URL, 1+len("/events?room=7&x=%20"), "/events?room=7&x=%20")
	f(None, 0, "")
	s := New(Full)
	if got := s.Take(head); !bytes.Equal(got, head) {
		t.Fatalf("full: Take(plain) %q", got)
	}
	for _, name := range []string{"full", "url", "none"} {
		if m, ok := ParseMode(name); !ok || m.String() != name {
			t.Fatalf("ParseMode(%q) = %v, %v", name, m, ok)
		}
	}
	if _, ok := ParseMode("FULL"); ok {
		t.Fatal("ParseMode accepts FULL")
	}
}

// TestTargetIsTheParsersTarget: the URL mode keeps exactly the bytes
// httpparse reports as the request-target, which the callback sends as url.
func TestTargetIsTheParsersTarget(t *testing.T) {
	for i := range 20 {
		h := mixed(i)
		checkTarget(t, h)
	}
	for _, h := range chromium(t, 5) {
		checkTarget(t, h)
	}
}

func checkTarget(t *testing.T, head []byte) {
	t.Helper()
	var p httpparse.Parser
	p.Reset(httpparse.Limits{MaxHeadBytes: len(head) + 1})
	n, err := p.Parse(head)
	if n == 0 || err != nil {
		return // not a head the gateway would take
	}
	want := p.Request().Target.In(head)
	if got := target(head); !bytes.Equal(got, want) {
		t.Fatalf("target of %q: %q, parser says %q", head, got, want)
	}
}

func TestKeepAndTakeAllocateOnlyTheirResult(t *testing.T) {
	s := New(Full)
	hs := chromium(t, 1000)
	for _, h := range hs[:50] {
		s.Take(s.Keep(h)) // warm the filter and the scratch buffer
	}
	for _, h := range hs[50:60] {
		_ = s.Keep(h) // leave these in, so the common pieces stay shared
	}
	// Fresh users each time: their own values are new, so nothing is added
	// to the table (a value seen twice would be shared, which allocates).
	fresh := hs[500:]
	i := 0
	var got []byte
	if n := testing.AllocsPerRun(200, func() { got = s.Take(s.Keep(fresh[i])); i++ }); n > 2 {
		t.Fatalf("Keep+Take: %v allocations, want 2 (the kept form, the restored head)", n)
	}
	if !bytes.Equal(got, fresh[i-1]) {
		t.Fatal("round trip broke")
	}
}

// TestEveryTableSharesTheFleetsPieces: whatever its hash seed, a table ends
// up sharing every piece a fleet repeats. (With a one-way filter, two
// repeated pieces of one head whose hashes fell on the same slot pushed each
// other out for good: about one table in 40 kept 20% more per stream.)
func TestEveryTableSharesTheFleetsPieces(t *testing.T) {
	hs := chromium(t, 100)
	want := 0
	for seed := range 300 { // each New draws its own hash seed
		s := New(Full)
		for _, h := range hs[:30] {
			_ = s.Keep(h)
		}
		for i, h := range hs[30:] {
			n := len(s.Keep(h))
			if seed == 0 && i == 0 {
				want = n
			}
			if n > want+8 { // a digit run more or less in a random id moves a few bytes
				t.Fatalf("table %d: head %d kept in %d bytes, the others in about %d", seed, i, n, want)
			}
		}
	}
}

// TestTargetOfEveryForm: the listing of live streams reads the url from
// whatever a stream keeps.
func TestTargetOfEveryForm(t *testing.T) {
	hs := chromium(t, 20)
	for i := range 40 {
		hs = append(hs, mixed(i))
	}
	for _, m := range []Mode{Full, URL, None} {
		s := New(m)
		for round := range 3 { // later rounds keep heads whose pieces are shared
			for _, h := range hs {
				want := target(h)
				if m == None {
					want = nil
				}
				k := s.Keep(h)
				if got := s.Target(k); !bytes.Equal(got, want) {
					t.Fatalf("%v round %d: Target(kept) %q, want %q (head %q)", m, round, got, want, h)
				}
				if got := s.Target(h); !bytes.Equal(got, target(h)) {
					t.Fatalf("%v: Target(plain) %q, want %q", m, got, target(h))
				}
			}
		}
	}
}

// TestPlainCopiesAreRecycled: the loop's copy of a pending head comes from a
// pool that accepted streams refill, so a storm's heads cost no allocation
// but their compact forms.
func TestPlainCopiesAreRecycled(t *testing.T) {
	s := New(Full)
	hs := chromium(t, 600)
	for _, h := range hs[:100] {
		p := s.Plain(h)
		if !bytes.Equal(p, h) {
			t.Fatalf("Plain %q, want %q", p, h)
		}
		k := s.Keep(p)
		s.Recycle(p)
		if got := s.Take(k); !bytes.Equal(got, h) {
			t.Fatalf("after recycling: %q, want %q", got, h)
		}
	}
	for _, h := range hs[100:110] {
		_ = s.Keep(h) // streams that stay, so the common pieces stay shared
	}
	i := 110
	if n := testing.AllocsPerRun(200, func() {
		p := s.Plain(hs[i])
		s.Take(s.Keep(p))
		s.Recycle(p)
		i++
	}); n > 2 {
		t.Fatalf("Plain+Keep+Take+Recycle: %v allocations, want 2 (the kept form, the restored head)", n)
	}
	// The pool is bounded: recycling many buffers keeps at most maxPoolBytes.
	var bufs [][]byte
	for range 2 * maxPoolBytes / 1024 {
		bufs = append(bufs, s.Plain(hs[0]))
	}
	for _, b := range bufs {
		s.Recycle(b)
	}
	if s.pool.bytes > maxPoolBytes {
		t.Fatalf("pool holds %d bytes, bound %d", s.pool.bytes, maxPoolBytes)
	}
	// Short heads and copies made elsewhere are not pooled.
	short := []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	s.Recycle(s.Plain(short))
	s.Recycle(append([]byte(nil), hs[0]...))
	for _, l := range s.pool.free {
		for _, b := range l {
			if cap(b) < minPooled || cap(b)&(cap(b)-1) != 0 {
				t.Fatalf("pooled a buffer of cap %d", cap(b))
			}
		}
	}
}
