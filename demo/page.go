package demo

import (
	"html/template"
	"net/http"
)

func (b *Backend) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, struct{ GatewayURL, Channel string }{b.GatewayURL + "/demo", Channel})
}

// pageTmpl is the demo page. Element ids the Chromium test reads: state,
// streams, eps, channels, clock, tab, text, send, result, events.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ssegw demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{--ink:#1d2330;--mute:#667085;--line:#e4e7ec;--bg:#f7f8fa;--accent:#2f6fed;--ok:#12805c;--warn:#b54708}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--bg);margin:0;padding:28px}
main{max-width:760px;margin:0 auto}
h1{font-size:22px;margin:0}
header{display:flex;align-items:center;gap:12px;margin-bottom:6px}
.pill{font-size:12px;font-weight:600;padding:2px 10px;border-radius:999px;background:#fef0c7;color:var(--warn)}
.pill.ready{background:#d1fadf;color:var(--ok)}
p.lead{color:var(--mute);margin:0 0 18px}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef1f6;padding:1px 5px;border-radius:4px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:14px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);margin:0 0 10px}
.numbers{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.num b{display:block;font-size:28px;font-variant-numeric:tabular-nums}
.num span{color:var(--mute);font-size:13px}
form{display:flex;gap:8px}
input[type=text]{flex:1;font:inherit;padding:8px 10px;border:1px solid var(--line);border-radius:8px}
button{font:inherit;font-weight:600;padding:8px 16px;border:0;border-radius:8px;background:var(--accent);color:#fff;cursor:pointer}
.hint{color:var(--mute);font-size:13px;margin:8px 0 0}
ol{list-style:none;margin:0;padding:0;max-height:260px;overflow:auto}
li{display:grid;grid-template-columns:72px 86px 1fr;gap:8px;padding:5px 0;border-top:1px solid var(--line);font-size:14px}
li:first-child{border-top:0}
li time{color:var(--mute);font-variant-numeric:tabular-nums}
li b{font:600 13px ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--accent)}
</style>
</head><body><main>
<header><h1>ssegw demo</h1><span id="state" class="pill">connecting</span></header>
<p class="lead">This page holds one Server-Sent Events stream, <code>new EventSource("{{.GatewayURL}}")</code>.
The demo backend accepted it in its connect callback, bound it to the channel <code>{{.Channel}}</code>,
and sends it events through the gateway's control port, which the browser never sees.</p>

<section><h2>The gateway, live</h2>
<div class="numbers">
<div class="num"><b id="streams">-</b><span>open streams</span></div>
<div class="num"><b id="eps">-</b><span>events written / s</span></div>
<div class="num"><b id="channels">-</b><span>channels</span></div>
<div class="num"><b id="clock">-</b><span>clock event</span></div>
</div>
<p class="hint">Read once a second from the gateway's <code>/metrics</code> by the demo backend and published to <code>{{.Channel}}</code> as a <code>stats</code> event.</p>
</section>

<section><h2>Publish to channel {{.Channel}}</h2>
<form id="publish"><input id="text" type="text" maxlength="280" placeholder="Say something to every stream on {{.Channel}}" autocomplete="off"><button id="send" type="submit">Publish</button></form>
<p class="hint"><span id="result">Open this page in a second tab: a publish from either reaches both.</span> This tab is <b id="tab"></b>.</p>
</section>

<section><h2>Events on this stream</h2>
<ol id="events"></ol>
<p class="hint">Newest first; the clock and stats events update the numbers above instead.</p>
</section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const tab = 'tab ' + Math.random().toString(16).slice(2, 6);
$('tab').textContent = tab;
const hhmmss = () => new Date().toTimeString().slice(0, 8);
const add = (type, text) => {
  const li = document.createElement('li');
  li.innerHTML = '<time></time><b></b><span></span>';
  li.children[0].textContent = hhmmss();
  li.children[1].textContent = type;
  li.children[2].textContent = text;
  $('events').prepend(li);
  while ($('events').children.length > 100) $('events').lastChild.remove();
};
const state = (s) => { $('state').textContent = s; $('state').className = 'pill' + (s === 'ready' ? ' ready' : ''); };
const es = new EventSource({{.GatewayURL}});
es.addEventListener('ready', () => { state('ready'); add('ready', 'the gateway accepted the stream'); });
es.addEventListener('clock', (e) => { $('clock').textContent = e.data; });
es.addEventListener('stats', (e) => {
  const s = JSON.parse(e.data);
  $('streams').textContent = s.streams;
  $('eps').textContent = s.events_per_s;
  $('channels').textContent = s.channels;
});
es.addEventListener('message', (e) => {
  let m;
  try { m = JSON.parse(e.data); } catch { m = { text: e.data }; }
  add('message', m.text + (m.from ? '  (from ' + m.from + ')' : ''));
});
// A rejected stream ends with a 200, so the browser would reconnect: stop it.
es.addEventListener('rejected', (e) => { es.close(); state('rejected'); add('rejected', e.data); });
es.onerror = () => { if (es.readyState !== EventSource.CLOSED) { state('reconnecting'); add('error', 'the stream broke; the browser reconnects'); } };
$('publish').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  try {
    const r = await fetch('/publish', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text, from: tab }) });
    const j = await r.json();
    $('result').textContent = j.error ? 'Not published: ' + j.error : 'Published: it reached ' + j.connections + (j.connections === 1 ? ' stream.' : ' streams.');
    if (!j.error) $('text').value = '';
  } catch (e) {
    $('result').textContent = 'Not published: ' + e;
  }
});
</script></body></html>`))
