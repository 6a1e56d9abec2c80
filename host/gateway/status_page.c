/* The status page: see status_page.h.
 *
 * The page is three fixed parts around what the flow declares: the executors' table
 * rows (written here, so that the page names every executor even before its script
 * runs) and the graph as JSON (drawn by the script). Executor names are
 * [A-Za-z0-9_.-], but `when` conditions and polling endpoints are free text: the HTML is
 * escaped and the JSON cannot end its <script> element (every <, > and & in it is
 * written \u00XX). */
#define _GNU_SOURCE
#include "status_page.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <flowhost/error.h>

#include "flow_graph.h"

static const char PAGE_HEAD[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>flowhost status</title>\n"
    "<style>\n"
    ":root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#5d6678;--line:#d9dde5;--ok:#1a7f37;--ok-bg:#e3f4e8;--warn:#9a6700;--warn-bg:#fff4d6;--bad:#c62828;--bad-bg:#fde7e7;--accent:#2f5fd0;--node:#fff}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#14171d;--card:#1d222b;--ink:#e6e9ef;--mute:#9aa3b5;--line:#343b48;--ok:#57c77a;--ok-bg:#173524;--warn:#e0b44a;--warn-bg:#3a3016;--bad:#ff7b72;--bad-bg:#3d1d1d;--accent:#7ea2ff;--node:#222834}}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif}\n"
    "header{display:flex;align-items:center;gap:16px;padding:14px 24px;background:var(--card);border-bottom:1px solid var(--line)}\n"
    "header h1{font-size:19px;margin:0;font-weight:600}\n"
    "header h1 small{font-weight:400;color:var(--mute);margin-left:6px}\n"
    ".pill{display:inline-block;padding:2px 10px;border-radius:999px;font-size:13px;font-weight:600}\n"
    ".pill.ok{color:var(--ok);background:var(--ok-bg)}.pill.warn{color:var(--warn);background:var(--warn-bg)}.pill.bad{color:var(--bad);background:var(--bad-bg)}\n"
    "#updated{margin-left:auto;color:var(--mute);font-size:13px}\n"
    "main{max-width:1280px;margin:0 auto;padding:18px 24px 32px}\n"
    "h2{font-size:15px;font-weight:600;margin:22px 0 10px;color:var(--mute);text-transform:uppercase;letter-spacing:.04em}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}\n"
    ".card .label{color:var(--mute);font-size:13px}\n"
    ".card .value{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums;margin-top:2px}\n"
    ".card .unit{font-size:14px;font-weight:400;color:var(--mute);margin-left:3px}\n"
    ".panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px;overflow-x:auto}\n"
    "svg text{font-family:inherit}\n"
    ".node rect{fill:var(--node);stroke:var(--line);stroke-width:1.5}\n"
    ".node.ok rect{stroke:var(--ok)}.node.warn rect{stroke:var(--warn)}.node.bad rect{stroke:var(--bad)}\n"
    ".node.floating rect{stroke-dasharray:6 4}\n"
    ".node .bar{stroke:none}.node.ok .bar{fill:var(--ok)}.node.warn .bar{fill:var(--warn)}.node.bad .bar{fill:var(--bad)}.node.gw .bar{fill:var(--accent)}\n"
    ".node .name{font-weight:600;font-size:14px;fill:var(--ink)}\n"
    ".node .sub{font-size:12px;fill:var(--mute)}\n"
    ".edge{fill:none;stroke:var(--mute);stroke-width:1.4}\n"
    ".edge.floating{stroke-dasharray:5 4}\n"
    "table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
    "th,td{padding:8px 10px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    "th{font-size:13px;color:var(--mute);font-weight:600}\n"
    "tbody tr:last-child td,tbody tr:last-child th{border-bottom:none}\n"
    "td .note{color:var(--mute);font-size:12px;margin-left:6px}\n"
    ".dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:8px;background:var(--mute)}\n"
    ".dot.ok{background:var(--ok)}.dot.warn{background:var(--warn)}.dot.bad{background:var(--bad)}\n"
    ".num-bad{color:var(--bad);font-weight:600}\n"
    "footer{color:var(--mute);font-size:13px;margin-top:18px}\n"
    ".sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\n"
    "#graph svg{display:block;max-width:100%;height:auto;margin:0 auto}\n"
    "code{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:13px}\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<header>\n"
    "<h1>flowhost <small id=\"flow-name\"></small></h1>\n"
    "<span id=\"state\" class=\"pill warn\" role=\"status\" aria-live=\"polite\">connecting</span>\n"
    "<span id=\"updated\">waiting for the first scrape</span>\n"
    "</header>\n"
    "<main>\n"
    "<section aria-labelledby=\"h-flow\">\n"
    "<h2 id=\"h-flow\">Flow</h2>\n"
    "<div class=\"cards\">\n"
    "<div class=\"card\"><div class=\"label\">Requests in flight</div><div class=\"value\" id=\"f-inflight\">&ndash;</div></div>\n"
    "<div class=\"card\"><div class=\"label\">Request rate</div><div class=\"value\" id=\"f-rate\">&ndash;</div></div>\n"
    "<div class=\"card\"><div class=\"label\">Requests answered</div><div class=\"value\" id=\"f-total\">&ndash;</div></div>\n"
    "<div class=\"card\"><div class=\"label\">Latency p50</div><div class=\"value\" id=\"f-p50\">&ndash;</div></div>\n"
    "<div class=\"card\"><div class=\"label\">Latency p99</div><div class=\"value\" id=\"f-p99\">&ndash;</div></div>\n"
    "<div class=\"card\"><div class=\"label\">Failed requests</div><div class=\"value\" id=\"f-errors\">&ndash;</div></div>\n"
    "</div>\n"
    "</section>\n"
    "<section aria-labelledby=\"h-graph\">\n"
    "<h2 id=\"h-graph\">Graph</h2>\n"
    "<div class=\"panel\" id=\"graph\"></div>\n"
    "</section>\n"
    "<section aria-labelledby=\"h-exec\">\n"
    "<h2 id=\"h-exec\">Executors</h2>\n"
    "<div class=\"panel\">\n"
    "<table id=\"executors\">\n"
    "<caption class=\"sr-only\">Executors: replicas, queues, handler latency, restarts and errors</caption>\n"
    "<thead><tr><th scope=\"col\">Executor</th><th scope=\"col\">Replicas ready</th><th scope=\"col\">Queued</th><th scope=\"col\">In workers</th><th scope=\"col\">Handler p50</th><th scope=\"col\">Handler p99</th><th scope=\"col\">Restarts</th><th scope=\"col\">Errors</th></tr></thead>\n"
    "<tbody>\n";

static const char PAGE_MID[] =
    "</tbody>\n"
    "</table>\n"
    "</div>\n"
    "</section>\n"
    "<footer>Numbers from this flow's <code>GET /metrics</code>, read every second. Rate and latencies are over the last 10 seconds when requests were answered in them, else since the flow started. Handler latency is the time an executor's handler took; request latency is from a request's arrival at the gateway to its answer.</footer>\n"
    "</main>\n"
    "<script id=\"flow-data\" type=\"application/json\">\n";

static const char PAGE_TAIL[] =
    "</script>\n"
    "<script>\n"
    "\"use strict\";\n"
    "(function () {\n"
    "const FLOW = JSON.parse(document.getElementById(\"flow-data\").textContent);\n"
    "const WINDOW_MS = 10000, PERIOD_MS = 1000;\n"
    "const $ = (id) => document.getElementById(id);\n"
    "const SVG = \"http://www.w3.org/2000/svg\";\n"
    "document.title = FLOW.name + \" \\u2014 flowhost\";\n"
    "$(\"flow-name\").textContent = FLOW.name;\n"
    "\n"
    "/* ---- the graph, laid out in columns by topological order ---- */\n"
    "function drawGraph() {\n"
    "  const xs = FLOW.executors, n = xs.length;\n"
    "  const layer = new Array(n).fill(1);\n"
    "  for (const i of FLOW.order)\n"
    "    for (const d of xs[i].needs) layer[i] = Math.max(layer[i], layer[d] + 1);\n"
    "  let last = 0;\n"
    "  for (let i = 0; i < n; i++) last = Math.max(last, layer[i]);\n"
    "  const cols = [];\n"
    "  for (let c = 0; c <= last + 1; c++) cols.push([]);\n"
    "  cols[0].push(\"start\");\n"
    "  for (const i of FLOW.order) cols[layer[i]].push(i);\n"
    "  cols[last + 1].push(\"end\");\n"
    "  const W = 176, H = 62, GX = 56, GY = 24, PAD = 16;\n"
    "  const rows = Math.max(...cols.map((c) => c.length));\n"
    "  const width = PAD * 2 + cols.length * W + (cols.length - 1) * GX;\n"
    "  const height = PAD * 2 + rows * H + (rows - 1) * GY;\n"
    "  const pos = new Map();\n"
    "  cols.forEach((col, c) => {\n"
    "    const top = PAD + (height - PAD * 2 - (col.length * H + (col.length - 1) * GY)) / 2;\n"
    "    col.forEach((k, r) => pos.set(k, {x: PAD + c * (W + GX), y: top + r * (H + GY)}));\n"
    "  });\n"
    "  const el = (tag, attrs, parent) => {\n"
    "    const e = document.createElementNS(SVG, tag);\n"
    "    for (const a in attrs) e.setAttribute(a, attrs[a]);\n"
    "    if (parent) parent.appendChild(e);\n"
    "    return e;\n"
    "  };\n"
    "  const svg = el(\"svg\", {viewBox: \"0 0 \" + width + \" \" + height, width: width, height: height,\n"
    "                         role: \"img\", \"aria-labelledby\": \"graph-title\"});\n"
    "  el(\"title\", {id: \"graph-title\"}, svg).textContent = \"The flow's graph: the gateway, then \" +\n"
    "      xs.map((x) => x.name).join(\", \") + \", then the gateway's answer\";\n"
    "  const defs = el(\"defs\", {}, svg);\n"
    "  const m = el(\"marker\", {id: \"arrow\", viewBox: \"0 0 10 10\", refX: 9, refY: 5, markerWidth: 7,\n"
    "                          markerHeight: 7, orient: \"auto-start-reverse\"}, defs);\n"
    "  el(\"path\", {d: \"M0,0 L10,5 L0,10 z\", fill: \"currentColor\", class: \"arrowhead\"}, m);\n"
    "  const edges = el(\"g\", {}, svg);\n"
    "  const edge = (a, b, floating) => {\n"
    "    const p = pos.get(a), q = pos.get(b);\n"
    "    const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x - 2, y2 = q.y + H / 2, mx = (x1 + x2) / 2;\n"
    "    el(\"path\", {d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,\n"
    "                class: \"edge\" + (floating ? \" floating\" : \"\"), \"marker-end\": \"url(#arrow)\",\n"
    "                style: \"color:var(--mute)\"}, edges);\n"
    "  };\n"
    "  xs.forEach((x, i) => {\n"
    "    if (x.needs.length === 0) edge(\"start\", i, x.floating);\n"
    "    for (const d of x.needs) edge(d, i, x.floating);\n"
    "    if (x.sink) edge(i, \"end\", false);\n"
    "  });\n"
    "  if (!xs.some((x) => x.sink)) edge(\"start\", \"end\", false);\n"
    "  const node = (k, cls, name, sub) => {\n"
    "    const p = pos.get(k);\n"
    "    const g = el(\"g\", {class: \"node \" + cls, transform: `translate(${p.x},${p.y})`}, svg);\n"
    "    el(\"rect\", {width: W, height: H, rx: 9}, g);\n"
    "    el(\"rect\", {class: \"bar\", width: 5, height: H - 16, x: 7, y: 8, rx: 2}, g);\n"
    "    el(\"text\", {class: \"name\", x: 20, y: 25}, g).textContent = name;\n"
    "    const t = el(\"text\", {class: \"sub\", x: 20, y: 45}, g);\n"
    "    t.textContent = sub;\n"
    "    return {g: g, sub: t};\n"
    "  };\n"
    "  node(\"start\", \"gw\", \"gateway\", \"requests in\");\n"
    "  node(\"end\", \"gw\", \"gateway\", \"answers out\");\n"
    "  NODES = xs.map((x, i) => node(i, x.floating ? \"floating\" : \"\", x.name, \"\"));\n"
    "  $(\"graph\").appendChild(svg);\n"
    "}\n"
    "let NODES = [];\n"
    "\n"
    "/* ---- Prometheus text: series as {name, labels, value} ---- */\n"
    "function parseProm(text) {\n"
    "  const out = [];\n"
    "  for (const line of text.split(\"\\n\")) {\n"
    "    if (line === \"\" || line[0] === \"#\") continue;\n"
    "    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})?\\s+(\\S+)/.exec(line);\n"
    "    if (!m) continue;\n"
    "    const labels = {};\n"
    "    if (m[3]) {\n"
    "      const re = /([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"/g;\n"
    "      let l;\n"
    "      while ((l = re.exec(m[3])) !== null)\n"
    "        labels[l[1]] = l[2].replace(/\\\\n/g, \"\\n\").replace(/\\\\(.)/g, \"$1\");\n"
    "    }\n"
    "    const v = m[4] === \"+Inf\" ? Infinity : m[4] === \"-Inf\" ? -Infinity : parseFloat(m[4]);\n"
    "    out.push({name: m[1], labels: labels, value: v});\n"
    "  }\n"
    "  return out;\n"
    "}\n"
    "const keyOf = (s) => s.name + JSON.stringify(s.labels);\n"
    "\n"
    "/* The change of every series between two scrapes (counters and histograms only grow;\n"
    "   a reset, a new flow behind the same address, shows as the later value). */\n"
    "function delta(now, before) {\n"
    "  const old = new Map(before.map((s) => [keyOf(s), s.value]));\n"
    "  return now.map((s) => {\n"
    "    const o = old.get(keyOf(s));\n"
    "    const v = o === undefined || s.value < o ? s.value : s.value - o;\n"
    "    return {name: s.name, labels: s.labels, value: v};\n"
    "  });\n"
    "}\n"
    "function sum(series, name, match) {\n"
    "  let t = 0, seen = false;\n"
    "  for (const s of series)\n"
    "    if (s.name === name && (!match || match(s.labels))) { t += s.value; seen = true; }\n"
    "  return seen ? t : NaN;\n"
    "}\n"
    "/* histogram_quantile() of the buckets of NAME (summed over the series MATCH keeps): the\n"
    "   bucket the rank falls in, linearly interpolated; NaN without observations. */\n"
    "function quantile(series, name, q, match) {\n"
    "  const by = new Map();\n"
    "  for (const s of series)\n"
    "    if (s.name === name + \"_bucket\" && (!match || match(s.labels))) {\n"
    "      const le = s.labels.le === \"+Inf\" ? Infinity : parseFloat(s.labels.le);\n"
    "      by.set(le, (by.get(le) || 0) + s.value);\n"
    "    }\n"
    "  const b = [...by.entries()].sort((x, y) => x[0] - y[0]);\n"
    "  if (b.length === 0 || b[b.length - 1][0] !== Infinity) return NaN;\n"
    "  const total = b[b.length - 1][1];\n"
    "  if (!(total > 0)) return NaN;\n"
    "  const rank = q * total;\n"
    "  let i = 0;\n"
    "  while (i < b.length - 1 && b[i][1] < rank) i++;\n"
    "  if (b[i][0] === Infinity) return b.length > 1 ? b[b.length - 2][0] : NaN;\n"
    "  const lo = i === 0 ? 0 : b[i - 1][0], loCount = i === 0 ? 0 : b[i - 1][1];\n"
    "  if (i === 0 && b[0][0] <= 0) return b[0][0];\n"
    "  const n = b[i][1] - loCount;\n"
    "  return n > 0 ? lo + (b[i][0] - lo) * (rank - loCount) / n : lo;\n"
    "}\n"
    "\n"
    "/* ---- numbers with units ---- */\n"
    "function fmtCount(v) {\n"
    "  if (!isFinite(v)) return \"\\u2013\";\n"
    "  if (v >= 1e9) return (v / 1e9).toFixed(2) + \" G\";\n"
    "  if (v >= 1e6) return (v / 1e6).toFixed(2) + \" M\";\n"
    "  if (v >= 1e4) return (v / 1e3).toFixed(1) + \" k\";\n"
    "  return String(Math.round(v));\n"
    "}\n"
    "function fmtSeconds(v) {\n"
    "  if (!isFinite(v)) return [\"\\u2013\", \"\"];\n"
    "  if (v < 1e-3) return [(v * 1e6).toFixed(v < 1e-5 ? 1 : 0), \"\\u00b5s\"];\n"
    "  if (v < 1) return [(v * 1e3).toFixed(v < 1e-2 ? 2 : v < 0.1 ? 1 : 0), \"ms\"];\n"
    "  return [v.toFixed(v < 10 ? 2 : 1), \"s\"];\n"
    "}\n"
    "function setValue(id, text, unit) {\n"
    "  const e = $(id);\n"
    "  e.textContent = text;\n"
    "  if (unit) {\n"
    "    const u = document.createElement(\"span\");\n"
    "    u.className = \"unit\";\n"
    "    u.textContent = unit;\n"
    "    e.appendChild(u);\n"
    "  }\n"
    "}\n"
    "function setSeconds(id, v) { const f = fmtSeconds(v); setValue(id, f[0], f[1]); }\n"
    "function cell(row, k, text, bad) {\n"
    "  const td = row.querySelector('[data-k=\"' + k + '\"]');\n"
    "  td.textContent = text;\n"
    "  td.className = bad ? \"num-bad\" : \"\";\n"
    "}\n"
    "const level = (ready, total) => ready >= total ? \"ok\" : ready > 0 ? \"warn\" : \"bad\";\n"
    "\n"
    "/* ---- one refresh ---- */\n"
    "let history = []; /* {t, series}, oldest first, up to WINDOW_MS back */\n"
    "function render(now) {\n"
    "  const t = Date.now();\n"
    "  history.push({t: t, series: now});\n"
    "  while (history.length > 2 && t - history[1].t >= WINDOW_MS) history.shift();\n"
    "  const base = history[0];\n"
    "  const span = (t - base.t) / 1000;\n"
    "  const win = history.length > 1 ? delta(now, base.series) : null;\n"
    "\n"
    "  const total = sum(now, \"flowhost_requests_total\");\n"
    "  const failed = sum(now, \"flowhost_requests_total\", (l) => l.status !== \"success\");\n"
    "  const recent = win ? sum(win, \"flowhost_requests_total\") : NaN;\n"
    "  setValue(\"f-inflight\", fmtCount(sum(now, \"flowhost_requests_in_flight\")));\n"
    "  setValue(\"f-total\", fmtCount(total));\n"
    "  setValue(\"f-errors\", fmtCount(failed));\n"
    "  $(\"f-errors\").className = \"value\" + (failed > 0 ? \" num-bad\" : \"\");\n"
    "  if (win && span > 0) setValue(\"f-rate\", (recent / span).toFixed(recent / span < 10 ? 1 : 0), \"req/s\");\n"
    "  const lat = win && sum(win, \"flowhost_request_duration_seconds_count\") > 0 ? win : now;\n"
    "  setSeconds(\"f-p50\", quantile(lat, \"flowhost_request_duration_seconds\", 0.5));\n"
    "  setSeconds(\"f-p99\", quantile(lat, \"flowhost_request_duration_seconds\", 0.99));\n"
    "\n"
    "  let worst = \"ok\";\n"
    "  FLOW.executors.forEach((x, i) => {\n"
    "    const mine = (l) => l.executor === x.name;\n"
    "    const ready = sum(now, \"flowhost_executor_replicas_ready\", mine);\n"
    "    const all = sum(now, \"flowhost_executor_replicas\", mine);\n"
    "    const queued = sum(now, \"flowhost_executor_queued_requests\", mine);\n"
    "    const held = sum(now, \"flowhost_worker_held_requests\", mine);\n"
    "    const restarts = sum(now, \"flowhost_worker_restarts_total\", mine);\n"
    "    const errors = sum(now, \"flowhost_executor_errors_total\", mine);\n"
    "    const h = win && sum(win, \"flowhost_executor_duration_seconds_count\", mine) > 0 ? win : now;\n"
    "    const p50 = fmtSeconds(quantile(h, \"flowhost_executor_duration_seconds\", 0.5, mine));\n"
    "    const p99 = fmtSeconds(quantile(h, \"flowhost_executor_duration_seconds\", 0.99, mine));\n"
    "    const lv = isNaN(ready) ? \"bad\" : level(ready, all);\n"
    "    if (lv === \"bad\" || (lv === \"warn\" && worst === \"ok\")) worst = lv;\n"
    "    const row = $(\"x-\" + x.name);\n"
    "    const replicas = (isNaN(ready) ? \"?\" : ready) + \" / \" + (isNaN(all) ? x.replicas * x.shards : all);\n"
    "    row.querySelector(\".dot\").className = \"dot \" + lv;\n"
    "    row.querySelector(\".dot\").title = {ok: \"all replicas ready\", warn: \"some replicas not ready\", bad: \"no replica ready\"}[lv];\n"
    "    cell(row, \"replicas\", replicas, lv !== \"ok\");\n"
    "    cell(row, \"queued\", fmtCount(queued));\n"
    "    cell(row, \"held\", fmtCount(held));\n"
    "    cell(row, \"p50\", p50.join(\" \").trim());\n"
    "    cell(row, \"p99\", p99.join(\" \").trim());\n"
    "    cell(row, \"restarts\", fmtCount(restarts), restarts > 0);\n"
    "    cell(row, \"errors\", fmtCount(errors), errors > 0);\n"
    "    const nd = NODES[i];\n"
    "    nd.g.setAttribute(\"class\", \"node \" + lv + (x.floating ? \" floating\" : \"\"));\n"
    "    nd.sub.textContent = replicas + \" ready \\u00b7 p99 \" + p99.join(\" \").trim() +\n"
    "        (queued > 0 ? \" \\u00b7 \" + fmtCount(queued) + \" queued\" : \"\");\n"
    "  });\n"
    "  const st = $(\"state\");\n"
    "  st.className = \"pill \" + worst;\n"
    "  st.textContent = {ok: \"serving\", warn: \"degraded\", bad: \"executor down\"}[worst];\n"
    "  $(\"updated\").textContent = \"updated \" + new Date(t).toLocaleTimeString();\n"
    "}\n"
    "\n"
    "async function refresh() {\n"
    "  try {\n"
    "    const r = await fetch(\"metrics\", {cache: \"no-store\"});\n"
    "    if (!r.ok) throw new Error(\"GET /metrics answered \" + r.status);\n"
    "    render(parseProm(await r.text()));\n"
    "  } catch (e) {\n"
    "    const st = $(\"state\");\n"
    "    st.className = \"pill bad\";\n"
    "    st.textContent = \"unreachable\";\n"
    "    $(\"updated\").textContent = String(e.message || e);\n"
    "  }\n"
    "  setTimeout(refresh, PERIOD_MS);\n"
    "}\n"
    "drawGraph();\n"
    "refresh();\n"
    "})();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* Writes TEXT as HTML character data or a quoted attribute value. */
static void html_text(FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*p, f);
        }
    }
}

/* One table row per executor: the name and what the flow declares of it; the numbers
 * are filled by the script (data-k names the figure). */
static void executor_row(FILE *f, const fh_flow_executor *x)
{
    fputs("<tr id=\"x-", f);
    html_text(f, x->name);
    fputs("\"><th scope=\"row\"><span class=\"dot\" aria-hidden=\"true\"></span>", f);
    html_text(f, x->name);
    if (x->shards > 1)
        fprintf(f, "<span class=\"note\">%d shards, %s</span>", x->shards,
                x->n_pollings ? "polling by endpoint" : fh_polling_name(x->polling));
    if (x->floating)
        fputs("<span class=\"note\">floating</span>", f);
    if (x->when_text) {
        fputs("<span class=\"note\">when ", f);
        html_text(f, x->when_text);
        fputs("</span>", f);
    }
    fprintf(f, "</th><td data-k=\"replicas\">? / %d</td>", x->replicas * x->shards);
    static const char *const figures[] = {"queued", "held", "p50", "p99", "restarts", "errors"};
    for (size_t k = 0; k < sizeof figures / sizeof figures[0]; k++)
        fprintf(f, "<td data-k=\"%s\">&ndash;</td>", figures[k]);
    fputs("</tr>\n", f);
}

/* The base name of the flow's file, for the title: "flow" when it has none. */
static const char *flow_name(const fh_flow_config *cfg)
{
    if (cfg->path == NULL || cfg->path[0] == '\0')
        return "flow";
    const char *slash = strrchr(cfg->path, '/');
    return slash && slash[1] ? slash + 1 : cfg->path;
}

/* The graph as JSON: {name, executors: [{name, needs: [index], sink, floating, replicas,
 * shards, polling, when}], order: [index]}. NULL when out of memory. */
static json_t *graph_json(const fh_flow_config *cfg, const size_t *order)
{
    json_t *root = json_object(), *xs = json_array(), *ord = json_array();
    if (root == NULL || xs == NULL || ord == NULL)
        goto fail;
    int bad = json_object_set_new(root, "name", json_string(flow_name(cfg)));
    bad |= json_object_set(root, "executors", xs);
    bad |= json_object_set(root, "order", ord);
    for (size_t i = 0; i < cfg->n_executors && !bad; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        json_t *o = json_object(), *needs = json_array();
        if (o == NULL || needs == NULL) {
            json_decref(o);
            json_decref(needs);
            bad = 1;
            break;
        }
        /* o and needs belong to the graph once added: a failure leaves nothing to free. */
        if (json_array_append_new(xs, o) != 0 ||
            json_object_set_new(o, "name", json_string(x->name)) != 0 ||
            json_object_set_new(o, "needs", needs) != 0) {
            bad = 1;
            break;
        }
        for (size_t k = 0; k < x->n_needs && !bad; k++)
            bad |= json_array_append_new(needs, json_integer((json_int_t)x->needs[k]));
        bad |= json_object_set_new(o, "sink", json_boolean(
                   fh_flow_graph_is_sink(cfg->executors, cfg->n_executors, i)));
        bad |= json_object_set_new(o, "floating", json_boolean(x->floating));
        bad |= json_object_set_new(o, "replicas", json_integer(x->replicas));
        bad |= json_object_set_new(o, "shards", json_integer(x->shards));
        bad |= json_object_set_new(o, "polling", json_string(fh_polling_name(x->polling)));
        bad |= json_object_set_new(o, "when", x->when_text ? json_string(x->when_text)
                                                           : json_null());
        bad |= json_array_append_new(ord, json_integer((json_int_t)order[i]));
    }
    json_decref(xs);
    json_decref(ord);
    if (!bad)
        return root;
    json_decref(root);
    return NULL;
fail:
    json_decref(root);
    json_decref(xs);
    json_decref(ord);
    return NULL;
}

int fh_status_page_html(const fh_flow_config *cfg, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t n = cfg->n_executors;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL)
        return fh_set_error(FH_E_NOMEM, "status page: out of memory");
    int rc = fh_flow_graph_order(cfg->executors, n, order);
    if (rc != 0) {
        free(order);
        return rc == FH_E_NOMEM ? fh_set_error(rc, "status page: out of memory")
                                : fh_set_error(rc, "status page: the flow's needs make a cycle");
    }
    json_t *graph = graph_json(cfg, order);
    free(order);
    char *data = graph ? json_dumps(graph, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(graph);
    char *page = NULL;
    size_t size = 0;
    FILE *f = data ? open_memstream(&page, &size) : NULL;
    if (f == NULL) {
        free(data);
        return fh_set_error(FH_E_NOMEM, "status page: out of memory");
    }
    fputs(PAGE_HEAD, f);
    for (size_t i = 0; i < n; i++)
        executor_row(f, &cfg->executors[i]);
    fputs(PAGE_MID, f);
    for (const char *p = data; *p; p++) {
        if (*p == '<' || *p == '>' || *p == '&')
            fprintf(f, "\\u%04x", (unsigned)*p);
        else
            fputc(*p, f);
    }
    fputc('\n', f);
    fputs(PAGE_TAIL, f);
    free(data);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        free(page);
        return fh_set_error(FH_E_NOMEM, "status page: out of memory");
    }
    *out = page;
    *len = size;
    return 0;
}
