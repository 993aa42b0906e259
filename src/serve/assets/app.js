// mnist-mlp serve: the whole front end. One page; the hash picks the view:
//   #/                 runs          #/run/<name>   one run (live while it trains)
//   #/compare?runs=…   compare       #/draw         draw a digit      #/sweeps
// Charts are drawn on <canvas> from the metrics; nothing is fetched from elsewhere.
'use strict';

const view = document.getElementById('view');
/** Polling timers of the current view, stopped when the view changes. */
let timers = [];
/** Bumped on every navigation, so a late answer for an old view is dropped. */
let generation = 0;

// ---------- small helpers ----------

/** Element builder: h('a', {href: '#/'}, 'text', child…). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** JSON from the server; a non-2xx answer throws its `error` message. */
async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

const enc = encodeURIComponent;
const runApi = (name) => '/api/runs/' + enc(name);
const runHash = (name) => '#/run/' + enc(name);
const pct = (v) => (v == null || Number.isNaN(v) ? '—' : v.toFixed(2) + ' %');
const num = (v, digits) => (v == null || Number.isNaN(v) ? '—' : v.toFixed(digits));
const count = (v) => Number(v).toLocaleString('en-US');

function setView(...children) {
  view.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
}

function errorBox(message) {
  return h('p', { class: 'error', role: 'alert' }, message);
}

function statusBadge(status) {
  return h('span', { class: 'badge ' + status, dataset: { status } }, status);
}

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

function every(ms, fn) {
  timers.push(setInterval(fn, ms));
}

// ---------- charts ----------

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf'];

/** Round tick positions covering [min, max]. */
function ticks(min, max, wanted) {
  if (min === max) { min -= 1; max += 1; }
  const raw = (max - min) / wanted;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) out.push(t);
  return { values: out, step };
}

/**
 * Draws 784 values on a 28×28 canvas in a diverging colour map scaled to their peak:
 * blue below zero, white at zero, red above (as the run's PNGs draw them).
 */
function heatmap(canvas, values) {
  const peak = Math.max(1e-12, ...values.map(Math.abs));
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(28, 28);
  const [neg, pos] = [[33, 102, 172], [178, 24, 43]];
  values.forEach((v, i) => {
    const t = Math.max(-1, Math.min(1, v / peak));
    const end = t < 0 ? neg : pos;
    image.data.set([...end.map((c) => Math.round(255 + (c - 255) * Math.abs(t))), 255], i * 4);
  });
  ctx.putImageData(image, 0, 0);
  canvas.dataset.peak = peak;
}

/**
 * Draws line series on a canvas: {series: [{name, points: [[x, y]…]}], xLabel, yLabel}.
 * Points whose y is not a number are skipped; with logY, y is drawn as its logarithm
 * (points at or below zero skipped) and labelled as the number it stands for.
 */
function lineChart(canvas, { series, xLabel, yLabel, integerX, logY }) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 280;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  const clean = series.map((s) => ({
    ...s,
    points: s.points
      .filter(([, y]) => !logY || y > 0)
      .map(([x, y]) => [x, logY ? Math.log10(y) : y])
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
  }));
  const all = clean.flatMap((s) => s.points);
  const left = 66, right = 14, top = 14, bottom = 42;
  const plotW = width - left - right, plotH = height - top - bottom;
  ctx.fillStyle = '#555';
  if (all.length === 0) {
    ctx.fillText('no data yet', left + plotW / 2 - 30, top + plotH / 2);
    return;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
  const pad = (y1 - y0 || Math.abs(y1) || 1) * 0.08;
  y0 -= pad; y1 += pad;
  const sx = (x) => left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y) => top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  // Grid and tick labels.
  ctx.strokeStyle = '#e4e7eb';
  ctx.lineWidth = 1;
  const yt = ticks(y0, y1, 5);
  const yDigits = Math.max(0, -Math.floor(Math.log10(yt.step)));
  for (const t of yt.values) {
    ctx.beginPath(); ctx.moveTo(left, sy(t)); ctx.lineTo(left + plotW, sy(t)); ctx.stroke();
    const label = logY ? Math.pow(10, t).toExponential(Number.isInteger(t) ? 0 : 1) : t.toFixed(Math.min(yDigits, 4));
    ctx.fillText(label, left - 6 - ctx.measureText(label).width, sy(t) + 4);
  }
  const xt = ticks(x0, x1, 8);
  for (const t of xt.values) {
    if (integerX && !Number.isInteger(t)) continue;
    ctx.beginPath(); ctx.moveTo(sx(t), top); ctx.lineTo(sx(t), top + plotH); ctx.stroke();
    const label = Number.isInteger(t) ? String(t) : t.toFixed(1);
    ctx.fillText(label, sx(t) - ctx.measureText(label).width / 2, top + plotH + 16);
  }
  ctx.strokeStyle = '#888';
  ctx.strokeRect(left, top, plotW, plotH);
  ctx.fillStyle = '#333';
  ctx.fillText(xLabel, left + plotW / 2 - ctx.measureText(xLabel).width / 2, height - 6);
  ctx.save();
  ctx.translate(12, top + plotH / 2 + ctx.measureText(yLabel).width / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
  // Lines, with dots where there are few points.
  clean.forEach((s, i) => {
    const colour = s.colour || COLOURS[i % COLOURS.length];
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.forEach(([x, y], k) => (k ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
    ctx.stroke();
    if (s.points.length <= 40) {
      for (const [x, y] of s.points) {
        ctx.beginPath(); ctx.arc(sx(x), sy(y), 2.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
  });
  // Legend, top right.
  let ly = top + 8;
  ctx.font = '12px system-ui, sans-serif';
  const legendW = Math.max(...clean.map((s) => ctx.measureText(s.name).width)) + 28;
  ctx.fillStyle = 'rgba(255,255,255,0.85)';
  ctx.fillRect(left + plotW - legendW - 6, top + 2, legendW + 4, clean.length * 16 + 6);
  clean.forEach((s, i) => {
    ctx.fillStyle = s.colour || COLOURS[i % COLOURS.length];
    ctx.fillRect(left + plotW - legendW, ly - 1, 14, 3);
    ctx.fillStyle = '#222';
    ctx.fillText(s.name, left + plotW - legendW + 20, ly + 4);
    ly += 16;
  });
}

// ---------- runs ----------

const RUN_COLUMNS = [
  ['experiment', 'experiment', (r) => r.experiment],
  ['status', 'status', (r) => r.status],
  ['activation', 'activation', (r) => r.activation],
  ['optimizer', 'optimizer', (r) => r.optimizer],
  ['l2', 'λ', (r) => r.l2],
  ['epochs', 'epochs', (r) => r.epochs_done],
  ['train_accuracy', 'train acc', (r) => r.train_accuracy],
  ['validation_accuracy', 'validation acc', (r) => r.validation_accuracy],
  ['test_accuracy', 'test acc', (r) => r.test_accuracy],
  ['seconds', 'seconds', (r) => r.seconds],
  ['backend', 'backend', (r) => r.backend],
];

const runsSort = { key: 'name', ascending: true, showTrials: null };

function runCells(r) {
  return [
    h('td', {}, h('a', { href: runHash(r.name), class: 'run-link' }, r.experiment),
      r.name !== r.experiment ? h('div', { class: 'muted small' }, r.name) : null),
    h('td', {}, statusBadge(r.status)),
    h('td', {}, r.activation),
    h('td', {}, r.optimizer),
    h('td', { class: 'num' }, r.l2),
    h('td', { class: 'num' }, r.status === 'finished' ? r.epochs_done : `${r.epochs_done}/${r.epochs}`),
    h('td', { class: 'num' }, pct(r.train_accuracy)),
    h('td', { class: 'num' }, pct(r.validation_accuracy)),
    h('td', { class: 'num' }, pct(r.test_accuracy)),
    h('td', { class: 'num' }, num(r.seconds, 1)),
    h('td', {}, r.backend || '—'),
  ];
}

async function runsView(gen) {
  const page = await api('/api/runs');
  if (gen !== generation) return;
  if (page.runs.length === 0) {
    setView(
      h('h1', {}, 'Runs'),
      h('p', { id: 'empty', class: 'empty' }, 'no runs yet: train one with ',
        h('code', {}, 'mnist-mlp config/relu.toml')),
      h('p', { class: 'muted' }, `Looking in ${page.artifacts}; runs appear here as soon as they start.`),
    );
    every(3000, () => { if (gen === generation) api('/api/runs').then((p) => { if (p.runs.length) route(); }); });
    return;
  }
  const trials = page.runs.filter((r) => r.sweep).length;
  if (runsSort.showTrials === null) runsSort.showTrials = trials === page.runs.length;
  const selected = new Set();
  const tbody = h('tbody');
  const head = h('tr', {}, h('th', {}, ''),
    RUN_COLUMNS.map(([key, label]) => h('th', {
      class: 'sortable', dataset: { key }, onclick: () => {
        runsSort.ascending = runsSort.key === key ? !runsSort.ascending : true;
        runsSort.key = key;
        fill(page.runs);
      },
    }, label)));
  const compare = h('button', {
    id: 'compare-selected', disabled: true,
    onclick: () => { location.hash = '#/compare?runs=' + [...selected].map(enc).join(','); },
  }, 'Compare selected');
  const trialsToggle = h('label', { class: 'toggle' },
    h('input', {
      type: 'checkbox', checked: runsSort.showTrials,
      onchange: (e) => { runsSort.showTrials = e.target.checked; fill(page.runs); },
    }), ` show sweep trials (${trials})`);
  function fill(runs) {
    const column = RUN_COLUMNS.find(([key]) => key === runsSort.key);
    const value = column ? column[2] : (r) => r.name;
    const shown = runs.filter((r) => runsSort.showTrials || !r.sweep);
    shown.sort((a, b) => {
      const [va, vb] = [value(a), value(b)];
      const order = va == null ? 1 : vb == null ? -1 : va < vb ? -1 : va > vb ? 1 : 0;
      return runsSort.ascending ? order : -order;
    });
    head.querySelectorAll('th.sortable').forEach((th) => {
      th.classList.toggle('sorted', th.dataset.key === runsSort.key);
      th.classList.toggle('descending', th.dataset.key === runsSort.key && !runsSort.ascending);
    });
    tbody.replaceChildren(...shown.map((r) => h('tr', { dataset: { run: r.name } },
      h('td', {}, h('input', {
        type: 'checkbox', 'aria-label': 'compare ' + r.name, checked: selected.has(r.name),
        onchange: (e) => {
          if (e.target.checked) selected.add(r.name); else selected.delete(r.name);
          compare.disabled = selected.size === 0;
        },
      })),
      runCells(r))));
  }
  fill(page.runs);
  setView(
    h('h1', {}, 'Runs'),
    h('p', { class: 'muted' }, `${page.runs.length} run folders in ${page.artifacts}. Click a column to sort.`),
    h('div', { class: 'toolbar' }, compare, trials ? trialsToggle : null),
    h('div', { class: 'scroll' }, h('table', { id: 'runs', class: 'data' }, h('thead', {}, head), tbody)),
  );
  // Runs in progress move: refresh their lines.
  if (page.runs.some((r) => r.status === 'running')) {
    every(2000, async () => {
      const fresh = await api('/api/runs');
      if (gen === generation) { page.runs = fresh.runs; fill(page.runs); }
    });
  }
}

// ---------- one run ----------

/** The per-epoch table; runs that evaluate nothing per epoch have no evaluation columns. */
function epochTable(history) {
  const split = history.eval_split;
  const evaluated = split !== 'no';
  const columns = ['epoch', 'train loss', 'train acc'].concat(evaluated ? [`${split} loss`, `${split} acc`] : [], ['seconds']);
  return h('table', { id: 'epochs', class: 'data' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, history.epochs.map((e) => h('tr', {},
      h('td', { class: 'num' }, e.epoch), h('td', { class: 'num' }, num(e.train_loss, 4)),
      h('td', { class: 'num' }, pct(e.train_accuracy)),
      evaluated ? [h('td', { class: 'num' }, num(e.eval_loss, 4)), h('td', { class: 'num' }, pct(e.eval_accuracy))] : null,
      h('td', { class: 'num' }, num(e.seconds, 1))))));
}

function reportTable(report) {
  const row = (label, s) => h('tr', {}, h('th', {}, label), h('td', { class: 'num' }, s.precision.toFixed(3)),
    h('td', { class: 'num' }, s.recall.toFixed(3)), h('td', { class: 'num' }, s.f1.toFixed(3)),
    h('td', { class: 'num' }, count(s.support)));
  return h('table', { id: 'report', class: 'data compact' },
    h('thead', {}, h('tr', {}, ['', 'precision', 'recall', 'F1', 'support'].map((c) => h('th', {}, c)))),
    h('tbody', {}, report.classes.map((s, digit) => row(String(digit), s)),
      row('macro avg', report.macro_avg), row('weighted avg', report.weighted_avg),
      h('tr', {}, h('th', {}, 'accuracy'), h('td', { class: 'num', colspan: 4 }, (report.accuracy * 100).toFixed(2) + ' %'))));
}

/** The live block: progress bar and the cost and accuracy charts, refreshed by `update`. */
function liveBlock(batchSize) {
  const bar = h('div', { class: 'bar-fill' });
  const text = h('div', { class: 'progress-text' });
  const costCanvas = h('canvas', { id: 'live-cost', class: 'chart' });
  const accCanvas = h('canvas', { id: 'live-accuracy', class: 'chart' });
  let trainImages = null;
  const block = h('section', { id: 'live' },
    h('h2', {}, 'Live'),
    h('div', { id: 'progress', class: 'progress' }, h('div', { class: 'bar' }, bar), text),
    h('div', { class: 'charts' },
      h('figure', {}, costCanvas, h('figcaption', {}, 'cost (batch cross-entropy) as it is logged')),
      h('figure', {}, accCanvas, h('figcaption', {}, 'accuracy per epoch'))));
  function update(status, progress, history) {
    if (progress) {
      if (progress.phase === 'train') trainImages = progress.images_total;
      const share = progress.images_total ? progress.images_done / progress.images_total : 1;
      bar.style.width = (100 * share).toFixed(1) + '%';
      const phase = { train: 'training', valid: `evaluating (${history.eval_split})`, finishing: 'final evaluation and report' }[progress.phase] || progress.phase;
      const parts = [`epoch ${progress.epoch}/${progress.total_epochs}`, phase];
      if (progress.images_total) parts.push(`${count(progress.images_done)}/${count(progress.images_total)} images`);
      if (progress.last_cost != null) parts.push(`cost ${progress.last_cost.toFixed(4)}`);
      if (status === 'stopped') parts.push('no progress for a while: the training process may have stopped');
      text.textContent = parts.join(' · ');
      block.dataset.epoch = progress.epoch;
    }
    // progress.json may still hold the cost points of an epoch metrics.csv now has.
    const recorded = Math.max(0, ...history.epochs.map((e) => e.epoch));
    const costs = history.costs.concat(progress ? progress.costs.filter((c) => c.epoch > recorded) : []);
    const perEpoch = trainImages && batchSize ? Math.ceil(trainImages / batchSize)
      : Math.max(1, ...costs.map((c) => c.iteration));
    lineChart(costCanvas, {
      series: [{ name: 'cost', points: costs.map((c) => [c.epoch - 1 + c.iteration / perEpoch, c.cost]) }],
      xLabel: 'epoch', yLabel: 'cost',
    });
    lineChart(accCanvas, {
      series: [{ name: 'train', points: history.epochs.map((e) => [e.epoch, e.train_accuracy]) }].concat(
        history.eval_split === 'no' ? [] : [{ name: history.eval_split, points: history.epochs.map((e) => [e.epoch, e.eval_accuracy]) }]),
      xLabel: 'epoch', yLabel: 'accuracy (%)', integerX: true,
    });
  }
  return { block, update };
}

async function runView(gen, name) {
  const run = await api(runApi(name));
  if (gen !== generation) return;
  const r = run.row;
  const s = run.summary;
  const parts = [
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Runs'), ' / ', r.name),
    h('h1', {}, r.experiment, ' ', statusBadge(r.status)),
  ];
  if (s && s.config.experiment.description) parts.push(h('p', {}, s.config.experiment.description));
  if (r.error) parts.push(errorBox(r.error));
  const cards = h('div', { class: 'cards' }, runCards(r, s));
  parts.push(cards);
  const epochsHolder = h('div', { class: 'scroll' }, epochTable(run.history));
  let live = null;
  if (r.status === 'running' || r.status === 'stopped') {
    live = liveBlock(run.batch_size);
    parts.push(live.block);
  }
  parts.push(h('section', {}, h('h2', {}, 'Epochs'), epochsHolder));
  if (run.figures.length) {
    parts.push(h('section', {}, h('h2', {}, 'Figures'), h('div', { class: 'figures' },
      run.figures.map((f) => h('figure', {}, h('a', { href: f.url, target: '_blank' },
        h('img', { src: f.url, alt: f.title, loading: 'eager' })), h('figcaption', {}, f.title))))));
  }
  if (s) {
    parts.push(h('section', {}, h('h2', {}, 'Classification report (test set)'),
      reportTable(s.classification_report)));
  }
  if (r.has_model && r.status === 'finished') {
    const holder = h('div', { id: 'confusion-holder' }, h('p', { class: 'muted' }, 'Running the model on the test set…'));
    parts.push(h('section', {}, h('h2', {}, 'Confusion matrix (test set)'),
      h('p', { class: 'muted' }, 'Rows are the true digits, columns the predicted ones. Click a cell to see its digits.'),
      holder, h('div', { id: 'cell-digits' })));
    confusion(gen, name, holder);
  }
  if (run.config_toml) {
    parts.push(h('section', {}, h('h2', {}, 'Config'), h('pre', { id: 'config' }, run.config_toml)));
  }
  setView(...parts);
  if (live) {
    live.update(r.status, run.progress, run.history);
    let shown = run.history.epochs.length;
    every(1000, async () => {
      let state;
      try {
        state = await api(runApi(name) + '/live');
      } catch (err) {
        return;
      }
      if (gen !== generation) return;
      if (state.status === 'finished') {
        stopTimers();
        route();
        return;
      }
      live.update(state.status, state.progress, state.history);
      cards.replaceChildren(...runCards(state.row, null));
      if (state.history.epochs.length !== shown) {
        shown = state.history.epochs.length;
        epochsHolder.replaceChildren(epochTable(state.history));
      }
    });
  }
}

/** The headline figures; a run in progress shows its latest epoch's. */
function runCards(r, s) {
  const latest = r.status === 'finished' ? '' : ' (latest epoch)';
  return [
    card('train accuracy' + latest, pct(r.train_accuracy)),
    r.validation_accuracy != null ? card('validation accuracy' + latest, pct(r.validation_accuracy)) : null,
    r.test_accuracy != null || r.validation_accuracy == null ? card('test accuracy' + latest, pct(r.test_accuracy)) : null,
    card('epochs', r.status === 'finished' ? `${r.epochs_done}${s && s.kept_epoch !== s.epochs_trained ? ` (kept ${s.kept_epoch})` : ''}` : `${r.epochs_done}/${r.epochs}`),
    card('seconds', num(r.seconds, 1)),
    card('backend', r.backend || '—'),
    h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'model'),
      r.has_model ? h('a', { href: '#/draw?model=' + enc(r.name) }, 'draw a digit for it') : h('span', { class: 'muted' }, 'when finished')),
  ].filter(Boolean);
}

function card(label, value) {
  return h('div', { class: 'card' }, h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value));
}

async function confusion(gen, name, holder) {
  let data;
  try {
    data = await api(runApi(name) + '/confusion');
  } catch (err) {
    if (gen === generation) holder.replaceChildren(errorBox(err.message));
    return;
  }
  if (gen !== generation) return;
  const m = data.matrix;
  const rowTotals = m.map((row) => row.reduce((a, b) => a + b, 0));
  const table = h('table', { id: 'confusion', class: 'confusion' },
    h('thead', {}, h('tr', {}, h('th', {}, 'true \\ predicted'), m.map((_, p) => h('th', {}, p)))),
    h('tbody', {}, m.map((row, t) => h('tr', {}, h('th', {}, t), row.map((n, p) => {
      const share = rowTotals[t] ? n / rowTotals[t] : 0;
      const strength = t === p ? share : Math.min(1, Math.sqrt(share) * 2.5);
      const colour = t === p ? `rgba(31,119,180,${0.15 + 0.85 * strength})` : n ? `rgba(214,39,40,${0.1 + 0.9 * strength})` : 'transparent';
      return h('td', {
        class: 'cell' + (n ? ' clickable' : ''), dataset: { t, p, n },
        style: `background:${colour};color:${strength > 0.55 ? '#fff' : '#222'}`,
        title: `true ${t}, predicted ${p}: ${n}`,
        onclick: n ? () => showCell(gen, name, t, p) : null,
      }, n);
    })))));
  holder.replaceChildren(table, h('p', { class: 'muted small' },
    `${pct(data.accuracy)} of the test digits in ${data.data_dir} are on the diagonal.`));
}

async function showCell(gen, name, t, p) {
  const box = document.getElementById('cell-digits');
  box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  let cell;
  try {
    cell = await api(`${runApi(name)}/confusion/${t}/${p}`);
  } catch (err) {
    box.replaceChildren(errorBox(err.message));
    return;
  }
  if (gen !== generation) return;
  const more = cell.count > cell.indices.length ? ` (the first ${cell.indices.length} shown)` : '';
  const hint = t === p ? '' : ' Click a digit to see which of its pixels pushed the model to the wrong answer.';
  box.replaceChildren(
    h('h3', {}, `True ${t}, predicted ${p}: ${cell.count} test digit${cell.count === 1 ? '' : 's'}${more}`),
    h('p', { class: 'muted small' }, 'The test digits as the model saw them.' + hint),
    h('div', { class: 'digits' }, cell.indices.map((i) => {
      const img = h('img', { src: `${runApi(name)}/digits/${i}`, alt: `test digit ${i}`, width: 56, height: 56 });
      const figure = h('figure', { class: 'digit', dataset: { index: i } }, img, h('figcaption', {}, '#' + i));
      figure.addEventListener('click', () => explainDigit(name, img, figure), { once: true });
      return figure;
    })));
}

/** Puts the saliency map of a test digit (its <img>) beside it, as the run's model sees it. */
async function explainDigit(name, img, figure) {
  const canvas = h('canvas', { width: 28, height: 28 });
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0, 28, 28);
  const rgba = ctx.getImageData(0, 0, 28, 28).data;
  const pixels = [...Array(784).keys()].map((k) => rgba[k * 4]);
  try {
    const result = await api('/api/predict', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: name, pixels }),
    });
    const map = h('canvas', { class: 'saliency-cell', width: 28, height: 28, title: `∂p/∂x for ${result.digit}` });
    heatmap(map, result.saliency);
    figure.insertBefore(map, figure.lastChild);
  } catch (err) {
    figure.append(errorBox(err.message));
  }
}

// ---------- compare ----------

async function compareView(gen, params) {
  const page = await api('/api/runs');
  if (gen !== generation) return;
  const chosen = new Set((params.get('runs') || '').split(',').filter(Boolean));
  const byName = new Map(page.runs.map((r) => [r.name, r]));
  let metric = params.get('metric') === 'train' ? 'train' : 'eval';
  const accCanvas = h('canvas', { id: 'compare-accuracy', class: 'chart wide' });
  const lossCanvas = h('canvas', { id: 'compare-loss', class: 'chart wide' });
  const gradientCanvas = h('canvas', { id: 'compare-gradient', class: 'chart wide' });
  const tableHolder = h('div', { class: 'scroll' });
  const histories = new Map();
  const pick = (r) => h('label', { class: 'pick' }, h('input', {
    type: 'checkbox', value: r.name, checked: chosen.has(r.name),
    onchange: (e) => { if (e.target.checked) chosen.add(r.name); else chosen.delete(r.name); redraw(); },
  }), ' ', r.name, ' ', statusBadge(r.status));
  const trials = page.runs.filter((r) => r.sweep);
  const picker = h('div', { class: 'picker' }, page.runs.length === 0
    ? h('p', { id: 'empty', class: 'empty' }, 'no runs yet: train one with ', h('code', {}, 'mnist-mlp config/relu.toml'))
    : [page.runs.filter((r) => !r.sweep).map(pick),
      trials.length ? h('details', { class: 'trials', open: trials.some((r) => chosen.has(r.name)) },
        h('summary', {}, `sweep trials (${trials.length})`), trials.map(pick)) : null]);
  const metricPicker = h('div', { class: 'toolbar' }, ['eval', 'train'].map((m) => h('label', { class: 'toggle' },
    h('input', { type: 'radio', name: 'metric', value: m, checked: metric === m, onchange: () => { metric = m; redraw(); } }),
    m === 'eval' ? ' test (or validation) curves' : ' training curves')));
  setView(h('h1', {}, 'Compare'),
    h('p', { class: 'muted' }, 'Pick runs; their per-epoch curves are drawn from metrics.csv. Runs with a validation split evaluated it every epoch; the others the test set.'),
    picker, metricPicker,
    h('div', { class: 'charts' },
      h('figure', {}, accCanvas, h('figcaption', {}, 'accuracy per epoch')),
      h('figure', {}, lossCanvas, h('figcaption', {}, 'loss per epoch')),
      h('figure', {}, gradientCanvas, h('figcaption', {}, 'the first layer\'s gradient norm ‖∂L/∂W₁‖ per epoch (log scale; epoch 0: as initialised), from diagnostics.csv'))),
    h('h2', {}, 'Comparison'), tableHolder);
  async function redraw() {
    const names = [...chosen].filter((n) => byName.has(n));
    history.replaceState(null, '', '#/compare?runs=' + names.map(enc).join(',') + (metric === 'train' ? '&metric=train' : ''));
    await Promise.all(names.filter((n) => !histories.has(n)).map(async (n) => {
      try {
        const live = await api(runApi(n) + '/live');
        histories.set(n, { ...live.history, diagnostics: live.diagnostics });
      } catch (_) {
        histories.set(n, { eval_split: 'test', epochs: [], costs: [], diagnostics: [] });
      }
    }));
    if (gen !== generation) return;
    const series = (field) => names.map((n) => {
      const hist = histories.get(n);
      const split = hist.eval_split === 'no' ? 'no per-epoch evaluation' : hist.eval_split;
      const label = metric === 'eval' ? `${n} (${split})` : `${n} (train)`;
      return { name: label, points: hist.epochs.map((e) => [e.epoch, e[`${metric}_${field}`]]) };
    });
    lineChart(accCanvas, { series: series('accuracy'), xLabel: 'epoch', yLabel: 'accuracy (%)', integerX: true });
    lineChart(lossCanvas, { series: series('loss'), xLabel: 'epoch', yLabel: 'mean cross-entropy', integerX: true });
    const gradients = names.map((n) => ({
      name: n,
      points: histories.get(n).diagnostics.filter((d) => d.layer === 1).map((d) => [d.epoch, d.weight_grad_norm]),
    }));
    lineChart(gradientCanvas, { series: gradients, xLabel: 'epoch', yLabel: '‖∂L/∂W₁‖', integerX: true, logY: true });
    gradientCanvas.dataset.series = gradients.filter((g) => g.points.length > 0).length;
    tableHolder.replaceChildren(h('table', { id: 'comparison', class: 'data' },
      h('thead', {}, h('tr', {}, RUN_COLUMNS.map(([, label]) => h('th', {}, label)))),
      h('tbody', {}, names.map((n) => h('tr', { dataset: { run: n } }, runCells(byName.get(n)))))));
    accCanvas.dataset.series = names.length;
  }
  await redraw();
}

// ---------- draw ----------

async function drawView(gen, params) {
  const models = await api('/api/models');
  if (gen !== generation) return;
  if (models.length === 0) {
    setView(h('h1', {}, 'Draw a digit'), h('p', { id: 'empty', class: 'empty' },
      'no models yet: finished runs appear here; train one with ', h('code', {}, 'mnist-mlp config/relu.toml')));
    return;
  }
  const wanted = params.get('model');
  const select = h('select', { id: 'model' }, models.map((m) => h('option', {
    value: m.id, dataset: { kind: m.kind }, selected: m.id === wanted,
  }, m.title)));
  const activation = h('select', { id: 'activation', title: 'hidden-layer activation, for files that do not record it' },
    ['auto', 'relu', 'tanh', 'sigmoid'].map((a) => h('option', { value: a }, a)));
  const activationLabel = h('label', { class: 'toggle' }, 'activation ', activation);
  const pad = h('canvas', { id: 'pad', width: 280, height: 280, 'aria-label': 'drawing pad' });
  const input28 = h('canvas', { id: 'input28', width: 28, height: 28 });
  const saliency28 = h('canvas', { id: 'saliency', class: 'map28', width: 28, height: 28 });
  const product28 = h('canvas', { id: 'saliency-product', class: 'map28', width: 28, height: 28 });
  const answer = h('div', { id: 'answer', class: 'answer' }, '?');
  const modelNote = h('p', { id: 'answer-model', class: 'muted small' });
  const bars = h('div', { id: 'bars' }, [...Array(10).keys()].map((d) => h('div', { class: 'prob', dataset: { digit: d } },
    h('span', { class: 'prob-digit' }, d), h('span', { class: 'prob-bar' }, h('span', { class: 'prob-fill' })),
    h('span', { class: 'prob-value' }, '—'))));
  const problem = h('div', { id: 'predict-error' });
  const upload = h('input', { id: 'upload', type: 'file', accept: 'image/*' });
  const preview = h('div', { id: 'upload-preview' });
  const ctx = pad.getContext('2d');
  function clear() {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    answer.textContent = '?';
    delete answer.dataset.digit;
  }
  clear();
  const syncActivation = () => {
    activationLabel.hidden = select.selectedOptions[0].dataset.kind !== 'file';
  };
  syncActivation();
  let drawing = false;
  let last = null;
  const at = (e) => {
    const box = pad.getBoundingClientRect();
    return [(e.clientX - box.left) * (pad.width / box.width), (e.clientY - box.top) * (pad.height / box.height)];
  };
  pad.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    drawing = true;
    last = at(e);
    ctx.fillStyle = '#fff';
    ctx.beginPath(); ctx.arc(last[0], last[1], 9, 0, 2 * Math.PI); ctx.fill();
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const point = at(e);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 18;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(point[0], point[1]); ctx.stroke();
    last = point;
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    pad.toBlob((blob) => predict(blob), 'image/png');
  };
  pad.addEventListener('pointerup', finish);
  pad.addEventListener('pointercancel', finish);
  async function predict(body) {
    const query = `model=${enc(select.value)}` + (activationLabel.hidden ? '' : `&activation=${enc(activation.value)}`);
    problem.replaceChildren();
    answer.classList.add('busy');
    let result;
    try {
      // The server takes pictures as image/*: the pad's PNG, or the upload's own type.
      const type = body.type || 'image/png';
      result = await api('/api/predict/image?' + query, { method: 'POST', body, headers: { 'Content-Type': type } });
    } catch (err) {
      problem.replaceChildren(errorBox(err.message));
      answer.classList.remove('busy');
      return;
    } finally {
      answer.classList.remove('busy');
    }
    show(result);
  }
  function show(result) {
    answer.textContent = result.digit;
    answer.dataset.digit = result.digit;
    modelNote.textContent = 'answered by ' + result.model;
    const image = input28.getContext('2d').createImageData(28, 28);
    result.input.forEach((v, i) => {
      image.data.set([v, v, v, 255], i * 4);
    });
    input28.getContext('2d').putImageData(image, 0, 0);
    heatmap(saliency28, result.saliency);
    heatmap(product28, result.input_times_gradient);
    result.probabilities.forEach((p, d) => {
      const row = bars.children[d];
      row.dataset.p = p;
      row.classList.toggle('best', d === result.digit);
      row.querySelector('.prob-fill').style.width = (100 * p).toFixed(1) + '%';
      row.querySelector('.prob-value').textContent = p.toFixed(3);
    });
  }
  select.addEventListener('change', syncActivation);
  upload.addEventListener('change', () => {
    const file = upload.files[0];
    if (!file) return;
    if (file.size > 8 * 1024 * 1024) {
      problem.replaceChildren(errorBox(`${file.name} is larger than the 8 MiB limit: use a smaller picture`));
      return;
    }
    preview.replaceChildren(h('img', { src: URL.createObjectURL(file), alt: file.name }));
    predict(file);
  });
  setView(h('h1', {}, 'Draw a digit'),
    h('div', { class: 'toolbar' }, h('label', { class: 'toggle' }, 'model ', select), activationLabel),
    h('div', { class: 'draw' },
      h('div', { class: 'pad-column' }, pad,
        h('div', { class: 'toolbar' },
          h('button', { id: 'clear', onclick: clear }, 'Clear'),
          h('label', { class: 'button' }, 'Upload a picture…', upload)),
        h('p', { class: 'muted small' }, 'Draw with the mouse, a pen or a finger; the model answers when you lift it. A picture goes through the same preparation as ',
          h('code', {}, 'mnist-mlp predict'), '.'), preview),
      h('div', { class: 'result-column' },
        h('div', { class: 'result-top' }, answer,
          h('figure', { class: 'input28' }, input28, h('figcaption', {}, 'the 28×28 input fed to the model: cropped to the ink, scaled into 20×20, centred by mass')),
          h('figure', { class: 'map28' }, saliency28, h('figcaption', {}, 'which pixels decide, ∂p/∂x: red where more ink raises the answer\'s probability, blue where it lowers it')),
          h('figure', { class: 'map28' }, product28, h('figcaption', {}, 'input × ∂p/∂x: what each inked pixel contributed'))),
        modelNote, bars, problem)));
}

// ---------- sweeps ----------

async function sweepsView(gen) {
  const sweeps = await api('/api/sweeps');
  if (gen !== generation) return;
  if (sweeps.length === 0) {
    setView(h('h1', {}, 'Sweeps'), h('p', { id: 'empty', class: 'empty' }, 'no sweeps yet: run one with ',
      h('code', {}, 'mnist-mlp sweep config/sweeps/l2.toml')));
    return;
  }
  const leaderboard = (s) => h('div', { class: 'scroll' }, h('table', { class: 'data leaderboard' },
    h('thead', {}, h('tr', {}, s.columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, s.rows.map((row, i) => h('tr', {}, row.map((value, k) => h('td', {},
      s.columns[k] === 'run' && s.runs[i] ? h('a', { href: runHash(s.runs[i]) }, value) : value)))))));
  setView(h('h1', {}, 'Sweeps'),
    h('p', { class: 'muted' }, 'Each sweep ranks its trials on held-out validation images; the test set plays no part in the choice.'),
    sweeps.map((s) => h('section', { class: 'sweep', dataset: { sweep: s.name } },
      h('h2', {}, s.name),
      s.error ? errorBox(s.error) : null,
      s.rows.length ? leaderboard(s) : null,
      h('div', { class: 'figures' }, s.figures.map((url) => h('figure', {}, h('img', { src: url, alt: s.name })))))));
}

// ---------- routing ----------

async function route() {
  stopTimers();
  generation += 1;
  window.scrollTo(0, 0);
  const gen = generation;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const section = path.split('/')[1] || 'runs';
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === (section === 'run' ? 'runs' : section)));
  try {
    if (path.startsWith('/run/')) await runView(gen, decodeURIComponent(path.slice('/run/'.length)));
    else if (section === 'compare') await compareView(gen, params);
    else if (section === 'draw') await drawView(gen, params);
    else if (section === 'sweeps') await sweepsView(gen);
    else await runsView(gen);
  } catch (err) {
    if (gen === generation) setView(errorBox(err.message), h('p', {}, h('a', { href: '#/' }, 'Back to the runs')));
  }
}

window.addEventListener('hashchange', route);
route();
