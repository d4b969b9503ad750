// Driver for the npm `eventsource` package (EventSource for Node.js). See
// common.mjs for the protocol. Usage: node eventsource.mjs
import { readFileSync } from 'node:fs';
import { EventSource } from 'eventsource';
import { emit, NAMES, serve, watch } from './common.mjs';

const pkg = JSON.parse(readFileSync(new URL('./node_modules/eventsource/package.json', import.meta.url)));
const sources = new Map();
emit({ t: 'started', client: 'eventsource', version: pkg.version, node: process.version });
await serve({
  open: async (cmd) => {
    sources.set(cmd.id, watch({ id: cmd.id, url: cmd.url, closeOn: cmd.closeOn, names: NAMES, impl: EventSource }, emit));
  },
  close: async (cmd) => {
    sources.get(cmd.id).close();
  },
  shutdown: async () => {
    for (const es of sources.values()) es.close();
  },
});
