// Driver for whole pages in headless Chromium (Debian's, through
// playwright-core), for tests of a page's own behaviour (the demo page): it
// opens pages as tabs of one browser, types, clicks and reads them. See
// common.mjs for the protocol; its commands here:
//
//   {"cmd":"page","id":"a","url":"..."}                open a tab and load url
//   {"cmd":"fill","id":"a","selector":"#text","value":"hi"}
//   {"cmd":"click","id":"a","selector":"#send"}
//   {"cmd":"text","id":"a","selector":"#streams"}     -> {"t":"text","id":"a","data":"<textContent>"}
//   {"cmd":"screenshot","id":"a","path":"..."}         (without id: the last tab opened)
//   {"cmd":"exit"}
//
// Usage: node pages.mjs
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, emit, serve } from './common.mjs';

let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, timeout: 60000, args: CHROMIUM_ARGS });
} catch (e) {
  emit({ t: 'fatal', message: `cannot start Chromium at ${CHROMIUM_PATH}: ${e.message}` });
  process.exit(2);
}
const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
const pages = {};
let last;
const tab = (id) => {
  const p = pages[id || last];
  if (!p) throw new Error(`no page ${id}`);
  return p;
};
emit({ t: 'started', client: 'chromium', version: browser.version() });
await serve({
  page: async (cmd) => {
    const page = await context.newPage();
    page.on('console', (m) => process.stderr.write(`page ${cmd.id} console ${m.type()}: ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`page ${cmd.id} error: ${e}\n`));
    page.on('requestfailed', (r) => process.stderr.write(`page ${cmd.id} request failed ${r.url()}: ${r.failure()?.errorText}\n`));
    await page.goto(cmd.url, { timeout: 30000 });
    pages[cmd.id] = page;
    last = cmd.id;
  },
  fill: async (cmd) => tab(cmd.id).fill(cmd.selector, cmd.value, { timeout: 10000 }),
  click: async (cmd) => tab(cmd.id).click(cmd.selector, { timeout: 10000 }),
  text: async (cmd) => {
    const text = await tab(cmd.id).textContent(cmd.selector, { timeout: 10000 });
    emit({ t: 'text', id: cmd.id, data: text });
  },
  screenshot: async (cmd) => {
    await tab(cmd.id).screenshot({ path: cmd.path, fullPage: true });
  },
  shutdown: async () => {
    await browser.close();
  },
});
