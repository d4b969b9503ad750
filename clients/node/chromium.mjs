// Driver for headless Chromium through playwright-core and the system browser
// (never a browser downloaded by playwright). See common.mjs for the protocol.
// Usage: node chromium.mjs <page-url> [--trust-spki=<base64 SHA-256 of a CA's public key>]
// The page is served by the test backend, so every EventSource it opens on the
// gateway is cross-origin (another port).
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, emit, NAMES, serve, watch } from './common.mjs';

const exe = CHROMIUM_PATH;
const pageURL = process.argv[2];
// Test-only: --trust-spki names the public key of the test CA the proxy test
// makes with openssl; Chromium then accepts certificates that chain to that
// key, and only those (its --ignore-certificate-errors-spki-list, which it
// honours with the --user-data-dir playwright always passes).
const spki = (process.argv.find((a) => a.startsWith('--trust-spki=')) || '').slice('--trust-spki='.length);
const trust = spki ? [`--ignore-certificate-errors-spki-list=${spki}`] : [];
let browser;
try {
  browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    timeout: 60000,
    args: [...CHROMIUM_ARGS, ...trust],
  });
} catch (e) {
  emit({ t: 'fatal', message: `cannot start Chromium at ${exe}: ${e.message}` });
  process.exit(2);
}
const page = await browser.newPage();
page.on('console', (m) => process.stderr.write(`page console ${m.type()}: ${m.text()}\n`));
page.on('pageerror', (e) => process.stderr.write(`page error: ${e}\n`));
page.on('request', (r) => process.stderr.write(`request ${r.method()} ${r.url()}\n`));
page.on('requestfailed', (r) => process.stderr.write(`request failed ${r.url()}: ${r.failure()?.errorText}\n`));
await page.exposeFunction('report', (rec) => emit(rec));
// One record per event-stream response: the HTTP version it came over and
// the connection that carried it (the proxy test counts connections).
const cdp = await page.context().newCDPSession(page);
await cdp.send('Network.enable');
cdp.on('Network.responseReceived', (e) => {
  if (e.type === 'EventSource' || (e.response.mimeType || '').includes('event-stream')) {
    emit({ t: 'response', url: e.response.url, protocol: e.response.protocol, connection: String(e.response.connectionId) });
  }
});
try {
  await page.goto(pageURL, { timeout: 30000 });
} catch (e) {
  emit({ t: 'fatal', message: `Chromium could not load the test page ${pageURL}: ${e.message}` });
  await browser.close();
  process.exit(2);
}
emit({ t: 'started', client: 'chromium', version: browser.version(), userAgent: await page.evaluate(() => navigator.userAgent) });
await serve({
  open: async (cmd) => {
    const args = { id: cmd.id, url: cmd.url, closeOn: cmd.closeOn || [], names: NAMES };
    await page.evaluate(`(${watch.toString()})(${JSON.stringify(args)}, window.report), true`);
  },
  close: async (cmd) => {
    await page.evaluate((id) => window.__sources[id].close(), cmd.id);
  },
  goto: async (cmd) => {
    await page.goto(cmd.url, { timeout: 30000 });
  },
  screenshot: async (cmd) => {
    await page.screenshot({ path: cmd.path, fullPage: true });
  },
  shutdown: async () => {
    await browser.close();
  },
});
