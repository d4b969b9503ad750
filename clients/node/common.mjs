// Shared protocol of the client drivers. A driver reads JSON commands, one per
// line, on stdin and prints JSON records, one per line, on stdout; the Go tests
// in ../ send the commands and assert on the records. stderr is free text (kept
// as an artifact when a test fails).
//
// Commands: {"cmd":"open","id":"a","url":"...","closeOn":["rejected"]}
//           {"cmd":"close","id":"a"}
//           {"cmd":"goto","url":"..."}          (browser only: load another page)
//           {"cmd":"screenshot","path":"..."}   (browser only)
//           {"cmd":"exit"}
// Records:  {"t":"started","client":"...","version":"..."}
//           {"t":"fatal","message":"..."}        (then exit 2)
//           {"t":"open","es":"a","readyState":1}
//           {"t":"event","es":"a","type":"...","data":"...","lastEventId":"..."}
//           {"t":"error","es":"a","readyState":0|2}
//           {"t":"closed","es":"a","readyState":2} (closed by the script on a closeOn event)
//           {"t":"ack","cmd":"..."} / {"t":"cmd_error","cmd":"...","message":"..."}
//           {"t":"response","url":"...","protocol":"h2","connection":"12"}
//                                                (browser only: an event-stream response, the HTTP
//                                                 version and the connection that carried it)
import readline from 'node:readline';

// How the browser drivers (chromium.mjs, pages.mjs) start Debian's Chromium:
// headless, never a browser downloaded by playwright, and quiet: no
// background networking, component updates or sync talking to the internet.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export function emit(rec) {
  process.stdout.write(JSON.stringify(rec) + '\n');
}

// Event names a test may send; each gets an addEventListener. Unnamed events
// arrive on onmessage and are reported with type "message".
export const NAMES = ['ready', 'rejected', 'greeting', 'multi', 'empty', 'utf8', 'bye', 'after', 'news', 'resync'];

// watch opens one EventSource and reports what it sees. It is self-contained:
// the browser driver serialises it into the page (where EventSource is the
// browser's own), the Node driver calls it with args.impl set.
export function watch(args, report) {
  const ES = args.impl || EventSource;
  const es = new ES(args.url);
  const log = (rec) => {
    rec.es = args.id;
    if (typeof document !== 'undefined') {
      const pre = document.getElementById('log');
      if (pre) pre.textContent += JSON.stringify(rec) + '\n';
    }
    report(rec);
  };
  const onEvent = (type) => (ev) => {
    log({ t: 'event', type, data: ev.data, lastEventId: ev.lastEventId });
    if ((args.closeOn || []).includes(type)) {
      es.close();
      log({ t: 'closed', readyState: es.readyState });
    }
  };
  for (const name of args.names) es.addEventListener(name, onEvent(name));
  es.onmessage = onEvent('message');
  es.onopen = () => log({ t: 'open', readyState: es.readyState });
  es.onerror = () => log({ t: 'error', readyState: es.readyState });
  if (typeof window !== 'undefined') {
    window.__sources = window.__sources || {};
    window.__sources[args.id] = es;
  }
  return es;
}

// serve runs the command loop until {"cmd":"exit"} or the end of stdin, then
// calls handlers.shutdown and exits.
export async function serve(handlers) {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      emit({ t: 'cmd_error', cmd: '', message: `bad command ${line}: ${e.message}` });
      continue;
    }
    if (cmd.cmd === 'exit') break;
    const h = handlers[cmd.cmd];
    try {
      if (!h) throw new Error(`unknown command ${cmd.cmd}`);
      await h(cmd);
      emit({ t: 'ack', cmd: cmd.cmd, id: cmd.id || '' });
    } catch (e) {
      emit({ t: 'cmd_error', cmd: cmd.cmd, message: String((e && e.stack) || e) });
    }
  }
  try {
    if (handlers.shutdown) await handlers.shutdown();
  } finally {
    process.exit(0);
  }
}
