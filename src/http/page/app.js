// The worker's live status page. Plain script, no build step: it reads /connections once,
// then follows /events (server-sent events) and redraws what changed. Timers count down
// against the server's clock (each answer carries `now`), so a skewed browser clock does
// not show a backoff as over when it is not.

const STATES = {
  'backing-off': { x: 320, y: 45 },
  'full-syncing': { x: 110, y: 135 },
  incremental: { x: 530, y: 135 },
  idle: { x: 320, y: 195 },
  parked: { x: 110, y: 290 },
  'channel-renewing': { x: 530, y: 290 },
  disconnecting: { x: 320, y: 335 },
};
const EDGES = [
  ['idle', 'full-syncing'],
  ['idle', 'incremental'],
  ['idle', 'channel-renewing'],
  ['full-syncing', 'idle'],
  ['full-syncing', 'backing-off'],
  ['full-syncing', 'parked'],
  ['incremental', 'idle'],
  ['incremental', 'full-syncing'],
  ['incremental', 'backing-off'],
  ['incremental', 'parked'],
  ['backing-off', 'full-syncing'],
  ['backing-off', 'incremental'],
  ['backing-off', 'channel-renewing'],
  ['channel-renewing', 'idle'],
  ['channel-renewing', 'backing-off'],
  ['parked', 'idle'],
  ['idle', 'disconnecting'],
];
const BOX = { w: 150, h: 34 };
const SVG_NS = 'http://www.w3.org/2000/svg';

const connections = new Map();
let selectedId = decodeURIComponent(location.hash.slice(1)) || null;
let stateFilter = null;
let clockOffsetMs = 0;

const $ = (id) => document.getElementById(id);

function serverNow() {
  return Date.now() + clockOffsetMs;
}

function noteServerTime(iso) {
  const at = Date.parse(iso);
  if (!Number.isNaN(at)) clockOffsetMs = at - Date.now();
}

function formatSeconds(total) {
  if (total <= 0) return 'now';
  const s = Math.floor(total % 60);
  const m = Math.floor((total / 60) % 60);
  const h = Math.floor((total / 3600) % 24);
  const d = Math.floor(total / 86400);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function secondsUntil(iso) {
  return (Date.parse(iso) - serverNow()) / 1000;
}

/** The one timer worth showing in the list: backoff first, then channel expiry. */
function timerOf(connection) {
  if (connection.backoff) return { label: 'retry in', until: connection.backoff.until };
  if (connection.channel) return { label: 'channel expires in', until: connection.channel.expiration };
  return null;
}

function el(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- list ----

function renderSummary() {
  const counts = new Map();
  for (const c of connections.values()) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  $('summary').textContent = `${connections.size} connection${connections.size === 1 ? '' : 's'}`;
  const filters = $('filters');
  filters.replaceChildren();
  const all = el('button', { type: 'button', 'data-filter': '' }, `all (${connections.size})`);
  if (stateFilter === null) all.classList.add('active');
  filters.append(all);
  for (const state of [...counts.keys()].sort()) {
    const button = el('button', { type: 'button', 'data-filter': state }, `${state} (${counts.get(state)})`);
    button.classList.add(`state-${state}`);
    if (stateFilter === state) button.classList.add('active');
    filters.append(button);
  }
}

function renderRow(row, connection) {
  row.replaceChildren(
    el('td', { class: 'id' }, connection.connectionId),
    el('td', {}, ''),
    el('td', {}, connection.customerId),
    el('td', { 'data-role': 'timer' }, ''),
  );
  const badge = el(
    'span',
    { class: `badge state-${connection.state}`, 'data-role': 'state' },
    connection.state,
  );
  row.children[1].append(badge);
  row.hidden = stateFilter !== null && connection.state !== stateFilter;
  row.classList.toggle('selected', connection.connectionId === selectedId);
}

function renderList() {
  const body = $('connections').tBodies[0];
  const ids = [...connections.keys()].sort();
  const rows = ids.map((id) => {
    const row = el('tr', { 'data-connection-id': id, tabindex: '0' });
    renderRow(row, connections.get(id));
    return row;
  });
  body.replaceChildren(...rows);
  $('empty').hidden = connections.size > 0;
  renderSummary();
  tick();
}

function updateConnection(connection) {
  const known = connections.has(connection.connectionId);
  connections.set(connection.connectionId, connection);
  const row = document.querySelector(`tr[data-connection-id="${CSS.escape(connection.connectionId)}"]`);
  if (!known || !row) renderList();
  else {
    renderRow(row, connection);
    renderSummary();
  }
  if (connection.connectionId === selectedId) renderDetail();
}

// ---- detail ----

function boxEdgePoint(from, to) {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const t = Math.min(
    dx === 0 ? Infinity : BOX.w / 2 / Math.abs(dx),
    dy === 0 ? Infinity : BOX.h / 2 / Math.abs(dy),
  );
  return { x: from.x + dx * t, y: from.y + dy * t };
}

function drawMachine(current, lastTransition) {
  const svg = $('machine');
  svg.replaceChildren();
  const defs = document.createElementNS(SVG_NS, 'defs');
  defs.innerHTML =
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker>' +
    '<marker id="arrow-hot" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead hot"/></marker>';
  svg.append(defs);
  for (const [fromName, toName] of EDGES) {
    const from = STATES[fromName];
    const to = STATES[toName];
    // Two-way edges are drawn side by side, each shifted to its own right.
    const length = Math.hypot(to.x - from.x, to.y - from.y);
    const nx = (-(to.y - from.y) / length) * 5;
    const ny = ((to.x - from.x) / length) * 5;
    const a = boxEdgePoint({ x: from.x + nx, y: from.y + ny }, { x: to.x + nx, y: to.y + ny });
    const b = boxEdgePoint({ x: to.x + nx, y: to.y + ny }, { x: from.x + nx, y: from.y + ny });
    const line = document.createElementNS(SVG_NS, 'line');
    const hot = lastTransition && lastTransition.from === fromName && lastTransition.to === toName;
    line.setAttribute('x1', a.x);
    line.setAttribute('y1', a.y);
    line.setAttribute('x2', b.x);
    line.setAttribute('y2', b.y);
    line.setAttribute('class', `edge${hot ? ' hot' : ''}${toName === 'disconnecting' ? ' any' : ''}`);
    line.setAttribute('marker-end', hot ? 'url(#arrow-hot)' : 'url(#arrow)');
    line.setAttribute('data-edge', `${fromName}->${toName}`);
    svg.append(line);
  }
  for (const [name, at] of Object.entries(STATES)) {
    const group = document.createElementNS(SVG_NS, 'g');
    group.setAttribute('data-state', name);
    group.setAttribute('class', `node state-${name}${name === current ? ' current' : ''}`);
    const rect = document.createElementNS(SVG_NS, 'rect');
    rect.setAttribute('x', at.x - BOX.w / 2);
    rect.setAttribute('y', at.y - BOX.h / 2);
    rect.setAttribute('width', BOX.w);
    rect.setAttribute('height', BOX.h);
    rect.setAttribute('rx', 8);
    const label = document.createElementNS(SVG_NS, 'text');
    label.setAttribute('x', at.x);
    label.setAttribute('y', at.y + 5);
    label.textContent = name;
    group.append(rect, label);
    svg.append(group);
  }
  const note = document.createElementNS(SVG_NS, 'text');
  note.setAttribute('x', 400);
  note.setAttribute('y', 360);
  note.setAttribute('class', 'note');
  note.textContent = 'DISCONNECT from any state';
  svg.append(note);
}

function fact(list, term, value, attributes = {}) {
  list.append(el('dt', {}, term), el('dd', attributes, value));
}

function countsText(counts) {
  const entries = Object.entries(counts ?? {});
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${v}`).join(', ');
}

function renderDetail() {
  const connection = selectedId ? connections.get(selectedId) : undefined;
  const facts = $('facts');
  const transitions = $('transitions');
  facts.replaceChildren();
  transitions.replaceChildren();
  if (!connection) {
    $('detail-title').textContent = selectedId ? `${selectedId} (not resident)` : 'Select a connection';
    drawMachine(null, null);
    return;
  }
  $('detail-title').textContent = connection.connectionId;
  const last = connection.transitions[connection.transitions.length - 1] ?? null;
  drawMachine(connection.state, last);
  fact(facts, 'State', connection.state, { 'data-role': 'detail-state' });
  fact(facts, 'Customer', connection.customerId);
  fact(facts, 'Cursor', connection.cursor ?? 'none yet');
  if (connection.activeSync) {
    const s = connection.activeSync;
    fact(
      facts,
      'Sync running',
      `${s.mode} since ${s.startedAt}${s.phase ? `, ${s.phase}` : ''}: ${countsText(s.counts)}`,
    );
  }
  if (connection.backoff) {
    const b = connection.backoff;
    fact(facts, 'Backoff', `attempt ${b.attempt}, ${b.classification}: ${b.reason}`);
    fact(facts, 'Retry in', '', { 'data-countdown': b.until });
  }
  if (connection.channel) {
    fact(facts, 'Channel', `${connection.channel.id} (expires ${connection.channel.expiration})`);
    fact(facts, 'Channel expires in', '', { 'data-countdown': connection.channel.expiration });
  } else fact(facts, 'Channel', 'none (polling)');
  if (connection.parked)
    fact(facts, 'Parked', `${connection.parked.reason} since ${connection.parked.since}`);
  if (connection.lastSync) {
    const s = connection.lastSync;
    fact(facts, 'Last sync', `${s.mode}, finished ${s.finishedAt}: ${countsText(s.counts)}`);
  }
  for (const t of [...connection.transitions].reverse()) {
    transitions.append(el('li', {}, `${t.at}  ${t.from ?? '∅'} → ${t.to}  (${t.event})`));
  }
  tick();
}

function select(id) {
  selectedId = id;
  history.replaceState(null, '', `#${encodeURIComponent(id)}`);
  for (const row of document.querySelectorAll('tr[data-connection-id]')) {
    row.classList.toggle('selected', row.getAttribute('data-connection-id') === id);
  }
  renderDetail();
}

// ---- timers ----

function tick() {
  for (const row of document.querySelectorAll('tr[data-connection-id]')) {
    const connection = connections.get(row.getAttribute('data-connection-id'));
    const cell = row.querySelector('[data-role="timer"]');
    const timer = connection && timerOf(connection);
    if (cell) cell.textContent = timer ? `${timer.label} ${formatSeconds(secondsUntil(timer.until))}` : '';
  }
  for (const node of document.querySelectorAll('[data-countdown]')) {
    node.textContent = formatSeconds(secondsUntil(node.getAttribute('data-countdown')));
  }
}

// ---- data ----

function showProblem(text) {
  const problem = $('problem');
  problem.textContent = text;
  problem.hidden = !text;
}

async function loadAll() {
  const loaded = new Map();
  for (let offset = 0; ; offset += 1000) {
    const response = await fetch(`/connections?limit=1000&offset=${offset}`, {
      headers: { accept: 'application/json' },
    });
    if (response.status === 401) {
      showProblem('Not authorized: open this page as /?token=… once.');
      return null;
    }
    if (!response.ok) throw new Error(`GET /connections answered ${response.status}`);
    const page = await response.json();
    noteServerTime(page.now);
    for (const c of page.connections) loaded.set(c.connectionId, c);
    if (offset + page.connections.length >= page.total || page.connections.length === 0) break;
  }
  return loaded;
}

/** Events that arrive while the list loads win over the (older) list. */
let touchedWhileLoading = null;

async function refresh() {
  touchedWhileLoading = new Set();
  try {
    const loaded = await loadAll();
    if (loaded) {
      for (const [id, c] of connections) if (touchedWhileLoading.has(id)) loaded.set(id, c);
      connections.clear();
      for (const [id, c] of loaded) connections.set(id, c);
      showProblem('');
      if (selectedId === null && connections.size > 0) selectedId = [...connections.keys()].sort()[0];
      renderList();
      renderDetail();
    }
  } catch (error) {
    showProblem(`Could not load connections: ${error.message}`);
  } finally {
    touchedWhileLoading = null;
  }
}

function follow() {
  const feed = $('feed');
  const source = new EventSource('/events');
  source.addEventListener('open', () => {
    feed.textContent = 'live';
    feed.dataset.status = 'live';
    // Whatever happened while disconnected is read again.
    void refresh();
  });
  source.addEventListener('error', () => {
    feed.textContent = 'reconnecting…';
    feed.dataset.status = 'reconnecting';
  });
  source.addEventListener('transition', (message) => {
    const data = JSON.parse(message.data);
    noteServerTime(data.now);
    touchedWhileLoading?.add(data.connection.connectionId);
    updateConnection(data.connection);
  });
}

document.addEventListener('DOMContentLoaded', () => {
  $('connections').addEventListener('click', (event) => {
    const row = event.target.closest('tr[data-connection-id]');
    if (row) select(row.getAttribute('data-connection-id'));
  });
  $('connections').addEventListener('keydown', (event) => {
    const row = event.target.closest('tr[data-connection-id]');
    if (row && event.key === 'Enter') select(row.getAttribute('data-connection-id'));
  });
  $('filters').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-filter]');
    if (!button) return;
    stateFilter = button.getAttribute('data-filter') || null;
    renderList();
  });
  drawMachine(null, null);
  follow();
  setInterval(tick, 1000);
});
