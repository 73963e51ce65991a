"""The report page: one self-contained HTML file (plotly.js and the data inlined; works offline)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from plotly.offline import get_plotlyjs

from snnas._text import plural
from snnas.report._data import HV_UNIT, completed

__all__ = ["render_page"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1d3557;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:14px}
main{padding:12px 24px;max-width:1400px;margin:auto}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:12px 16px;margin:12px 0}
h2{font-size:17px;margin:4px 0 10px}.row{display:flex;gap:16px;flex-wrap:wrap}.row>div{flex:1 1 480px}
.controls{display:flex;gap:18px;align-items:center;flex-wrap:wrap;font-size:14px;margin-bottom:6px}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #eee;
text-align:right}th{cursor:pointer;background:#f3f3f3;position:sticky;top:0}th:first-child,td:first-child{text-align:left}
tr.sel{background:#fff3c4}tr.over{opacity:.35}tbody tr{cursor:pointer}code{background:#f3f3f3;padding:1px 4px}
.muted{color:#777;font-size:13px}.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px}
#best{font-weight:600}.note{background:#fff8e1;border-left:4px solid #ffbf00;padding:6px 10px;font-size:14px}
"""

_JS = r"""
const D = JSON.parse(document.getElementById('snnas-data').textContent);
const STATE_COLORS = {'Pareto front': '#d62728', 'complete': '#1f77b4', 'pruned (last rung)': '#b0b0b0',
                      'infeasible': '#9467bd', 'not above chance': '#ff7f0e', 'failed': '#000000',
                      'running (last rung)': '#17becf'};
const PALETTE = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
const OP_COLORS = {sop: '#2a9d8f', mac: '#e76f51', ac: '#e9c46a', neuron_update: '#264653'};
const fmt = (x, d = 4) => (x === null || x === undefined) ? '' : (typeof x === 'number' ? +x.toPrecision(d) + '' : x + '');
let budget = Infinity, colorBy = 'state', selected = D.pick;
const infeasible = new Set(D.infeasible), belowChance = new Set(D.below_chance);
const mark = n => (n === D.pick ? ' ★' : '') + (n === D.knee ? ' ◆' : '');
const points = D.trials.filter(t => t.acc !== null && t.energy !== null);

function category(t) {
  if (colorBy !== 'state') {
    const v = (colorBy in t.knobs) ? t.knobs[colorBy] : (t.arch[colorBy] ?? 'n/a');
    return colorBy + ' = ' + v;
  }
  if (t.pareto) return 'Pareto front';
  if (t.state === 'COMPLETE') return belowChance.has(t.number) ? 'not above chance' :
      (infeasible.has(t.number) ? 'infeasible' : 'complete');
  if (t.state === 'PRUNED') return 'pruned (last rung)';
  if (t.state === 'RUNNING') return 'running (last rung)';
  return 'failed';
}
function hover(t) {
  const a = t.arch;
  return `trial ${t.number} (${t.state}${t.fidelity && t.fidelity !== 'full' ? ', ' + t.fidelity : ''})<br>` +
    `acc ${fmt(t.acc)} · ${fmt(t.energy)} µJ/image · params ${t.params ?? ''}<br>` +
    D.columns.map(k => `${k} ${fmt(a[k] ?? '')}`).join(' · ') +
    (t.firing_rate !== null ? `<br>mean firing rate ${fmt(t.firing_rate, 3)}` : '') +
    (t.reason ? `<br>${t.reason.slice(0, 90)}` : '');
}
// The log energy axis: '~g' labels every tick with its value (plotly's default labels the 2 and 5 ticks with a
// bare digit: a '2' that meant 0.02 µJ). Steps: decades over more than 3 decades, 1-2-5 over more than 0.7 of
// one (plotly's own 1-9 steps crowd their labels), plotly's finer steps below; recomputed on zoom.
const logDtick = (lo, hi) => hi - lo > 3 ? 1 : (hi - lo > 0.7 ? 'D2' : null);
let energyDtick = logDtick(Math.log10(D.energyRange[0]), Math.log10(D.energyRange[1]));
function onEnergyZoom(ev) {
  const r = ev['xaxis.range'] || (ev['xaxis.range[0]'] !== undefined ? [ev['xaxis.range[0]'], ev['xaxis.range[1]']] :
      null);
  const next = r ? logDtick(r[0], r[1]) : (ev['xaxis.autorange'] ?
      logDtick(Math.log10(D.energyRange[0]), Math.log10(D.energyRange[1])) : energyDtick);
  if (next !== energyDtick) { energyDtick = next; Plotly.relayout('pareto', {'xaxis.dtick': next}); }
}
function drawPareto() {
  const groups = {};
  for (const t of points) (groups[category(t)] ||= []).push(t);
  const names = Object.keys(groups).sort();
  const traces = names.map((name, i) => ({
    type: 'scatter', mode: 'markers', name: name, meta: 'trials',
    x: groups[name].map(t => t.energy), y: groups[name].map(t => t.acc),
    customdata: groups[name].map(t => t.number), text: groups[name].map(hover), hoverinfo: 'text',
    marker: {size: groups[name].map(t => t.pareto ? 11 : 8),
             color: colorBy === 'state' ? (STATE_COLORS[name] || '#444') : PALETTE[i % PALETTE.length],
             opacity: groups[name].map(t => t.energy <= budget ? 0.9 : 0.12),
             symbol: groups[name].map(t => t.state === 'PRUNED' ? 'circle-open' : 'circle'),
             line: {width: 1, color: '#333'}}}));
  const front = D.front.map(n => points.find(t => t.number === n)).filter(Boolean);
  traces.push({type: 'scatter', mode: 'lines', name: 'front', x: front.map(t => t.energy),
               y: front.map(t => t.acc), line: {shape: 'hv', color: '#d62728', width: 1.5}, hoverinfo: 'skip'});
  const knee = points.find(t => t.number === D.knee);
  if (knee) traces.push({type: 'scatter', mode: 'markers', name: 'knee', x: [knee.energy], y: [knee.acc],
      marker: {symbol: 'diamond', size: 14, color: '#2a9d8f', line: {width: 1, color: '#333'}}, hoverinfo: 'skip'});
  const pick = points.find(t => t.number === D.pick);
  if (pick) traces.push({type: 'scatter', mode: 'markers', name: 'suggested (near-best)', x: [pick.energy],
      y: [pick.acc], marker: {symbol: 'star', size: 20, color: '#ffbf00', line: {width: 1, color: '#333'}},
      hoverinfo: 'skip'});
  const sel = points.find(t => t.number === selected);
  if (sel) traces.push({type: 'scatter', mode: 'markers', name: 'selected', x: [sel.energy], y: [sel.acc],
      marker: {symbol: 'circle-open', size: 24, color: '#000', line: {width: 2}}, hoverinfo: 'skip'});
  const layout = {margin: {t: 10, r: 10}, height: 460, hovermode: 'closest', legend: {orientation: 'h', y: -0.18},
                  xaxis: {type: 'log', tickformat: '~g', dtick: energyDtick, title: {text: 'energy per image (µJ, log)'}},
                  yaxis: {title: {text: 'validation accuracy'}}};
  if (isFinite(budget)) layout.shapes = [{type: 'line', x0: budget, x1: budget, yref: 'paper', y0: 0, y1: 1,
                                           line: {dash: 'dot', color: '#555'}}];
  Plotly.react('pareto', traces, layout, {responsive: true, displaylogo: false});
}
function bestUnderBudget() {
  const fr = points.filter(t => t.pareto && t.energy <= budget);
  fr.sort((a, b) => b.acc - a.acc || a.energy - b.energy);
  return fr[0];
}
function updateBudget() {
  const el = document.getElementById('budget');
  const lo = Math.log10(D.energyRange[0]), hi = Math.log10(D.energyRange[1]);
  const v = +el.value;
  budget = v >= 1000 ? Infinity : Math.pow(10, lo + (hi - lo) * v / 1000);
  document.getElementById('budget-value').textContent = isFinite(budget) ? fmt(budget, 3) + ' µJ' : 'no limit';
  const b = bestUnderBudget();
  document.getElementById('best').innerHTML = b ? `trial ${b.number}: acc ${fmt(b.acc)} at ${fmt(b.energy)} µJ ` +
      `<button onclick="selectTrial(${b.number})">show</button>` : 'no Pareto trial within this budget';
  drawPareto(); drawTable();
}
function drawHypervolume() {
  const h = D.hypervolume;
  Plotly.newPlot('hv', [{type: 'scatter', mode: 'lines+markers', x: h.hv.map((_, i) => i + 1), y: h.hv,
      text: h.trials.map(n => 'trial ' + n), hoverinfo: 'text+y'}],
    {margin: {t: 10}, height: 300, xaxis: {title: {text: 'completed trials (in completion order)'}},
     yaxis: {title: {text: `hypervolume (${D.hvUnit})`}}}, {responsive: true, displaylogo: false, displayModeBar: false});
}
function drawImportance() {
  const imp = D.importance;
  for (const [key, div, title] of [['val_accuracy', 'imp-acc', 'accuracy'], ['energy_uj', 'imp-energy', 'energy']]) {
    const v = imp[key] || {};
    const names = Object.keys(v).sort((a, b) => v[a] - v[b]);
    if (!names.length) { document.getElementById(div).innerHTML =
        `<p class="muted">No importances for ${title}${imp.error ? ': ' + imp.error : ''}.</p>`; continue; }
    Plotly.newPlot(div, [{type: 'bar', orientation: 'h', x: names.map(n => v[n]), y: names}],
      {margin: {t: 30, l: 120}, height: 260, title: {text: 'importance for ' + title, font: {size: 14}}},
      {responsive: true, displaylogo: false, displayModeBar: false});
  }
}
function selectTrial(n) {
  if (!(String(n) in D.details)) return;
  selected = n;
  document.getElementById('trial-select').value = String(n);
  drawDetail(); drawPareto(); drawTable();
}
function drawDetail() {
  const d = D.details[String(selected)];
  const box = document.getElementById('trial-summary');
  if (!d) { box.innerHTML = '<p class="muted">No completed Pareto trial to show.</p>'; return; }
  const layers = d.layers;  // both charts in network order, the first layer at the top
  const ops = ['sop', 'mac', 'ac', 'neuron_update'];
  Plotly.react('layer-energy', ops.map(op => ({type: 'bar', orientation: 'h', name: op.toUpperCase().replace('_', ' '),
      y: layers.map(l => l.layer), x: layers.map(l => l[op + '_uj']), marker: {color: OP_COLORS[op]},
      hovertemplate: '%{y}: %{x:.4g} µJ<extra>' + op + '</extra>'})),
    {barmode: 'stack', margin: {t: 40, l: 260, b: 90}, height: Math.max(320, 18 * layers.length + 130),
     yaxis: {autorange: 'reversed'},
     title: {text: `trial ${d.number}: energy per layer (µJ/image)`, font: {size: 14}},
     legend: {orientation: 'h', x: 0, xanchor: 'left', y: -70 / Math.max(190, 18 * layers.length),
              yanchor: 'top'}}, {responsive: true, displaylogo: false, displayModeBar: false});
  const f = d.firing;
  Plotly.react('firing', [{type: 'heatmap', z: f.z, y: f.layers, x: Array.from({length: f.T}, (_, i) => 't=' + i),
      colorscale: 'Viridis', zmin: 0, colorbar: {title: {text: 'rate'}},
      hovertemplate: '%{y} %{x}: %{z:.3f}<extra></extra>'}],
    {margin: {t: 40, l: 260}, height: Math.max(320, 18 * f.layers.length + 80), yaxis: {autorange: 'reversed'},
     title: {text: `trial ${d.number}: firing rate per layer and timestep`, font: {size: 14}}},
    {responsive: true, displaylogo: false, displayModeBar: false});
  const c = d.config, e = d.energy_by_op;
  const ratio = d.ann_energy_uj ? ` (the same network as an ANN: ${fmt(d.ann_energy_uj)} µJ, ` +
      `${fmt(d.ann_energy_uj / d.energy, 3)}× more)` : '';
  const role = [d.number === D.pick ? 'suggested: the default of snnas export' : '',
                d.number === D.knee ? 'knee' : ''].filter(Boolean).join(', ');
  box.innerHTML = `<div class="kv"><b>trial</b><span>${d.number}${role ? ' (' + role + ')' : ''} ` +
    `· arch <code>${d.arch_id}</code> · seed ${d.seed}</span>` +
    `<b>result</b><span>validation accuracy ${fmt(d.acc)} · ${fmt(d.energy)} µJ/image${ratio}</span>` +
    `<b>architecture</b><span>T ${c.T} · saccades ${c.saccades} · depth ${c.depth} · width ${c.embed_dim} · ` +
    `heads ${c.num_heads} · MLP ${c.mlp_ratio} · ${c.attention} ${c.attention === 'sssa' ? c.sssa_version : ''} · ` +
    `tokenizer ${c.tokenizer} · ${d.params} parameters</span>` +
    `<b>energy by op</b><span>${Object.entries(e).map(([k, v]) => k.toUpperCase() + ' ' + fmt(v, 3) + ' µJ').join(' · ')}</span>` +
    `<b>export</b><span><code>snnas export ${D.study.args} --trial ${d.number}</code></span>` +
    `<b>re-run</b><span><code>${d.command || ''}</code></span></div>`;
}
let sortKey = 'energy', sortAsc = true;
// Every knob the space varies (a continuous neuron_tau too) and no constant field, as pareto.csv and the terminal.
const COLS = [['number', 'trial'], ['acc', 'val acc'], ['energy', 'µJ/image'], ['params', 'params'],
              ...D.columns.map(k => [k, k]), ['firing_rate', 'firing rate']];
const cell = (t, k) => (k in t) ? t[k] : t.arch[k];
function drawTable() {
  const rows = points.filter(t => t.pareto);
  rows.sort((a, b) => { const x = cell(a, sortKey), y = cell(b, sortKey);
    return (x < y ? -1 : x > y ? 1 : 0) * (sortAsc ? 1 : -1); });
  document.getElementById('front-table').innerHTML = '<thead><tr>' + COLS.map(([k, n]) =>
      `<th data-k="${k}">${n}${k === sortKey ? (sortAsc ? ' ▲' : ' ▼') : ''}</th>`).join('') + '</tr></thead><tbody>' +
    rows.map(t => `<tr data-n="${t.number}" class="${t.number === selected ? 'sel' : ''} ${t.energy > budget ? 'over' : ''}">` +
      COLS.map(([k]) => `<td>${fmt(cell(t, k))}${k === 'number' ? mark(t.number) : ''}</td>`).join('') +
      '</tr>').join('') + '</tbody>';
  for (const th of document.querySelectorAll('#front-table th')) th.onclick = () => {
    sortAsc = th.dataset.k === sortKey ? !sortAsc : true; sortKey = th.dataset.k; drawTable(); };
  for (const tr of document.querySelectorAll('#front-table tbody tr')) tr.onclick = () => selectTrial(+tr.dataset.n);
}
function init() {
  const sel = document.getElementById('trial-select');
  for (const n of D.front) {
    const t = points.find(p => p.number === n);
    const o = document.createElement('option'); o.value = String(n);
    o.textContent = `trial ${n}: acc ${fmt(t.acc)}, ${fmt(t.energy)} µJ` +
        (n === D.pick ? ' (suggested)' : '') + (n === D.knee ? ' (knee)' : '');
    sel.appendChild(o);
  }
  if (selected !== null) sel.value = String(selected);
  sel.onchange = () => selectTrial(+sel.value);
  const cb = document.getElementById('color-by');
  for (const k of ['state', ...D.knobs]) { const o = document.createElement('option'); o.value = k; o.textContent = k; cb.appendChild(o); }
  cb.onchange = () => { colorBy = cb.value; drawPareto(); };
  document.getElementById('budget').oninput = updateBudget;
  document.getElementById('pareto').on('plotly_relayout', onEnergyZoom);
  document.getElementById('pareto').on('plotly_click', ev => {
    const n = ev.points[0].customdata; if (n !== undefined) selectTrial(n); });
}
drawPareto(); init(); updateBudget(); drawHypervolume(); drawImportance(); drawDetail();
"""


# What a trial's state reads as in a sentence ("2 failed", not "2 fail").
_STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
                "WAITING": "waiting"}


def _timesteps(included: Any) -> str:
    """The provenance's ``T_included`` in words (it printed as a bare True)."""
    if included is True:
        return "each energy is per image, summed over all T timesteps (one whole inference)"
    if included is False:
        return "each energy is for one timestep of an image (multiply by T for one whole inference)"
    return "not recorded"


def _images(n: Any) -> str:
    return plural(n, "image") if isinstance(n, int) else f"{html.escape(str(n))} images"


def _provenance_html(prov: dict[str, Any]) -> str:
    profile = prov.get("profile") or {}
    if not profile:
        return '<p class="muted">No completed trial carries an energy report yet.</p>'
    pj = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in profile.get("energy_pj", {}).items())
    sources = "".join(f"<li>{html.escape(s)}</li>" for s in profile.get("sources", []))
    ops = "".join(f"<b>{html.escape(k)}</b><span>{html.escape(str(v))}</span>"
                      for k, v in (prov.get("counted") or {}).items())
    versions = ", ".join(f"{k} {v}" for k, v in (prov.get("versions") or {}).items())
    return (f"<p><b>{html.escape(profile.get('name', ''))}</b>: {html.escape(profile.get('description', ''))}</p>"
            f"<table style='width:auto'><thead><tr><th>operation</th><th>pJ each</th></tr></thead>{pj}</table>"
            f"<p class='muted'>Sources:</p><ul class='muted'>{sources}</ul>"
            f"<div class='kv'>{ops}<b>timesteps</b><span>{_timesteps(prov.get('T_included'))}</span>"
            f"<b>measured on</b><span>{html.escape(str(prov.get('data')))} "
            f"({_images(prov.get('batch_size'))}, firing rates measured, not assumed)</span>"
            f"<b>encoding layers as MAC</b><span>{html.escape(', '.join(prov.get('encoding_layers_as_mac') or []))}"
            f"</span><b>counter</b><span>{html.escape(str(prov.get('counter')))}</span>"
            f"<b>versions</b><span>{html.escape(versions)}</span></div>")


def _excluded_html(data: dict[str, Any]) -> str:
    """Every completed trial that cannot be on the front, with why; and the trials the chance test skipped."""
    rows = data.get("excluded") or []
    untested = data.get("untested") or []
    out = []
    if rows:
        body = "".join(f"<tr><td>{r['number']}</td><td>{_num(r['acc'])}</td><td>{_num(r['energy'])}</td>"
                       f"<td style='text-align:left'>{html.escape(r['reason'])}</td></tr>" for r in rows)
        out.append("<table style='width:auto'><thead><tr><th>trial</th><th>val acc</th><th>µJ/image</th>"
                   f"<th>why</th></tr></thead><tbody>{body}</tbody></table>")
    else:
        out.append("<p class='muted'>None: every completed trial keeps the constraints and is clearly above "
                   "chance.</p>")
    if untested:
        were = "was" if len(untested) == 1 else "were"
        out.append(f"<p class='muted'>{plural(len(untested), 'completed trial')} {were} not tested against chance: "
                   "their validation size was not recorded (a study made before snnas recorded it).</p>")
    return "".join(out)


def _code(text: str) -> str:
    """Escaped text with `backticked` parts as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _num(x: Any) -> str:
    return "" if x is None else f"{x:.4g}"


def _head(data: dict[str, Any], style: str) -> str:
    """From the doctype to the header's line about the study (both kinds of page)."""
    s = data["study"]
    states = ", ".join(f"{n} {_STATE_WORDS.get(k, k.lower())}" for k, n in s["states"].items())
    trials = plural(s["trials"], "trial") + (f" ({states})" if states else "")
    title = f"snnas report: {s['name']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style>
{style}</head>
<body><header><h1>{html.escape(title)}</h1>
<p>space <b>{html.escape(str(s['space']))}</b> on <b>{html.escape(str(s['dataset']))}</b> · {html.escape(trials)} ·
energy profile {html.escape(str(s['profile']))} · generated {html.escape(s['generated'])} by snnas
{html.escape(str(s['snnas']))}</p></header>
"""


def _unfinished_page(data: dict[str, Any]) -> str:
    """A study with no completed trial: no front, pick, energy split or hypervolume to draw. Say so, and list
    each trial with its state, what it reached and why it stopped (charts would be empty axes or one dot)."""
    rows = "".join(
        f"<tr><td>{t['number']}</td><td>{_STATE_WORDS.get(t['state'], t['state'].lower())}</td>"
        f"<td>{html.escape(t['fidelity'] or '')}</td><td>{_num(t['acc'])}</td><td>{_num(t['energy'])}</td>"
        f"<td style='text-align:left'>{html.escape(t['reason'] or '')}</td></tr>" for t in data["trials"])
    table = ("<table id=\"unfinished\" style='width:auto'><thead><tr><th>trial</th><th>state</th><th>reached</th>"
             f"<th>val acc</th><th>µJ/image</th><th>why</th></tr></thead><tbody>{rows}</tbody></table>"
             if rows else "<p class='muted'>The study holds no trial.</p>")
    args = data["study"]["args"]  # the study, with --storage when not the default: the hint runs as printed
    return _head(data, "") + f"""<main>
<section><h2>No completed trial</h2>
<p class="note">No trial of this study has completed yet, so there is no Pareto front, suggested trial, energy
breakdown or hypervolume to show. Run <code>snnas report {html.escape(args)}</code> again once a trial completes
(a running search rewrites this page when it ends).</p>
{table}</section>
</main>
</body></html>
"""


def render_page(data: dict[str, Any]) -> str:
    """The whole page as one string."""
    if not completed(data):
        return _unfinished_page(data)
    energies = [t["energy"] for t in data["trials"] if t.get("energy")]
    data = {**data, "energyRange": [min(energies), max(energies)] if energies else [1e-3, 1.0], "hvUnit": HV_UNIT}
    blob = json.dumps(data, allow_nan=False, default=str).replace("</", "<\\/")
    ref = data["hypervolume"].get("ref_energy")
    return _head(data, f"<script>{get_plotlyjs()}</script>") + f"""<main>
<section><h2>Accuracy vs energy: which architecture?</h2>
<p class="note" id="proxy-note">{_code(str(data.get('proxy_note', '')))}</p>
<div class="controls"><label>colour by <select id="color-by"></select></label>
<label>energy budget <input id="budget" type="range" min="0" max="1000" value="1000" style="width:260px"></label>
<span id="budget-value"></span><span>best within budget: <span id="best"></span></span></div>
<div id="pareto"></div>
<p class="muted">Every trial with a result: completed trials at full fidelity, pruned trials (open circles) at
the last rung they reached. The front holds completed trials that keep the space's constraints and are clearly
above chance (validation accuracy above 1/classes + 3σ of a guessing classifier on the validation images).
The star (★) is the suggested trial, <code>snnas export</code>'s default pick (<code>near-best</code>):
{html.escape(str(data.get('pick_rule', '')))}. The diamond (◆) is the knee (<code>--pick knee</code>: the front point
farthest from the chord between its extremes, energy on a log scale). Click a point on the front to inspect
it.</p></section>
<section><h2>Where does the energy go?</h2>
<div class="controls"><label>Pareto trial <select id="trial-select"></select></label></div>
<div id="trial-summary"></div>
<div class="row"><div id="layer-energy"></div><div id="firing"></div></div></section>
<section><h2>Pareto trials</h2><p class="muted">Click a column to sort, a row to inspect the trial.</p>
<div style="max-height:420px;overflow:auto"><table id="front-table"></table></div></section>
<section id="excluded"><h2>Completed trials kept off the front</h2>{_excluded_html(data)}</section>
<section><h2>Search progress and what mattered</h2>
<div class="row"><div id="hv"></div><div><div id="imp-acc"></div><div id="imp-energy"></div></div></div>
<p class="muted">Hypervolume ({HV_UNIT}) of the completed trials that may be on the front (feasible and clearly
above chance): the area of the accuracy–energy plane (energy linear, per image) they dominate, up to the
reference point accuracy 0 and {_num(ref)} µJ/image (1.01 × the largest energy among them). It never decreases.
Importances: Optuna's PED-ANOVA over completed trials, per objective (which knobs matter for reaching the
best accuracy, and the lowest energy).</p></section>
<section><h2>Provenance of the energy numbers</h2>{_provenance_html(data['provenance'])}</section>
</main>
<script id="snnas-data" type="application/json">{blob}</script>
<script>{_JS}</script>
</body></html>
"""
