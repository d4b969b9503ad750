package cluster_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"ssegw/internal/testkit"
)

type listed struct {
	Token    string   `json:"token"`
	Bindings []string `json:"bindings"`
	Missing  []int    `json:"missing"`
}

// clusterStreams reads /internal/streams?scope=cluster from a gateway.
func clusterStreams(t *testing.T, g *gw, query string) (tokens []string, missing []int, sawMissing bool) {
	t.Helper()
	resp, err := http.Get("http://" + g.ControlAddr() + "/internal/streams?scope=cluster" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l listed
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if l.Token == "" {
			if sawMissing {
				t.Fatalf("two missing lines")
			}
			missing, sawMissing = l.Missing, true
			continue
		}
		if sawMissing {
			t.Fatalf("a stream after the missing line: %q", sc.Text())
		}
		tokens = append(tokens, l.Token)
	}
	slices.Sort(tokens)
	return tokens, missing, sawMissing
}

// TestClusterWideListing: ?scope=cluster on any gateway lists every stream
// of every gateway once, and ends with an empty missing line; channel
// counts add up over the gateways; a gateway that presence says is in the
// cluster but that does not answer is named in missing after about 2 s.
func TestClusterWideListing(t *testing.T) {
	k := startCluster3(t)
	var want []string
	for _, s := range k.streams {
		want = append(want, s.token)
	}
	slices.Sort(want)
	for _, g := range k.gws {
		waitFor(t, "presence of the two other gateways", waitLong, func() bool { return len(g.Cluster.Peers()) == 2 })
	}
	for i, g := range k.gws {
		tokens, missing, saw := clusterStreams(t, g, "")
		if !slices.Equal(tokens, want) || !saw || len(missing) != 0 {
			t.Fatalf("gateway %d: listed %v (missing %v, line %v), want %v", i, tokens, missing, saw, want)
		}
	}
	if tokens, _, _ := clusterStreams(t, k.gws[1], "&channel=news"); !slices.Equal(tokens, want) {
		t.Fatalf("channel=news: %v", tokens)
	}
	if tokens, _, _ := clusterStreams(t, k.gws[1], "&channel=other"); len(tokens) != 0 {
		t.Fatalf("channel=other: %v", tokens)
	}
	var ch struct {
		Channels []struct {
			Name    string
			Streams int
		}
		Missing []int
	}
	code, body := testkit.Get(k.gws[2].ControlAddr() + "/internal/channels?scope=cluster")
	if err := json.Unmarshal([]byte(body), &ch); err != nil || code != 200 || len(ch.Channels) != 1 ||
		ch.Channels[0].Name != "news" || ch.Channels[0].Streams != 6 || ch.Missing == nil || len(ch.Missing) != 0 {
		t.Fatalf("channels: %d %s", code, body)
	}
	// A silent member: something announces node 4242 on the presence
	// subject and never answers a listing.
	nc, err := nats.Connect(k.nats.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			_ = nc.Publish("ssegw.presence", []byte("4242"))
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	waitFor(t, "the silent member in presence", waitLong, func() bool { return slices.Contains(k.gws[0].Cluster.Peers(), 4242) })
	start := time.Now()
	tokens, missing, _ := clusterStreams(t, k.gws[0], "")
	took := time.Since(start)
	if !slices.Equal(tokens, want) || !slices.Equal(missing, []int{4242}) {
		t.Fatalf("with a silent member: %v missing %v", tokens, missing)
	}
	if took < 1900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the listing took %v, want about the 2 s bound", took)
	}
	t.Logf("silent member named missing after %v", took.Round(time.Millisecond))
	code, body = testkit.Get(k.gws[0].ControlAddr() + "/internal/channels?scope=cluster&limit=5")
	if code != 200 || !json.Valid([]byte(body)) || !slices.Contains([]string{`"missing":[4242]`}, body[len(body)-len(`"missing":[4242]}`):len(body)-1]) {
		t.Fatalf("channels with a silent member: %d %s", code, body)
	}
}
