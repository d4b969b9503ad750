package clients

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ssegw/internal/testkit"
)

// demoScreenshotEnv names the file TestDemoPage writes the page's screenshot
// to (relative paths are from the repository root); README.md shows it:
//
//	SSEGW_DEMO_SCREENSHOT=docs/demo.png go test ./clients -run TestDemoPage
const demoScreenshotEnv = "SSEGW_DEMO_SCREENSHOT"

// pageText reads an element's text on one of the pages driver's tabs.
func pageText(t *testing.T, c *nodeClient, tab, selector string) string {
	t.Helper()
	c.do(t, map[string]any{"cmd": "text", "id": tab, "selector": selector})
	recs := c.records().all()
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].T == "text" && recs[i].ID == tab {
			return strings.TrimSpace(recs[i].Data)
		}
	}
	t.Fatalf("no text record for %s %s", tab, selector)
	return ""
}

// waitText waits until an element's text satisfies ok.
func waitText(t *testing.T, c *nodeClient, tab, selector, what string, ok func(string) bool) string {
	t.Helper()
	var s string
	waitFor(t, tab+": "+what, 20*time.Second, func() bool {
		s = pageText(t, c, tab, selector)
		return ok(s)
	})
	return s
}

func equals(want string) func(string) bool { return func(s string) bool { return s == want } }

// TestDemoPage: `ssegw --demo` (make run) in headless Chromium. The page,
// opened in two tabs, shows the gateway's live numbers (they move when the
// second tab opens its stream and while events flow), and a publish typed
// in one tab reaches both.
func TestDemoPage(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	demoAddr := testkit.FreeAddr(t)
	g := testkit.StartChild(t, map[string]string{"DEMO_ADDR": demoAddr, "LISTEN_ADDR": testkit.FreeAddr(t),
		"CONTROL_ADDR": testkit.FreeAddr(t), "LOG_LEVEL": "info"}, "--demo")
	k.keep("gateway.log", func() []byte { return []byte(g.Output()) })
	c := startNode(t, k, "pages.mjs")
	t.Cleanup(func() {
		if t.Failed() {
			c.screenshot(t, k.path("demo-page.png"))
		}
	})
	url := "http://" + demoAddr + "/"

	c.do(t, map[string]any{"cmd": "page", "id": "a", "url": url})
	waitText(t, c, "a", "#state", "stream ready", equals("ready"))
	waitText(t, c, "a", "#streams", "one open stream", equals("1"))
	c.do(t, map[string]any{"cmd": "page", "id": "b", "url": url})
	waitText(t, c, "b", "#state", "stream ready", equals("ready"))
	for _, tab := range []string{"a", "b"} {
		waitText(t, c, tab, "#streams", "the second tab's stream counted", equals("2"))
		waitText(t, c, tab, "#channels", "one channel", equals("1"))
		waitText(t, c, tab, "#eps", "events flowing", func(s string) bool { v, err := strconv.ParseFloat(s, 64); return err == nil && v > 0 })
		waitText(t, c, tab, "#clock", "a clock event", func(s string) bool { return strings.Count(s, ":") == 2 })
	}

	publish := func(from, text string) {
		t.Helper()
		name := pageText(t, c, from, "#tab")
		c.do(t, map[string]any{"cmd": "fill", "id": from, "selector": "#text", "value": text})
		c.do(t, map[string]any{"cmd": "click", "id": from, "selector": "#send"})
		waitText(t, c, from, "#result", "the publish answered", equals("Published: it reached 2 streams."))
		for _, tab := range []string{"a", "b"} {
			waitText(t, c, tab, "#events", "the publish from "+from, func(s string) bool {
				return strings.Contains(s, text+"  (from "+name+")")
			})
		}
	}
	publish("a", "Hello from the first tab")
	publish("b", "And back from the second")

	if path := os.Getenv(demoScreenshotEnv); path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join("..", path) // the test runs in clients/
		}
		path, err := filepath.Abs(path) // the driver runs in clients/node/
		if err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(path)
		c.screenshot(t, path)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		t.Logf("screenshot of the demo page written to %s", path)
	}
}
