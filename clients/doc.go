// Package clients proves that real SSE clients work through the gateway: the
// clients people use, not our own parser.
//
// What runs where, for each test:
//
//   - the gateway: the real binary, built once per test run from cmd/ssegw
//     into a temporary directory and started as a child process on loopback
//     (public and control ports chosen by the kernel);
//   - the backend: a net/http server in the test process that answers the
//     gateway's connect and disconnect callbacks (recording them with their
//     arrival time and request headers) and serves the test page, on another
//     port than the gateway, so a page loaded from it opens a cross-origin
//     EventSource;
//   - the client, one of
//     headless Chromium (Debian's /usr/bin/chromium driven by the npm package
//     playwright-core from clients/node/chromium.mjs),
//     the npm package eventsource on Node.js (clients/node/eventsource.mjs),
//     or github.com/tmaxmax/go-sse's client in the test process.
//     The Node drivers read JSON commands on stdin and print one JSON record
//     per event on stdout; the Go test drives the gateway's control port and
//     asserts on those records.
//
// Every client is checked for: the ready event, named events on their
// listener and unnamed ones on onmessage, multi-line data joined with "\n",
// invisible heartbeats, lastEventId following id:, publish to a bound
// channel, and a reconnect after a server close that honours the retry: hint
// and sends Last-Event-ID; and, with history on (HISTORY_SIZE), that a client
// the server closed comes back with its stored Last-Event-ID and gets exactly
// the events published while it was away. Chromium is further checked for how it takes a
// rejection (400/401/403) and a shed answer (capacity reached), for a
// cross-origin reconnect whose id holds a CORS-unsafe byte, and for the
// envelope event format (EVENT_FORMAT=envelope). Last, Chromium loads a page
// of another origin (a front in the test that sets a realistic first-party
// cookie and relays /events to the gateway, as a site that serves the
// gateway under its own host does); the exact request head its same-origin
// EventSource sends is checked to reach the backend byte for byte in the
// connect and the disconnect callbacks, and compared with the copy in
// bench/heads that the bench replays (SSEGW_UPDATE_HEADS=1 rewrites it).
//
// Two tests put Chromium in front of whole deployments:
//
//   - TestProxyHTTP2 (proxy_test.go): Debian's nginx with the shipped
//     deploy/nginx/ssegw.conf, its own prefix, config, pid and logs in a
//     temporary directory and its ports free loopback ones, stopped by PID,
//     in front of two gateway processes; TLS with a certificate signed by a
//     CA made with openssl for the test, which Chromium trusts by its key
//     (chromium.mjs --trust-spki, test-only). Chromium's network log
//     (CDP Network.responseReceived, "response" records) names the HTTP
//     version and connection of every stream.
//   - TestDemoPage (demo_test.go): `ssegw --demo` in two tabs through
//     clients/node/pages.mjs, which opens, types into, clicks and reads pages.
//
// The Node packages are installed by `npm ci` in clients/node (from the
// committed package-lock.json; .ci/install-deps does it, and `make test`
// runs it when node_modules is missing or stale); Chromium comes from Debian
// (`apt-get install chromium chromium-driver`), and so do nginx and openssl.
// A client that cannot start
// fails its test with the reason; nothing is skipped. When a test fails, its
// records, the client's stderr, the gateway log, the callbacks and (for
// Chromium) a screenshot are kept under clients/artifacts/<test>/, whose path
// the test prints.
package clients
