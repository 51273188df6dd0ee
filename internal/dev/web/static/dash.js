// tether dev's dashboard: the live parts. Plain JS, no library, nothing
// fetched but this dev server's own API.
"use strict";

const $ = (sel, root) => (root || document).querySelector(sel);
const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || body.message || r.status + " " + r.statusText);
  return body;
}

function postJSON(url, v) {
  return getJSON(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(v) });
}

function fmtMs(ms) {
  if (ms == null || ms < 0) return "–";
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

function fmtTime(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function outcome(o) { return el("span", { class: "outcome o-" + (o || "none") }, o || "…"); }

function messageURL(ev) {
  return "/ui/message?" + new URLSearchParams({ function: ev.function || "", binding: ev.binding || "", id: ev.messageId || "" });
}

// The payload as the delivery event carries it: text, or base64.
function payloadBytes(p, enc) {
  if (!p) return new Uint8Array();
  if (enc === "base64") return Uint8Array.from(atob(p), c => c.charCodeAt(0));
  return new TextEncoder().encode(p);
}

function hexDump(bytes) {
  let out = "";
  for (let off = 0; off < bytes.length; off += 16) {
    const line = bytes.slice(off, off + 16);
    let hex = "", text = "";
    for (let i = 0; i < 16; i++) {
      hex += i < line.length ? line[i].toString(16).padStart(2, "0") + " " : "   ";
      if (i === 7) hex += " ";
      if (i < line.length) text += line[i] >= 32 && line[i] < 127 ? String.fromCharCode(line[i]) : ".";
    }
    out += off.toString(16).padStart(8, "0") + "  " + hex + " |" + text + "|\n";
  }
  return out;
}

function shellQuote(s) {
  return /^[A-Za-z0-9_\-.\/:=,@+]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
}

// Payload views: tabs.
function initTabs(root) {
  for (const p of $$("[data-payload]", root)) {
    for (const b of $$("[data-tab]", p)) {
      b.addEventListener("click", () => {
        for (const o of $$("[data-tab]", p)) o.setAttribute("aria-selected", String(o === b));
        for (const v of $$("[data-view]", p)) v.hidden = v.dataset.view !== b.dataset.tab;
      });
    }
  }
}

// Forms that ask first.
for (const f of $$("form[data-confirm]")) {
  f.addEventListener("submit", e => { if (!confirm(f.dataset.confirm)) e.preventDefault(); });
}
initTabs(document);

// An events feed: the server-sent events of GET /v1.0/dev/events. It calls
// onBatch with the events received since the last animation frame, so a
// burst costs one DOM update per frame.
function feed(params, onBatch, onStatus) {
  let pending = [], scheduled = false, missed = 0, total = 0, shown = 0, es = null;
  const times = []; // arrival times of the last minute, for the rate
  const flush = () => {
    scheduled = false;
    const b = pending; pending = [];
    const now = Date.now();
    while (times.length && times[0] < now - 60000) times.shift();
    onBatch(b);
    shown += b.length;
    onStatus && onStatus({ total, missed, perMinute: times.length, connected: es && es.readyState === 1 });
  };
  const open = () => {
    es = new EventSource("/v1.0/dev/events?" + new URLSearchParams(params));
    es.addEventListener("delivery", m => {
      const ev = JSON.parse(m.data);
      total++;
      times.push(Date.now());
      if (times.length > 20000) times.splice(0, times.length - 20000);
      pending.push(ev);
      if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
    });
    es.addEventListener("missed", m => { missed += JSON.parse(m.data).missed || 0; });
    es.onerror = () => onStatus && onStatus({ total, missed, perMinute: times.length, connected: false });
    es.onopen = () => onStatus && onStatus({ total, missed, perMinute: times.length, connected: true });
  };
  open();
  window.__feed = () => ({ total, missed, shown }); // for the browser test
  return { close: () => es && es.close() };
}

// An attempt row of the stream tables. received holds the payload of each
// attempt's received event.
function attemptRow(ev, received) {
  const rec = received.get(key(ev));
  const snip = ev.error ? el("span", { class: "err" }, ev.error) : (rec ? (rec.payloadEncoding === "base64" ? "(binary, " + rec.size + " bytes)" : rec.payload) : "");
  const tr = el("tr", { "data-message": ev.messageId || "" },
    el("td", { class: "nowrap" }, fmtTime(ev.time)),
    el("td", { class: "wide" }, ev.function || ""),
    el("td", {}, ev.binding || ""),
    el("td", { class: "id" }, el("a", { href: messageURL(ev) }, el("code", {}, (ev.messageId || "").slice(0, 16)))),
    el("td", { class: "num wide" }, ev.attempt || ""),
    el("td", {}, outcome(ev.outcome)),
    el("td", { class: "num" }, fmtMs(ev.durationMs)),
    el("td", { class: "snip wide" }, snip));
  tr.addEventListener("click", e => { if (e.target.tagName !== "A") location.href = messageURL(ev); });
  return tr;
}

function key(ev) { return [ev.function, ev.binding, ev.messageId, ev.attempt].join("\u0000"); }

// Bounded map: the payloads of the last n received events.
class Recent {
  constructor(n) { this.n = n; this.m = new Map(); }
  set(k, v) { this.m.delete(k); this.m.set(k, v); if (this.m.size > this.n) this.m.delete(this.m.keys().next().value); }
  get(k) { return this.m.get(k); }
}

// Stream.
if (document.body.dataset.page === "stream") {
  const KEEP = 2000, SHOW = 300;
  const ring = []; // attempt events, oldest first, at most KEEP
  const received = new Recent(KEEP);
  const form = $("#stream-filter"), rows = $("#stream-rows"), stats = $("#stream-stats");
  const q = new URLSearchParams(location.search);
  let paused = false, heldWhilePaused = 0, dirty = true, last = {};
  const seen = { function: new Set(), binding: new Set() };
  const filter = () => ({ function: form.function.value, binding: form.binding.value, outcome: form.outcome.value });
  const match = (ev, f) => (!f.function || ev.function === f.function) && (!f.binding || ev.binding === f.binding) && (!f.outcome || ev.outcome === f.outcome);
  const addOption = (name, v) => {
    if (!v || seen[name].has(v)) return;
    seen[name].add(v);
    form[name].append(el("option", { value: v }, v));
  };
  for (const name of ["function", "binding", "outcome"]) {
    const v = q.get(name);
    if (v) { if (name !== "outcome") addOption(name, v); form[name].value = v; }
    form[name].addEventListener("change", () => { dirty = true; render(); });
  }
  const render = () => {
    if (paused || !dirty) return;
    dirty = false;
    const f = filter(), out = [];
    for (let i = ring.length - 1; i >= 0 && out.length < SHOW; i--) if (match(ring[i], f)) out.push(attemptRow(ring[i], received));
    rows.replaceChildren(...out);
  };
  let server = {};
  const showStats = s => {
    last = s || last;
    stats.textContent = (last.connected ? "live" : "disconnected, retrying") + " · " + (last.total || 0).toLocaleString() + " events since opened · " +
      (last.perMinute || 0).toLocaleString() + " in the last minute" + (last.missed ? " · " + last.missed.toLocaleString() + " missed (the dev server's ring moved on)" : "") +
      (server.dropped ? " · " + server.dropped.toLocaleString() + " dropped by the functions" : "") +
      (server.kept ? " · the dev server keeps the last " + server.kept.toLocaleString() : "") +
      (paused ? " · paused, " + heldWhilePaused + " new attempt(s) held" : "");
  };
  // The dev server's ring: its size, and the events the functions could
  // not send (their buffer was full).
  const serverRing = async () => {
    try { const r = await getJSON("/v1.0/dev/events/recent?limit=1"); server = { dropped: r.dropped, kept: r.kept }; showStats(); } catch (e) { /* shown by the feed */ }
    setTimeout(serverRing, 5000);
  };
  serverRing();
  feed({ last: "1000" }, batch => {
    for (const ev of batch) {
      if (ev.kind === "received") { received.set(key(ev), ev); continue; }
      if (ev.kind !== "attempt") continue;
      addOption("function", ev.function); addOption("binding", ev.binding);
      ring.push(ev);
      if (paused) heldWhilePaused++;
      dirty = true;
    }
    if (ring.length > KEEP) ring.splice(0, ring.length - KEEP);
    render();
  }, showStats);
  $("#pause").addEventListener("click", e => {
    paused = !paused; heldWhilePaused = 0;
    e.target.setAttribute("aria-pressed", String(paused));
    e.target.textContent = paused ? "Resume" : "Pause";
    dirty = true; render(); showStats();
  });
  $("#clear").addEventListener("click", () => { ring.length = 0; dirty = true; render(); });
  window.__rows = () => rows.children.length;
}

// Flow: the edge counters.
if (document.body.dataset.page === "flow") {
  const prev = {};
  const tick = async () => {
    try {
      const counts = await getJSON("/ui/api/flow");
      for (const g of $$("[data-edge]")) {
        const n = counts[g.dataset.edge];
        const t = $(".count", g);
        t.textContent = n == null || n < 0 ? "·" : n.toLocaleString();
        g.classList.toggle("flash", prev[g.dataset.edge] != null && n > prev[g.dataset.edge]);
        prev[g.dataset.edge] = n;
      }
      $("#flow-updated").textContent = "Updated " + new Date().toLocaleTimeString([], { hour12: false }) + ".";
    } catch (e) {
      $("#flow-updated").textContent = "Update failed: " + e.message;
    }
    setTimeout(tick, 2000);
  };
  tick();
}

// Metrics.
if (document.body.dataset.page === "metrics") {
  const tick = async () => {
    try {
      const ms = await getJSON("/ui/api/metrics");
      $("#metrics-rows").replaceChildren(...ms.map(m => m.error ?
        el("tr", {}, el("td", {}, m.function), el("td", {}, m.binding), el("td", { colspan: "9", class: "err" }, m.error)) :
        el("tr", {},
          el("td", {}, el("a", { href: "/ui/stream?function=" + encodeURIComponent(m.function) }, m.function)),
          el("td", { class: "wide" }, m.binding),
          el("td", { class: "num" }, m.perSecond.toFixed(1)),
          el("td", { class: "num" }, fmtMs(m.p50Ms)),
          el("td", { class: "num" }, fmtMs(m.p99Ms)),
          el("td", { class: "num" }, m.inFlight),
          el("td", { class: "num wide" }, m.received.toLocaleString()),
          el("td", { class: "num wide" }, m.succeeded.toLocaleString()),
          el("td", { class: "num wide" }, m.failed.toLocaleString()),
          el("td", { class: "num" }, m.retried.toLocaleString()),
          el("td", { class: "num wide" }, m.deadLettered.toLocaleString()))));
      $("#metrics-updated").textContent = "Updated " + new Date().toLocaleTimeString([], { hour12: false }) + ".";
    } catch (e) {
      $("#metrics-updated").textContent = "Update failed: " + e.message;
    }
    setTimeout(tick, 2000);
  };
  tick();
}

// Send.
function parseMetadata(text) {
  const md = {};
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (!l) continue;
    const i = l.indexOf("=");
    if (i <= 0) throw new Error("metadata: " + JSON.stringify(l) + ": want key=value");
    md[l.slice(0, i).trim()] = l.slice(i + 1).trim();
  }
  return md;
}

// validate checks v against a JSON Schema (the subset the generator
// writes: type, properties, required, additionalProperties, items, enum,
// $ref to #/$defs) and returns the problems, each with its path.
function validate(schema, v, root, path, out) {
  root = root || schema; path = path || "$"; out = out || [];
  if (!schema || typeof schema !== "object" || out.length > 20) return out;
  if (schema.$ref) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(schema.$ref);
    return m && root[m[1]] ? validate(root[m[1]][m[2]], v, root, path, out) : out;
  }
  const kind = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  if (schema.type) {
    const types = [].concat(schema.type);
    const ok = types.some(t => t === kind || (t === "integer" && kind === "number" && Number.isInteger(v)) || (t === "number" && kind === "number"));
    if (!ok) { out.push(path + ": want " + types.join(" or ") + ", not " + kind); return out; }
  }
  if (schema.enum && !schema.enum.some(e => JSON.stringify(e) === JSON.stringify(v))) out.push(path + ": want one of " + schema.enum.map(e => JSON.stringify(e)).join(", "));
  if (kind === "object") {
    for (const r of schema.required || []) if (!(r in v)) out.push(path + ": " + JSON.stringify(r) + " is required");
    for (const [k, x] of Object.entries(v)) {
      if (schema.properties && k in schema.properties) validate(schema.properties[k], x, root, path + "." + k, out);
      else if (schema.additionalProperties === false) out.push(path + ": unknown field " + JSON.stringify(k));
      else if (typeof schema.additionalProperties === "object") validate(schema.additionalProperties, x, root, path + "." + k, out);
    }
  }
  if (kind === "array" && schema.items) v.forEach((x, i) => validate(schema.items, x, root, path + "[" + i + "]", out));
  return out;
}

// checkPayload says what is wrong with a payload that looks like JSON.
function checkPayload(text, schema) {
  const t = text.trim();
  if (!schema && !/^[\[{"]/.test(t)) return "";
  let v;
  try { v = JSON.parse(t); } catch (e) { return "not valid JSON: " + e.message; }
  const problems = schema ? validate(schema, v) : [];
  return problems.length ? "does not match the handler's input type: " + problems.join("; ") : "";
}

if (document.body.dataset.page === "send") {
  const form = $("#send-form"), sel = $("#send-binding"), data = $("#send-data"), check = $("#send-check"), result = $("#send-result");
  const rows = $("#send-rows"), received = new Recent(500), mine = new Set();
  const prefill = () => {
    const opt = sel.selectedOptions[0];
    if (opt && opt.dataset.sample != null && (!data.value.trim() || data.dataset.prefilled === "1")) {
      data.value = opt.dataset.sample; data.dataset.prefilled = "1";
    }
  };
  sel.addEventListener("change", prefill);
  const schemaOf = () => {
    const opt = sel.selectedOptions[0];
    if (!opt || !opt.dataset.schema || !/json/.test(opt.dataset.contentType || "")) return null;
    try { return JSON.parse(opt.dataset.schema); } catch (e) { return null; }
  };
  const recheck = () => { check.textContent = checkPayload(data.value, schemaOf()); check.className = check.textContent ? "err" : "muted"; };
  sel.addEventListener("change", recheck);
  data.addEventListener("input", () => { data.dataset.prefilled = "0"; recheck(); });
  prefill();
  feed({}, batch => {
    for (const ev of batch) {
      if (ev.kind === "received" && ev.metadata && mine.has(ev.metadata["tether-dashboard"])) { received.set(key(ev), ev); mine.add("m:" + ev.messageId); }
      if (ev.kind === "attempt" && mine.has("m:" + ev.messageId)) rows.prepend(attemptRow(ev, received));
    }
  });
  form.addEventListener("submit", async () => {
    result.className = ""; result.textContent = "";
    const problem = checkPayload(data.value, schemaOf());
    if (problem) { result.className = "error"; result.textContent = problem; return; }
    let md;
    try { md = parseMetadata($("#send-metadata").value); } catch (e) { result.className = "error"; result.textContent = e.message; return; }
    const tag = Math.random().toString(36).slice(2, 10);
    md["tether-dashboard"] = tag;
    const ct = sel.selectedOptions[0] && sel.selectedOptions[0].dataset.contentType;
    if (!md.contentType && ct) md.contentType = ct;
    if (!md.contentType) { try { JSON.parse(data.value); md.contentType = "application/json"; } catch (e) { md.contentType = "text/plain"; } }
    mine.add(tag);
    try {
      await postJSON("/ui/api/send", { binding: sel.value, data: data.value, metadata: md });
      result.className = "flash"; result.textContent = "Sent to " + sel.value + "; its attempts show below as they happen.";
    } catch (e) {
      result.className = "error"; result.textContent = e.message;
    }
  });
}

// Message.
if (document.body.dataset.page === "message") {
  const root = $("#message"), fn = root.dataset.function, binding = root.dataset.binding, id = root.dataset.id;
  const status = $("#message-status"), result = $("#action-result");
  let rec = null, evs = [];
  initTabs(root);
  const say = (text, bad) => { result.className = bad ? "error" : "flash"; result.textContent = text; };
  const load = async () => {
    const page = await getJSON("/v1.0/dev/events/recent?" + new URLSearchParams({ after: "0", limit: "1000", messageId: id, function: fn }));
    evs = page.events.filter(e => e.binding === binding || !binding);
    const recs = evs.filter(e => e.kind === "received");
    rec = recs[recs.length - 1] || null;
    const attempts = evs.filter(e => e.kind === "attempt");
    const outputs = evs.filter(e => e.kind === "output");
    status.textContent = evs.length ? attempts.length + " attempt(s), " + outputs.length + " output(s) · from the dev server's last " + page.kept.toLocaleString() + " events" :
      "The dev server no longer holds (or never had) events of this message: it keeps the last " + page.kept.toLocaleString() + ".";
    if (rec) {
      const bytes = payloadBytes(rec.payload, rec.payloadEncoding);
      const text = rec.payloadEncoding === "base64" ? null : rec.payload;
      let pretty = null;
      try { if (text != null) pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
      $("#payload-json").textContent = pretty != null ? pretty : "(not JSON)";
      $("#payload-text").textContent = text != null ? text : "(not text)";
      $("#payload-hex").textContent = hexDump(bytes);
      if (pretty == null) $("[data-tab=" + (text != null ? "text" : "hex") + "]", root).click();
      $("#payload-info").textContent = rec.size + " bytes" + (rec.contentType ? " · " + rec.contentType : "") + (rec.payloadTruncated ? " · only the first " + bytes.length + " bytes were recorded" : "");
      $("#metadata").replaceChildren(...Object.keys(rec.metadata || {}).sort().map(k => el("tr", {}, el("th", {}, k), el("td", {}, rec.metadata[k]))));
      if (!Object.keys(rec.metadata || {}).length) $("#metadata").replaceChildren(el("tr", {}, el("td", { class: "muted" }, "None.")));
    }
    getJSON("/ui/api/logs?" + new URLSearchParams({ function: fn, messageId: id })).then(lines => {
      $("#logs").textContent = lines.length ? lines.map(l => l.text).join("\n") : "None kept: the function wrote no line naming this message (tether dev keeps the last 5,000 lines).";
    }, e => { $("#logs").textContent = e.message; });
    $("#attempts").replaceChildren(...attempts.map(a => el("tr", {},
      el("td", { class: "num" }, a.attempt), el("td", { class: "nowrap" }, fmtTime(a.time)), el("td", {}, outcome(a.outcome)),
      el("td", { class: "num" }, fmtMs(a.durationMs)),
      el("td", { class: "err" }, (a.error || "") + (a.retryInMs ? " (retry in " + fmtMs(a.retryInMs) + ")" : "")))));
    $("#outputs").replaceChildren(...(outputs.length ? outputs.map(o => el("tr", {},
      el("td", { class: "num wide" }, o.attempt), el("td", {}, o.output), el("td", { class: "wide" }, o.operation || ""), el("td", {}, outcome(o.outcome)),
      el("td", { class: "num wide" }, o.size || 0), el("td", { class: "snip" }, o.error ? o.error : (o.payloadEncoding === "base64" ? "(binary)" : o.payload || "")))) :
      [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "None."))]));
    return attempts.length;
  };
  // Wait for the message's last attempt to end (the page may be opened
  // while it runs).
  (async () => {
    for (let i = 0; i < 20; i++) {
      try {
        const n = await load();
        const last = evs.filter(e => e.kind === "attempt").pop();
        if (n && last.outcome !== "retry") break;
      } catch (e) { status.textContent = "Could not read the events: " + e.message; }
      await new Promise(r => setTimeout(r, 1500));
    }
  })();
  const replay = async payload => {
    if (!rec) return say("The message's payload is not known.", true);
    if (rec.payloadTruncated && payload == null) return say("Only the first bytes of this payload were recorded: edit and replay it instead.", true);
    const md = Object.assign({}, rec.metadata || {});
    try {
      await postJSON("/ui/api/send", { binding, data: payload != null ? payload : new TextDecoder().decode(payloadBytes(rec.payload, rec.payloadEncoding)), metadata: md });
      say("Sent to " + binding + " again. It is a new message: see the stream.");
    } catch (e) { say(e.message, true); }
  };
  // The trace: every span of the message's trace, from every function,
  // as a waterfall.
  const loadTrace = async () => {
    const box = $("#trace");
    let t;
    try { t = await getJSON("/ui/api/trace?" + new URLSearchParams({ function: fn, messageId: id })); } catch (e) { box.replaceChildren(el("p", { class: "err" }, e.message)); return false; }
    if (t.error) { box.replaceChildren(el("p", { class: "err" }, t.error)); return true; }
    if (!t.traceId || !t.spans.length) {
      box.replaceChildren(el("p", { class: "placeholder" }, "No trace of this message: " + fn + " keeps its last spans only while it runs (a reload starts anew)."));
      return false;
    }
    // Start times to the microsecond (Date.parse stops at the millisecond).
    const at = s => Date.parse(s.start) + (((/\.\d{3}(\d{1,3})/.exec(s.start) || [])[1] || "0").padEnd(3, "0") / 1000);
    const t0 = Math.min(...t.spans.map(at)), t1 = Math.max(...t.spans.map(s => at(s) + s.durationMs));
    const total = Math.max(t1 - t0, 0.001);
    const depth = {}, byID = {};
    for (const s of t.spans) byID[s.spanId] = s;
    const level = s => { let d = 0; for (let p = byID[s.parentSpanId]; p && d < 20; p = byID[p.parentSpanId]) d++; return d; };
    box.replaceChildren(
      el("p", { class: "muted" }, "Trace " + t.traceId + " · " + t.spans.length + " span(s) · " + fmtMs(total)),
      el("div", { class: "waterfall" }, ...t.spans.map(s => {
        const left = (at(s) - t0) / total * 100, width = Math.max(s.durationMs / total * 100, 0.4);
        const d = depth[s.spanId] = level(s);
        const attrs = Object.entries(s.attributes || {}).map(([k, v]) => k + "=" + v).join("\n");
        return el("div", { class: "span-row", title: s.name + "\n" + attrs },
          el("div", { class: "span-name", style: "padding-left:" + (d * 12) + "px" }, s.name, el("span", { class: "muted" }, " " + (s.service || ""))),
          el("div", { class: "span-track" }, el("div", { class: "span-bar s-" + s.status + " k-" + s.kind, style: "left:" + left + "%;width:" + width + "%" })),
          el("div", { class: "num span-ms" }, fmtMs(s.durationMs)));
      })));
    return true;
  };
  (async () => { for (let i = 0; i < 10 && !(await loadTrace()); i++) await new Promise(r => setTimeout(r, 1500)); })();
  $("#replay").addEventListener("click", () => replay(null));
  $("#edit").addEventListener("click", () => {
    $("#editor").hidden = false;
    $("#edit-data").value = $("#payload-json").textContent !== "(not JSON)" ? $("#payload-json").textContent : (rec ? rec.payload : "");
  });
  $("#edit-cancel").addEventListener("click", () => { $("#editor").hidden = true; });
  $("#edit-send").addEventListener("click", () => {
    const problem = checkPayload($("#edit-data").value);
    if (problem) return say(problem, true);
    replay($("#edit-data").value);
  });
  $("#copy-send").addEventListener("click", async () => {
    if (!rec) return say("The message's payload is not known.", true);
    const md = rec.metadata || {};
    const cmd = "tether send " + shellQuote(binding) + " --data " + shellQuote(rec.payload || "") +
      Object.keys(md).filter(k => k !== "tether-dashboard").sort().map(k => " --metadata " + shellQuote(k + "=" + md[k])).join("");
    const pre = $("#send-command");
    pre.hidden = false; pre.textContent = cmd;
    try { await navigator.clipboard.writeText(cmd); say("Copied."); } catch (e) { say("Select the command below to copy it."); }
  });
  $("#save-test").addEventListener("click", async () => {
    const attempts = evs.filter(e => e.kind === "attempt");
    const last = attempts[attempts.length - 1];
    if (!rec || !last) return say("The message's attempts are not known.", true);
    const recOf = evs.filter(e => e.kind === "received" && e.attempt === last.attempt)[0] || rec;
    const md = Object.assign({}, recOf.metadata || {});
    delete md["tether-dashboard"];
    try {
      const r = await postJSON("/ui/api/test", {
        function: fn, binding, messageId: id, attempt: last.attempt, outcome: last.outcome,
        payload: recOf.payload || "", payloadEncoding: recOf.payloadEncoding || "", payloadTruncated: !!recOf.payloadTruncated,
        contentType: recOf.contentType || "", metadata: md,
        outputs: evs.filter(e => e.kind === "output" && e.attempt === last.attempt && e.outcome === "ok")
          .map(o => ({ output: o.output, payload: o.payload || "", payloadEncoding: o.payloadEncoding || "", payloadTruncated: !!o.payloadTruncated })),
      });
      say("Saved " + r.path + ". Run it: " + r.run);
      const pre = $("#saved-test"); pre.hidden = false; pre.textContent = r.source;
    } catch (e) { say(e.message, true); }
  });
}
