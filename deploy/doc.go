// Package deploy holds no code the gateway runs: its folder ships what puts
// ssegw into production, and its tests check each file with the real tool
// that reads it.
//
//	nginx/ssegw.conf        TLS and HTTP/2 in front of the gateways (proven by
//	                        clients/proxy_test.go: Debian's nginx, two gateway
//	                        processes, headless Chromium)
//	systemd/ssegw.service   the unit (systemd-analyze verify and security)
//	systemd/ssegw.env       its settings (loaded by the gateway's own config)
//	sysctl.d/*.conf         kernel settings for 100k and 1M streams (every key
//	                        read back with sysctl; the sizes checked against
//	                        the unit)
//	prometheus/alerts.yml   alerting rules (promtool check rules, promtool test
//	                        rules with alerts_test.yml, and a real Prometheus
//	                        evaluating them against a live gateway)
//	prometheus/prometheus.yml  the scrape job (the same Prometheus runs with it)
//	grafana/ssegw.json      the dashboard (every query answered by that
//	                        Prometheus; every metric it names is on /metrics)
//	sockmem/                the command that measured the kernel's memory per
//	                        socket quoted in README.md, "Deployment"
//
// The tests start everything themselves on free loopback ports, each
// program with its own directory, and stop it by PID: the gateway binary
// (internal/testkit), Prometheus, and an embedded NATS server for the
// cluster-mode metrics. promtool, prometheus, systemd-analyze and sysctl
// come from Debian (.ci/install-deps installs them).
package deploy
