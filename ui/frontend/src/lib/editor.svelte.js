// The editor's state and every action that changes the graph. Components read it through
// getEditor() (context) and call its methods; only `commit()` talks to Python about the graph.
import { getContext, setContext, tick } from 'svelte';
import { prepareCatalog, linkMode } from './catalog.js';
import { NODE_TYPE, effectiveTypes, emptyGraph, flowToGraph, graphToFlow, makeEdge, newNodeId, portType, restyleEdges } from './graph.js';
import { estimateSize, layeredLayout, needsArrange } from './layout.js';
import { i18n, t } from './i18n.svelte.js';

const KEY = Symbol('reelgraph-editor');
const HISTORY_DEPTH = 100;
const EDIT_DEBOUNCE_MS = 300;
const AUTOSAVE_MS = 800;
const MAX_RUNS = 50; // Run ×N at most
const CLIENT_KEY = 'reelgraph.client';
const CLIP_KEY = 'reelgraph.clipboard';
const EMPTY_RUN = { run_id: null, status: 'idle', message: '', nodes: {}, issues: [], output: null };

export function setEditor(ed) {
  setContext(KEY, ed);
}
export function getEditor() {
  return getContext(KEY);
}

function asGraph(v) {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch {
      return null;
    }
  }
  return v && typeof v === 'object' ? v : null;
}

function cleanRun(rs) {
  if (!rs || typeof rs !== 'object') return EMPTY_RUN;
  return {
    ...EMPTY_RUN,
    ...rs,
    nodes: rs.nodes && typeof rs.nodes === 'object' ? rs.nodes : {},
    issues: Array.isArray(rs.issues) ? rs.issues : [],
  };
}

export function joinUrl(root, url) {
  if (!url) return '';
  if (/^(https?:|data:|blob:)/i.test(url) || url.startsWith('//')) return url;
  const r = String(root ?? '').replace(/\/+$/, '');
  if (url.startsWith('/')) return r + url;
  return `${r}/${url}`;
}

export class Editor {
  // --- state read by components -------------------------------------------------------------
  rawCatalog = $state.raw(null);
  /** The catalog in the interface language: switching language re-indexes it (titles, tooltips, docs). */
  catalog = $derived(prepareCatalog(this.rawCatalog, i18n.locale));
  examples = $state.raw([]);
  nodes = $state.raw([]);
  edges = $state.raw([]);
  extras = $state.raw({ schema: 'reelgraph/workflow', version: 1, name: '', description: '', meta: {} });
  run = $state.raw(EMPTY_RUN);
  toasts = $state([]);
  lightbox = $state.raw(null);
  canUndo = $state(false);
  canRedo = $state(false);
  /** The issues list is closed until asked for (or a Run is refused): it must not cover new nodes,
   * whose unwired inputs are issues the moment they land. */
  issuesOpen = $state(false);
  /** The minimap: 'auto' shows it only while part of the graph is out of view. */
  minimap = $state('auto');
  busy = $state('');
  /** Runs waiting for the current one, in order: [{key, graph, to, label}], each the graph as it
   * was when Run was pressed (so Run ×N with other seeds, and edits after queueing, stay apart). */
  runQueue = $state.raw([]);
  queued = $derived(this.runQueue.length > 0);
  /** Run ×N: how many runs one press queues, and what their seeds do (ComfyUI's "control after
   * generate"): 'fixed' (the same), 'increment' (+1 each run) or 'randomize'. */
  runCount = $state(1);
  seedPolicy = $state('fixed');
  /** The history panel is open; `runs` is its list (newest first), `compare` the two runs shown
   * side by side. */
  historyOpen = $state(false);
  /** What the main area shows: 'graph' (the canvas) or 'storyboard' (the table of shots). */
  view = $state('graph');
  runs = $state.raw([]);
  compare = $state.raw(null);
  /** The canvas differs from what was last opened or saved (a warning before leaving the page). */
  dirty = $state(false);
  connecting = $state.raw(null); // {color} while a wire is being dragged
  /** The node search: {x, y} on screen, `at` where the node lands (flow coordinates), and `from`,
   * the port whose wire was dropped on empty canvas ({node, port, side}), or null. */
  search = $state.raw(null);
  /** The context menu: {x, y} on screen, `at` in flow coordinates, `node` (an id) or null. */
  menu = $state.raw(null);
  /** The keyboard shortcuts overlay is open. */
  help = $state(false);
  /** The workspace file the canvas was opened from or saved to (Save writes there), or null. */
  file = $state(null);
  /** The Save as dialog: {name, exists} (exists: the file a save would replace, when asked). */
  saveAsDialog = $state.raw(null);
  /** The workspace's workflows, most recent first (the Workflows menu). */
  workflows = $state.raw([]);
  /** The view is zoomed out below the semantic-zoom threshold: nodes draw their compact "far" form.
   * Set by Canvas from the viewport zoom (it flips only when the threshold is crossed). */
  far = $state(false);
  /** Zoomed out to about a tenth (a graph of hundreds of nodes): nodes drop their near form from the
   * page, so panning does not lay out and paint thousands of hidden elements. */
  vfar = $state(false);

  // --- derived, memoised ----------------------------------------------------------------------
  /** "target.handle" -> edge, for inputs that have a wire. */
  wiredInputs = $derived.by(() => {
    const m = new Map();
    for (const e of this.edges) m.set(`${e.target}.${e.targetHandle}`, e);
    return m;
  });
  /** "source.handle" for outputs that have at least one wire. */
  wiredOutputs = $derived.by(() => {
    const s = new Set();
    for (const e of this.edges) s.add(`${e.source}.${e.sourceHandle}`);
    return s;
  });
  nodesById = $derived.by(() => {
    const m = new Map();
    for (const n of this.nodes) m.set(n.id, n);
    return m;
  });
  selectedIds = $derived.by(() => {
    const ids = [];
    for (const n of this.nodes) if (n.selected) ids.push(n.id);
    return ids.join('\n');
  });
  /** The selected node's id when exactly one node is selected. */
  selectedId = $derived.by(() => {
    const s = this.selectedIds;
    return s && !s.includes('\n') ? s : null;
  });
  selectedCount = $derived(this.selectedIds ? this.selectedIds.split('\n').length : 0);
  issuesByNode = $derived.by(() => {
    const m = new Map();
    for (const i of this.run.issues) {
      if (!i || !i.node) continue;
      if (!m.has(i.node)) m.set(i.node, []);
      m.get(i.node).push(i);
    }
    return m;
  });
  running = $derived(this.run.status === 'running');
  /** Port types as wired (a mapped node's outputs are lists; generics bound): see effectiveTypes. */
  types = $derived.by(() => effectiveTypes(this.catalog, this.nodes, this.edges));

  // --- internals ------------------------------------------------------------------------------
  api;
  flow = null; // useSvelteFlow() helpers, set by Canvas
  paneEl = null; // the canvas element, set by Canvas
  history = [];
  hIndex = -1;
  pendingTimer = null;
  clipboard = null;
  pasteCount = 0;
  toastSeq = 0;
  queueSeq = 0;
  autoArranged = false; // the last load laid the graph out from estimated sizes
  starting = false; // a run was sent and its first state has not come back yet
  clean = ''; // the graph as last opened or saved (JSON), against which `dirty` is judged
  base = ''; // the graph the page opened with: an autosave is restored only onto the same one
  autosaveTimer = null;
  pointer = null; // the last pointer position over the canvas (Space opens the search there)

  constructor(api) {
    this.api = api ?? {};
    const props = this.api.props ?? {};
    this.rawCatalog = props.catalog ?? null;
    this.examples = Array.isArray(props.examples) ? props.examples : [];
    this.run = cleanRun(props.run_state);
    this.load(asGraph(props.value) ?? emptyGraph(), { reset: true, arrange: true });
    this.base = this.clean = this.history[0];
    if (this.autoArranged) this.fitSoon();
  }

  get root() {
    return this.api.root ?? (typeof window !== 'undefined' ? window.gradio_config?.root : '') ?? '';
  }

  url(u) {
    return joinUrl(this.root, u);
  }

  // --- Python -> canvas -----------------------------------------------------------------------
  watchProps() {
    const { watch, props } = this.api;
    if (typeof watch !== 'function') return;
    watch('run_state', () => this.onRunState(cleanRun(props.run_state)));
    watch('value', () => {
      const g = asGraph(props.value);
      if (!g) return;
      if (JSON.stringify(g) === this.history[this.hIndex]) return;
      this.load(g, { reset: true, arrange: true });
      this.fitSoon();
    });
    watch('catalog', () => {
      this.rawCatalog = props.catalog ?? null;
      const snap = this.history[this.hIndex];
      if (snap) this.load(JSON.parse(snap));
    });
    watch('examples', () => {
      this.examples = Array.isArray(props.examples) ? props.examples : [];
    });
  }

  // --- graph <-> canvas -----------------------------------------------------------------------
  graph() {
    return flowToGraph(this.nodes, this.edges, this.extras);
  }

  /** Replace the canvas with a workflow; never sends anything. With `arrange`, a graph whose nodes
   * have no positions or overlap heavily is laid out (sizes estimated; refined once measured). */
  load(graph, { reset = false, arrange = false } = {}) {
    const prev = reset ? null : this.nodesById;
    const { nodes, edges, extras } = graphToFlow(graph, this.catalog, prev);
    this.autoArranged = false;
    if (arrange) {
      const raw = graph?.nodes && typeof graph.nodes === 'object' ? graph.nodes : {};
      const missing = nodes.filter((n) => !hasPosition(raw[n.id])).length;
      const size = (n) => estimateSize(n, this.catalog, this.run);
      if (needsArrange(nodes, size, missing)) {
        const pos = layeredLayout(nodes, edges, size);
        for (let i = 0; i < nodes.length; i++) {
          const p = pos.get(nodes[i].id);
          if (p) nodes[i] = { ...nodes[i], position: p };
        }
        this.autoArranged = true;
      }
    }
    this.nodes = nodes;
    this.edges = edges;
    this.extras = extras;
    this.applyCollapsed();
    if (reset) {
      this.history = [JSON.stringify(this.graph())];
      this.hIndex = 0;
      this.updateUndo();
    }
  }

  updateUndo() {
    this.canUndo = this.hIndex > 0;
    this.canRedo = this.hIndex < this.history.length - 1;
  }

  /** Record the current graph (if it changed) and tell Python: props.value = graph; graph_edit. */
  commit({ send = true } = {}) {
    if (this.pendingTimer) {
      clearTimeout(this.pendingTimer);
      this.pendingTimer = null;
    }
    // a wire added or removed upstream can make a node map (or stop): its wires change look
    const restyled = restyleEdges(this.catalog, this.edges, this.types);
    if (restyled !== this.edges) this.edges = restyled;
    const g = this.graph();
    const s = JSON.stringify(g);
    if (s === this.history[this.hIndex]) return false;
    this.history = this.history.slice(0, this.hIndex + 1);
    this.history.push(s);
    if (this.history.length > HISTORY_DEPTH + 1) this.history.splice(0, this.history.length - HISTORY_DEPTH - 1);
    this.hIndex = this.history.length - 1;
    this.updateUndo();
    if (send) this.send(g, 'graph_edit');
    this.changed();
    return true;
  }

  /** After every change of the graph: judge `dirty`, and autosave into the workspace soon. */
  changed() {
    this.dirty = this.history[this.hIndex] !== this.clean;
    if (this.autosaveTimer) clearTimeout(this.autosaveTimer);
    this.autosaveTimer = setTimeout(() => {
      this.autosaveTimer = null;
      this.autosave();
    }, AUTOSAVE_MS);
  }

  /** This browser's id for its autosave (kept across reloads and restarts), or null. */
  clientId() {
    try {
      let id = localStorage.getItem(CLIENT_KEY);
      if (!id || !/^[A-Za-z0-9-]{8,64}$/.test(id)) {
        id = (crypto.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`).replace(/[^A-Za-z0-9-]/g, '');
        localStorage.setItem(CLIENT_KEY, id);
      }
      return id;
    } catch {
      return null; // storage is off: no autosave, the warning before leaving still works
    }
  }

  async autosave() {
    const client = this.clientId();
    if (!client || typeof this.api.server?.autosave !== 'function') return;
    try {
      await this.call('autosave', { client, graph: this.graph(), base: this.base });
    } catch (err) {
      console.warn('reelgraph: autosave failed', err);
    }
  }

  /** On page load: bring back what this browser was editing when the page was left or crashed. */
  async restoreAutosave() {
    const client = this.clientId();
    if (!client || typeof this.api.server?.restore !== 'function') return false;
    let res;
    try {
      res = await this.call('restore', { client, base: this.base });
    } catch {
      return false;
    }
    if (!res?.ok || !res.graph || JSON.stringify(res.graph) === this.history[this.hIndex]) return false;
    this.replaceGraph(res.graph);
    const time = res.saved_at ? new Date(res.saved_at * 1000).toLocaleTimeString() : '';
    this.toast(t('toast.restored', { time }), 'success', 6000);
    return true;
  }

  markClean() {
    this.clean = this.history[this.hIndex];
    this.dirty = false;
  }

  /** A debounced commit, for param typing. */
  commitSoon() {
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = setTimeout(() => {
      this.pendingTimer = null;
      this.commit();
    }, EDIT_DEBOUNCE_MS);
  }

  flushPending({ send = true } = {}) {
    if (this.pendingTimer) this.commit({ send });
  }

  send(graph, event) {
    try {
      if (this.api.props) this.api.props.value = graph;
      if (typeof this.api.trigger === 'function') this.api.trigger(event);
    } catch (err) {
      console.error('reelgraph: could not send', event, err);
    }
  }

  undo() {
    this.flushPending({ send: false });
    if (this.hIndex <= 0) return;
    this.hIndex--;
    this.restore();
  }

  redo() {
    this.flushPending({ send: false });
    if (this.hIndex >= this.history.length - 1) return;
    this.hIndex++;
    this.restore();
  }

  restore() {
    const s = this.history[this.hIndex];
    const g = JSON.parse(s);
    this.load(g);
    this.updateUndo();
    this.send(g, 'graph_edit');
    this.changed();
  }

  /** Replace the whole graph as a user action (open, example): undoable, sent, view fitted. */
  replaceGraph(graph) {
    this.flushPending({ send: false });
    this.load(graph, { arrange: true });
    this.commit();
    this.fitSoon();
  }

  async fitSoon() {
    await tick();
    // Nodes need one frame to be measured before the view can fit them.
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        if (this.autoArranged) this.refineArrange();
        this.fit();
      }),
    );
  }

  /** Size of a node for layout: Svelte Flow's measurement, else an estimate. The far form draws over
   * the near one without changing its box, so a measurement is the near size at any zoom. */
  sizeOf(n) {
    const m = n.measured;
    if (m && m.width > 0 && m.height > 0) return { width: m.width, height: m.height };
    return estimateSize(n, this.catalog, this.run);
  }

  positionsFrom(pos) {
    let changed = false;
    const nodes = this.nodes.map((n) => {
      const p = pos.get(n.id);
      if (!p || (p.x === n.position.x && p.y === n.position.y)) return n;
      changed = true;
      return { ...n, position: p };
    });
    if (changed) this.nodes = nodes;
    return changed;
  }

  /** An automatic arrangement (on open) redone with measured sizes; amends the same history step. */
  refineArrange() {
    this.autoArranged = false;
    if (!this.positionsFrom(layeredLayout(this.nodes, this.edges, (n) => this.sizeOf(n)))) return;
    const g = this.graph();
    const s = JSON.stringify(g);
    const reset = this.hIndex === 0 && this.history.length === 1;
    this.history[this.hIndex] = s;
    // a graph that came from Python (initial value) needs no echo; an opened one was already sent
    if (!reset) this.send(g, 'graph_edit');
  }

  /** Lay the graph out left to right in layers (toolbar Arrange, shortcut L): one undoable step. */
  arrange() {
    this.flushPending({ send: false });
    if (!this.nodes.length) return false;
    this.autoArranged = false;
    this.positionsFrom(layeredLayout(this.nodes, this.edges, (n) => this.sizeOf(n)));
    const changed = this.commit();
    this.fitSoon();
    return changed;
  }

  fit() {
    // an empty canvas starts at 100 %: new nodes must not land at the last graph's zoom
    if (!this.nodes.length) this.flow?.setViewport({ x: 0, y: 0, zoom: 1 }, { duration: 0 });
    else this.flow?.fitView({ padding: 0.06, duration: 250, maxZoom: 1.2 });
  }

  /** Toolbar New: an empty, untitled workflow (undoable). */
  newGraph() {
    this.file = null; // Save must ask for a name, never write over the last workflow's file
    this.replaceGraph(emptyGraph());
    this.toast(t('toast.new'), 'info', 2500);
  }

  // --- run ------------------------------------------------------------------------------------
  /** Run the graph; with `to` (a node id), only what that node needs ("Run to here"). Run ×N
   * queues N runs, their seeds set by the seed policy. A run pressed while one is going waits. */
  runGraph({ to = null, count = this.runCount } = {}) {
    // Pending param edits are folded into this run without a separate graph_edit.
    this.flushPending({ send: false });
    this.commit({ send: false });
    const target = to && this.nodesById.has(to) ? to : null;
    const n = Math.max(1, Math.min(MAX_RUNS, Math.floor(Number(count)) || 1));
    const entries = this.seeded(this.graph(), n, this.seedPolicy).map(({ graph, label }) => ({ key: ++this.queueSeq, graph, to: target, label }));
    if (!(this.running || this.starting)) this.startEntry(entries.shift());
    if (!entries.length) return;
    this.runQueue = [...this.runQueue, ...entries];
    this.toast(t('toast.run_queued_n', { n: this.runQueue.length }), 'info');
  }

  /** N copies of a graph for Run ×N: the first as it is, the others with their seeds moved by
   * `policy` ('increment': +k; 'randomize': any; 'fixed': the same). */
  seeded(graph, n, policy) {
    const out = [{ graph, label: '' }];
    for (let k = 1; k < n; k++) {
      const g = JSON.parse(JSON.stringify(graph));
      if (policy === 'increment' || policy === 'randomize') {
        for (const entry of Object.values(g.nodes ?? {})) {
          const spec = this.catalog.byType.get(entry.type)?.paramByName.get('seed');
          if (!spec) continue;
          const base = Number(entry.params?.seed ?? spec.default ?? 0) || 0;
          entry.params = { ...(entry.params ?? {}), seed: policy === 'increment' ? base + k : Math.floor(Math.random() * 2 ** 31) };
        }
      }
      out.push({ graph: g, label: policy === 'increment' ? `seed +${k}` : policy === 'randomize' ? 'random seed' : `×${k + 1}` });
    }
    return out;
  }

  startEntry(entry) {
    this.starting = true;
    const canvas = this.graph();
    const payload = { ...entry.graph };
    // beside the graph, never inside the workflow that is saved: the targets, and the canvas
    // when the run's graph is not what it shows (Python judges the results against the canvas)
    if (entry.to) payload.run_targets = [entry.to];
    if (JSON.stringify(entry.graph) !== JSON.stringify(canvas)) payload.run_canvas = canvas;
    this.send(payload, 'run');
  }

  dequeue(key) {
    this.runQueue = this.runQueue.filter((e) => e.key !== key);
  }

  /** Move a queued run earlier (-1) or later (+1). */
  requeue(key, by) {
    const q = [...this.runQueue];
    const i = q.findIndex((e) => e.key === key);
    const j = i + by;
    if (i < 0 || j < 0 || j >= q.length) return;
    [q[i], q[j]] = [q[j], q[i]];
    this.runQueue = q;
  }

  stop() {
    if (this.runQueue.length) {
      this.runQueue = [];
      this.toast(t('toast.queue_dropped'), 'info');
    }
    if (typeof this.api.trigger === 'function') this.api.trigger('stop');
  }

  /** A run_state from Python: a run's progress, its end, a refusal, or the marks for an edit. */
  onRunState(rs) {
    const wasRunning = this.running;
    this.run = rs;
    if (rs.status !== 'idle' || rs.refused) this.starting = false;
    if (rs.refused) {
      this.runQueue = []; // they would be refused as well
      if (rs.issues?.length) this.issuesOpen = true; // now the list is what the user needs
    }
    const ended = wasRunning && rs.status !== 'running' && rs.status !== 'idle';
    if (ended && this.historyOpen) this.loadHistory();
    if (ended && this.runQueue.length) {
      const [next, ...rest] = this.runQueue;
      this.runQueue = rest;
      this.startEntry(next);
    }
  }

  // --- history --------------------------------------------------------------------------------
  async loadHistory() {
    try {
      const res = await this.call('history', {});
      this.runs = Array.isArray(res.runs) ? res.runs : [];
    } catch {
      this.runs = [];
    }
    return this.runs;
  }

  openRun(run) {
    return this.withBusy(t('busy.opening', { name: run }), async () => {
      const res = await this.call('open_run', { run });
      const ok = this.applyResult(res, run);
      if (ok) this.file = null; // a past run's workflow is saved under a new name
      return ok;
    });
  }

  // --- nodes ----------------------------------------------------------------------------------
  def(id) {
    const n = this.nodesById.get(id);
    return n ? this.catalog.byType.get(n.data.entry.type) : null;
  }

  title(id) {
    const n = this.nodesById.get(id);
    if (!n) return id;
    return this.shownTitle(n.data.entry) || id;
  }

  /** A node's title on screen: its own title, unless that only repeats its type's English title
   * (e.g. "Mix" on an audio.mix node), which shows in the interface language like an untitled one. */
  shownTitle(entry) {
    const def = this.catalog.byType.get(entry.type);
    const same = def?.englishTitle && entry.title?.toLowerCase() === def.englishTitle.toLowerCase();
    if (entry.title && !same) return entry.title;
    return def?.title || entry.type;
  }

  /** Ids a new node must not get: the canvas's, and those the last run still reports on (a
   * deleted node's status and previews must never show on a new one). */
  takenIds() {
    const ids = new Set(this.nodes.map((n) => n.id));
    for (const id of Object.keys(this.run.nodes)) ids.add(id);
    return ids;
  }

  addNode(type, position, { commit = true } = {}) {
    const def = this.catalog.byType.get(type);
    if (!def) return null;
    const id = newNodeId(type, this.takenIds());
    const entry = { type, params: {} };
    if (def.version) entry.version = def.version;
    // Do not stack a new node exactly on another one.
    let { x, y } = position;
    const occupied = (px, py) => this.nodes.some((n) => Math.abs(n.position.x - px) < 24 && Math.abs(n.position.y - py) < 24);
    for (let i = 0; i < 20 && occupied(x, y); i++) {
      x += 32;
      y += 32;
    }
    const node = { id, type: NODE_TYPE, position: { x: Math.round(x), y: Math.round(y) }, data: { entry }, selected: true };
    this.nodes = [...this.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node];
    this.edges = this.edges.map((e) => (e.selected ? { ...e, selected: false } : e));
    if (commit) this.commit();
    return id;
  }

  // --- node search ----------------------------------------------------------------------------
  /** Open the node search at a screen point; with `from`, it offers only nodes that can continue
   * that wire, and wires the picked one. */
  openSearch(x, y, from = null) {
    this.menu = null;
    const at = this.flow ? this.flow.screenToFlowPosition({ x, y }) : { x: 0, y: 0 };
    this.search = { x, y, at, from };
  }

  /** Open the search where the pointer is on the canvas, else at the canvas's centre (Space). */
  openSearchHere() {
    const r = this.paneEl?.getBoundingClientRect();
    const p = this.pointer;
    if (p && r && p.x >= r.left && p.x <= r.right && p.y >= r.top && p.y <= r.bottom) this.openSearch(p.x, p.y);
    else if (r) this.openSearch(r.left + r.width / 2, r.top + r.height / 3);
  }

  /** The type of a port on the canvas, as wired (see effectiveTypes). */
  portTypeOf(node, port, side) {
    const k = this.types.get(node);
    const wired = side === 'source' ? k?.outs.get(port) : k?.ins.get(port);
    return wired ?? portType(this.catalog, this.nodesById.get(node), port, side);
  }

  /** Node types matching the search words (every word, in any language shown), each with the port
   * it would wire to `from` (null without one); nodes that cannot take the wire are left out. */
  searchResults(query, from, limit = 40) {
    const words = String(query ?? '').trim().toLowerCase().split(/\s+/).filter(Boolean);
    const want = from ? this.portTypeOf(from.node, from.port, from.side) : null;
    const out = [];
    const viaParam = []; // a wire into a param (a Text into an upscaler's model name) is possible but rarely meant
    for (const group of this.catalog.groups) {
      for (const def of group.nodes) {
        if (words.length && !words.every((w) => def.search.includes(w))) continue;
        if (!from) {
          out.push({ def, port: null, color: group.color });
          continue;
        }
        if (!want) continue;
        const fitsIn = (q) => linkMode(this.catalog, want, q.type);
        const p = from.side === 'source'
          ? def.realIns.find(fitsIn) ?? (words.length ? def.wirableIns.find(fitsIn) : null)
          : def.outs.find((q) => linkMode(this.catalog, q.type, want));
        if (!p) continue;
        (from.side === 'source' && !def.realIns.includes(p) ? viaParam : out).push({ def, port: p.name, color: group.color });
      }
    }
    return [...out, ...viaParam].slice(0, limit);
  }

  /** Add the picked node where the search was opened, wired to the dropped wire: one undo step. */
  addFromSearch(type, port) {
    const s = this.search;
    this.search = null;
    if (!s) return null;
    const from = s.from;
    // a node continuing a wire lands with that port under the pointer: inputs on its left edge
    const dx = from?.side === 'target' ? 250 : 12;
    const id = this.addNode(type, { x: s.at.x - dx, y: s.at.y - 40 }, { commit: !from });
    if (!id || !from) return id;
    const c = from.side === 'source'
      ? { source: from.node, sourceHandle: from.port, target: id, targetHandle: port }
      : { source: id, sourceHandle: port, target: from.node, targetHandle: from.port };
    if (!this.connect(c)) this.commit(); // the node stays even when the wire is refused (the reason shows)
    return id;
  }

  /** Bypass the selected nodes (or stop bypassing them all, when they all are): one undo step. */
  toggleBypass(ids = this.nodes.filter((n) => n.selected).map((n) => n.id)) {
    if (!ids.length) return false;
    const on = !ids.every((id) => this.nodesById.get(id)?.data.entry.bypass);
    const set = new Set(ids);
    this.nodes = this.nodes.map((n) => {
      if (!set.has(n.id)) return n;
      const { bypass, ...entry } = n.data.entry;
      return { ...n, data: { ...n.data, entry: on ? { ...entry, bypass: true } : entry } };
    });
    this.commit();
    return true;
  }

  // --- groups and notes (canvas only: kept in the workflow's meta.canvas, never run) -------------
  get canvasItems() {
    const c = this.extras.meta?.canvas ?? {};
    return { groups: Array.isArray(c.groups) ? c.groups : [], notes: Array.isArray(c.notes) ? c.notes : [] };
  }

  setCanvasItems(fn, { commit = true } = {}) {
    const meta = this.extras.meta ?? {};
    const next = fn(this.canvasItems);
    this.extras = { ...this.extras, meta: { ...meta, canvas: next } };
    this.applyCollapsed();
    if (commit) this.commit();
  }

  canvasId(prefix) {
    const { groups, notes } = this.canvasItems;
    const taken = new Set([...groups, ...notes].map((x) => x.id));
    let i = 1;
    while (taken.has(`${prefix}${i}`)) i++;
    return `${prefix}${i}`;
  }

  /** The nodes a group holds: those whose centre lies inside its (expanded) frame. */
  groupMembers(g) {
    return this.nodes
      .filter((n) => {
        const { width, height } = this.sizeOf(n);
        const cx = n.position.x + width / 2;
        const cy = n.position.y + height / 2;
        return cx >= g.x && cx <= g.x + g.w && cy >= g.y && cy <= g.y + g.h;
      })
      .map((n) => n.id);
  }

  /** A frame around the selected nodes (Ctrl+G): they move and collapse together. */
  groupSelection() {
    const sel = this.nodes.filter((n) => n.selected);
    if (!sel.length) return null;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of sel) {
      const { width, height } = this.sizeOf(n);
      x0 = Math.min(x0, n.position.x);
      y0 = Math.min(y0, n.position.y);
      x1 = Math.max(x1, n.position.x + width);
      y1 = Math.max(y1, n.position.y + height);
    }
    const id = this.canvasId('group');
    const pad = 24;
    const g = { id, title: t('group.untitled'), x: Math.round(x0 - pad), y: Math.round(y0 - pad - 30), w: Math.round(x1 - x0 + 2 * pad), h: Math.round(y1 - y0 + 2 * pad + 30), collapsed: false };
    this.setCanvasItems((c) => ({ ...c, groups: [...c.groups, g] }));
    return id;
  }

  updateGroup(id, patch, opts) {
    this.setCanvasItems((c) => ({ ...c, groups: c.groups.map((g) => (g.id === id ? { ...g, ...patch } : g)) }), opts);
  }

  removeGroup(id) {
    this.setCanvasItems((c) => ({ ...c, groups: c.groups.filter((g) => g.id !== id) }));
  }

  /** Move a group by (dx, dy) with the nodes it held when the drag began (`members`, `from`). */
  dragGroup(id, start, members, from, dx, dy) {
    const pos = new Map(members.map((m) => [m, { x: Math.round(from.get(m).x + dx), y: Math.round(from.get(m).y + dy) }]));
    this.positionsFrom(pos);
    this.updateGroup(id, { x: Math.round(start.x + dx), y: Math.round(start.y + dy) }, { commit: false });
  }

  /** Nodes inside a collapsed group are hidden (their wires too); they still run. */
  applyCollapsed() {
    const hidden = new Set();
    for (const g of this.canvasItems.groups) if (g.collapsed) for (const id of this.groupMembers(g)) hidden.add(id);
    if (!hidden.size && !this.nodes.some((n) => n.hidden)) return;
    this.nodes = this.nodes.map((n) => (!!n.hidden === hidden.has(n.id) ? n : { ...n, hidden: hidden.has(n.id), selected: hidden.has(n.id) ? false : n.selected }));
  }

  addNote(at) {
    const id = this.canvasId('note');
    const note = { id, text: '', x: Math.round(at?.x ?? 0), y: Math.round(at?.y ?? 0), w: 240 };
    this.setCanvasItems((c) => ({ ...c, notes: [...c.notes, note] }));
    return id;
  }

  updateNote(id, patch, opts) {
    this.setCanvasItems((c) => ({ ...c, notes: c.notes.map((n) => (n.id === id ? { ...n, ...patch } : n)) }), opts);
  }

  removeNote(id) {
    this.setCanvasItems((c) => ({ ...c, notes: c.notes.filter((n) => n.id !== id) }));
  }

  // --- context menu ---------------------------------------------------------------------------
  openMenu(x, y, node = null) {
    this.search = null;
    const at = this.flow ? this.flow.screenToFlowPosition({ x, y }) : { x: 0, y: 0 };
    if (node && !this.nodesById.get(node)?.selected) this.select(node);
    this.menu = { x, y, at, node };
  }

  /** A copy of one node beside it (its wires in stay: the copy takes the same inputs). */
  duplicate(id) {
    const n = this.nodesById.get(id);
    if (!n) return null;
    const copyId = newNodeId(n.data.entry.type, this.takenIds());
    const node = { ...n, id: copyId, position: { x: n.position.x + 40, y: n.position.y + 40 }, data: { entry: JSON.parse(JSON.stringify(n.data.entry)) }, selected: true, measured: undefined };
    const byId = new Map([...this.nodesById, [copyId, node]]);
    const ins = this.edges.filter((e) => e.target === id).map((e) => makeEdge(this.catalog, byId, e.source, e.sourceHandle, copyId, e.targetHandle, e.data?.extra ?? null, this.types));
    this.nodes = [...this.nodes.map((x) => (x.selected ? { ...x, selected: false } : x)), node];
    this.edges = [...this.edges, ...ins];
    this.commit();
    return copyId;
  }

  /** Add a node at the centre of the visible canvas. */
  addAtCenter(type) {
    let p = { x: 0, y: 0 };
    const r = this.paneEl?.getBoundingClientRect();
    if (r && this.flow) p = this.flow.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
    return this.addNode(type, { x: p.x - 125, y: p.y - 60 });
  }

  updateEntry(id, fn) {
    this.nodes = this.nodes.map((n) => (n.id === id ? { ...n, data: { ...n.data, entry: fn(n.data.entry) } } : n));
  }

  setParam(id, name, value, { debounce = true } = {}) {
    this.updateEntry(id, (e) => ({ ...e, params: { ...e.params, [name]: value } }));
    if (debounce) this.commitSoon();
    else this.commit();
  }

  resetParam(id, name) {
    this.updateEntry(id, (e) => {
      const params = { ...e.params };
      delete params[name];
      return { ...e, params };
    });
    this.commit();
  }

  setTitle(id, title) {
    const text = String(title ?? '').trim();
    this.updateEntry(id, (e) => {
      const next = { ...e };
      const def = this.catalog.byType.get(e.type);
      if (!text || (def && text === def.title && !e.title)) delete next.title;
      else next.title = text;
      return next;
    });
    this.commit();
  }

  setInfo(field, value) {
    this.extras = { ...this.extras, [field]: value };
    this.commitSoon();
  }

  deleteSelection() {
    const gone = new Set(this.nodes.filter((n) => n.selected).map((n) => n.id));
    const edges = this.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
    if (!gone.size && edges.length === this.edges.length) return;
    this.nodes = this.nodes.filter((n) => !gone.has(n.id));
    this.edges = edges;
    if (!this.nodes.length) {
      // the name and description were the deleted workflow's: Save must not reuse them
      this.extras = { ...this.extras, name: '', description: '' };
      this.fit();
    }
    this.commit();
  }

  deleteEdge(id) {
    this.edges = this.edges.filter((e) => e.id !== id);
    this.commit();
  }

  select(id, { center = false } = {}) {
    this.nodes = this.nodes.map((n) => {
      const sel = n.id === id;
      return n.selected === sel ? n : { ...n, selected: sel };
    });
    this.edges = this.edges.map((e) => (e.selected ? { ...e, selected: false } : e));
    const n = this.nodesById.get(id);
    if (center && n && this.flow) {
      const w = n.measured?.width ?? 250;
      const h = n.measured?.height ?? 150;
      this.flow.setCenter(n.position.x + w / 2, n.position.y + h / 2, { zoom: Math.max(this.flow.getZoom(), 0.9), duration: 300 });
    }
  }

  copy() {
    const sel = this.nodes.filter((n) => n.selected);
    if (!sel.length) return false;
    const ids = new Set(sel.map((n) => n.id));
    this.clipboard = {
      at: Date.now(),
      nodes: sel.map((n) => ({ id: n.id, position: { ...n.position }, entry: JSON.parse(JSON.stringify(n.data.entry)) })),
      edges: this.edges
        .filter((e) => ids.has(e.source) && ids.has(e.target))
        .map((e) => ({ source: e.source, sourceHandle: e.sourceHandle, target: e.target, targetHandle: e.targetHandle, extra: e.data?.extra ?? null })),
    };
    this.pasteCount = 0;
    // every tab of this editor pastes it (they share localStorage); see also clipText()
    try {
      localStorage.setItem(CLIP_KEY, JSON.stringify({ ...this.clipboard, at: Date.now() }));
    } catch {
      /* storage off: this tab still pastes it */
    }
    this.toast(t('toast.copied', { n: sel.length }), 'info', 1600);
    return true;
  }

  /** The copied nodes as text for the system clipboard (pasted into another browser, or a chat). */
  clipText() {
    return this.clipboard ? JSON.stringify({ reelgraph: 'nodes', version: 1, nodes: this.clipboard.nodes, edges: this.clipboard.edges }) : '';
  }

  /** Nodes from text on the system clipboard: the editor's own copy, or a whole workflow's JSON. */
  clipFromText(text) {
    let v;
    try {
      v = JSON.parse(text);
    } catch {
      return null;
    }
    if (v?.reelgraph === 'nodes' && Array.isArray(v.nodes)) return { nodes: v.nodes, edges: Array.isArray(v.edges) ? v.edges : [] };
    if (v && typeof v.nodes === 'object' && !Array.isArray(v.nodes) && Array.isArray(v.edges)) {
      const { nodes, edges } = graphToFlow(v, this.catalog, null);
      return {
        nodes: nodes.map((n) => ({ id: n.id, position: n.position, entry: n.data.entry })),
        edges: edges.map((e) => ({ source: e.source, sourceHandle: e.sourceHandle, target: e.target, targetHandle: e.targetHandle, extra: e.data?.extra ?? null })),
      };
    }
    return null;
  }

  /** Paste: the newest copy of any tab of this editor (or `clip`, from the system clipboard). */
  paste(clip = null) {
    if (!clip) {
      clip = this.clipboard;
      try {
        const shared = JSON.parse(localStorage.getItem(CLIP_KEY) ?? 'null');
        if (shared?.nodes?.length && (!clip || shared.at > (this.clipboard?.at ?? 0))) clip = shared;
      } catch {
        /* keep this tab's own */
      }
    }
    if (!clip || !clip.nodes?.length) return false;
    if (clip.nodes.some((c) => !this.catalog.byType.has(c.entry?.type))) {
      const unknown = clip.nodes.find((c) => !this.catalog.byType.has(c.entry?.type))?.entry?.type;
      this.toast(t('toast.paste_unknown', { type: String(unknown) }), 'error');
      return true;
    }
    this.pasteCount++;
    const off = 40 * this.pasteCount;
    const taken = this.takenIds();
    const map = new Map();
    const added = [];
    for (const c of clip.nodes) {
      const id = newNodeId(c.entry.type, taken);
      taken.add(id);
      map.set(c.id, id);
      added.push({ id, type: NODE_TYPE, position: { x: c.position.x + off, y: c.position.y + off }, data: { entry: JSON.parse(JSON.stringify(c.entry)) }, selected: true });
    }
    const all = [...this.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), ...added];
    const byId = new Map(all.map((n) => [n.id, n]));
    const newEdges = clip.edges.map((e) => makeEdge(this.catalog, byId, map.get(e.source), e.sourceHandle, map.get(e.target), e.targetHandle, e.extra));
    this.nodes = all;
    this.edges = [...this.edges.map((e) => (e.selected ? { ...e, selected: false } : e)), ...newEdges];
    this.commit();
    return true;
  }

  // --- wires ----------------------------------------------------------------------------------
  /** {ok, reason, mode} for a wire source.sourceHandle -> target.targetHandle. */
  checkConnection(c) {
    if (!c || !c.source || !c.target) return { ok: false, reason: '' };
    const src = this.nodesById.get(c.source);
    const dst = this.nodesById.get(c.target);
    if (!src || !dst) return { ok: false, reason: '' };
    const types = this.types;
    const st = types.get(c.source)?.outs.get(c.sourceHandle) ?? portType(this.catalog, src, c.sourceHandle, 'source');
    const tt = types.get(c.target)?.ins.get(c.targetHandle) ?? portType(this.catalog, dst, c.targetHandle, 'target');
    const port = `${this.title(c.target)}.${c.targetHandle}`;
    if (!st || !tt) return { ok: false, reason: t('wire.unknown_port', { port }) };
    const mode = linkMode(this.catalog, st, tt);
    if (!mode) return { ok: false, reason: t('wire.type_mismatch', { port, want: tt, got: st, article: article(tt) }) };
    if (this.wiredInputs.has(`${c.target}.${c.targetHandle}`)) {
      const e = this.wiredInputs.get(`${c.target}.${c.targetHandle}`);
      if (e.source === c.source && e.sourceHandle === c.sourceHandle) return { ok: false, reason: t('wire.already_same', { port, source: `${this.title(c.source)}.${c.sourceHandle}` }) };
      return { ok: false, reason: t('wire.already', { port }) };
    }
    if (c.source === c.target) return { ok: false, reason: t('wire.self', { port }) };
    if (this.reaches(c.target, c.source)) {
      return { ok: false, reason: t('wire.loop', { source: this.title(c.source), port, target: this.title(c.target) }) };
    }
    return { ok: true, mode };
  }

  /** True when `to` is downstream of `from`. */
  reaches(from, to) {
    const out = new Map();
    for (const e of this.edges) {
      if (!out.has(e.source)) out.set(e.source, []);
      out.get(e.source).push(e.target);
    }
    const stack = [from];
    const seen = new Set();
    while (stack.length) {
      const id = stack.pop();
      if (id === to) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const t of out.get(id) ?? []) stack.push(t);
    }
    return false;
  }

  /** Add a checked wire; a wired param loses its value. Returns true when added. */
  connect(c) {
    const res = this.checkConnection(c);
    if (!res.ok) {
      if (res.reason) this.toast(res.reason, 'error');
      return false;
    }
    const edge = makeEdge(this.catalog, this.nodesById, c.source, c.sourceHandle, c.target, c.targetHandle, null, this.types);
    this.edges = [...this.edges, edge];
    const def = this.def(c.target);
    const dst = this.nodesById.get(c.target);
    if (def?.paramByName.has(c.targetHandle) && dst && c.targetHandle in dst.data.entry.params) {
      this.updateEntry(c.target, (e) => {
        const params = { ...e.params };
        delete params[c.targetHandle];
        return { ...e, params };
      });
    }
    this.commit();
    return true;
  }

  // --- notices --------------------------------------------------------------------------------
  toast(message, kind = 'info', ms) {
    const id = ++this.toastSeq;
    const dur = ms ?? (kind === 'error' ? 6500 : 3500);
    // The same message twice in a row refreshes the first toast instead of stacking.
    const same = this.toasts.find((t) => t.message === message);
    if (same) {
      clearTimeout(same.timer);
      same.timer = setTimeout(() => this.dismiss(same.id), dur);
      return same.id;
    }
    const timer = setTimeout(() => this.dismiss(id), dur);
    this.toasts.push({ id, message, kind, timer });
    if (this.toasts.length > 4) this.toasts.shift();
    return id;
  }

  dismiss(id) {
    const i = this.toasts.findIndex((t) => t.id === id);
    if (i >= 0) {
      clearTimeout(this.toasts[i].timer);
      this.toasts.splice(i, 1);
    }
  }

  // --- files & server -------------------------------------------------------------------------
  async call(fn, payload) {
    const f = this.api.server?.[fn];
    if (typeof f !== 'function') throw new Error(`the server has no ${fn}()`);
    const res = await f(payload);
    return res && typeof res === 'object' ? res : { ok: false, error: `${fn}() returned nothing` };
  }

  async upload(file) {
    if (typeof this.api.upload !== 'function') throw new Error('uploads are not available here');
    const r = await this.api.upload(file);
    if (!r || !r.path) throw new Error(`could not upload ${file.name}`);
    return r;
  }

  /** Apply an open/example result: replace the graph or show the error and change nothing. */
  applyResult(res, what) {
    if (!res?.ok || !res.graph) {
      this.toast(res?.error || t('toast.open_failed', { what }), 'error');
      return false;
    }
    this.replaceGraph(res.graph);
    this.markClean();
    this.file = res.file ?? null; // only a workflow opened from the workspace is saved back over itself
    this.toast(res.message || t('toast.opened', { name: res.graph.name || what }), 'success');
    return true;
  }

  async withBusy(label, fn) {
    this.busy = label;
    try {
      return await fn();
    } catch (err) {
      this.toast(String(err?.message ?? err), 'error');
      return null;
    } finally {
      this.busy = '';
    }
  }

  openFile(file) {
    if (!file) return;
    const name = file.name || 'workflow.json';
    const lower = name.toLowerCase();
    const isJson = lower.endsWith('.json') || file.type === 'application/json';
    const isMedia = /\.(png|mp4|webm|mov)$/.test(lower);
    if (!isJson && !isMedia) {
      this.toast(t('toast.bad_file', { name }), 'error');
      return;
    }
    return this.withBusy(t('busy.opening', { name }), async () => {
      let res;
      if (isJson) {
        const text = await file.text();
        res = await this.call('open_text', { text, name });
      } else {
        const up = await this.upload(file);
        res = await this.call('open_file', { path: up.path, name });
      }
      return this.applyResult(res, name);
    });
  }

  loadExample(id) {
    return this.withBusy(t('busy.example'), async () => {
      const res = await this.call('load_example', { id });
      return this.applyResult(res, id);
    });
  }

  /** Save (Ctrl+S): into the workspace file this workflow came from, else ask for a name. */
  save() {
    this.flushPending();
    if (!this.file || typeof this.api.server?.save_workflow !== 'function') return this.saveAs();
    return this.saveWorkflow(this.file, { overwrite: true });
  }

  saveAs() {
    this.flushPending();
    if (typeof this.api.server?.save_workflow !== 'function') return this.download();
    this.saveAsDialog = { name: this.extras.name || t('save.untitled'), exists: null };
    return null;
  }

  /** From the Save as dialog: name the workflow and save it; a taken name asks before replacing. */
  async saveAsNamed(name, { replace = false } = {}) {
    const text = String(name ?? '').trim();
    if (!text) return false;
    if (text !== this.extras.name) {
      this.extras = { ...this.extras, name: text };
      this.commit();
    }
    const ok = await this.saveWorkflow(replace ? this.saveAsDialog?.exists : null, { overwrite: replace });
    if (ok) this.saveAsDialog = null;
    return ok;
  }

  saveWorkflow(file, { overwrite = false } = {}) {
    return this.withBusy(t('busy.saving'), async () => {
      const res = await this.call('save_workflow', { graph: this.graph(), file, overwrite });
      if (!res.ok) {
        if (res.exists) this.saveAsDialog = { name: this.extras.name, exists: res.file };
        else this.toast(res.error || t('toast.save_failed'), 'error');
        return false;
      }
      this.file = res.file;
      this.markClean();
      const n = Array.isArray(res.issues) ? res.issues.length : 0;
      if (n) this.toast(t('toast.saved_ws_issues', { name: res.file, n }), 'warn');
      else this.toast(t('toast.saved_ws', { name: res.file }), 'success', 2200);
      return true;
    });
  }

  async listWorkflows() {
    try {
      const res = await this.call('list_workflows', {});
      this.workflows = Array.isArray(res.workflows) ? res.workflows : [];
    } catch {
      this.workflows = [];
    }
    return this.workflows;
  }

  openWorkflow(file) {
    return this.withBusy(t('busy.opening', { name: file }), async () => {
      const res = await this.call('open_workflow', { file });
      return this.applyResult(res, file);
    });
  }

  /** Download the workflow as a .json file (to share it, or keep it outside the workspace). */
  download() {
    this.flushPending();
    return this.withBusy(t('busy.saving'), async () => {
      const res = await this.call('save', { graph: this.graph() });
      if (!res.ok) {
        this.toast(res.error || t('toast.save_failed'), 'error');
        return false;
      }
      const name = res.name || 'workflow.json';
      const blob = new Blob([res.text ?? ''], { type: 'application/json' });
      const href = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = href;
      a.download = name;
      a.style.display = 'none';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 4000);
      this.markClean();
      const n = Array.isArray(res.issues) ? res.issues.length : 0;
      if (n) this.toast(t('toast.saved_issues', { name, n }), 'warn');
      else this.toast(t('toast.saved', { name }), 'success', 2200);
      return true;
    });
  }

  importMedia(id, param, file, kind) {
    return this.withBusy(t('busy.uploading', { name: file.name }), async () => {
      const up = await this.upload(file);
      const res = await this.call('import_media', { path: up.path, name: file.name, kind: kind || 'any' });
      if (!res.ok) {
        this.toast(res.error || t('toast.import_failed', { name: file.name }), 'error');
        return false;
      }
      this.setParam(id, param, res.value, { debounce: false });
      this.toast(`${file.name} → ${res.value}`, 'success', 2500);
      return true;
    });
  }
}

function hasPosition(raw) {
  const p = raw?.position;
  return Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]);
}

function article(t) {
  return /^[AEIOU]/i.test(t) ? 'an' : 'a';
}
