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
  issuesOpen = $state(true);
  busy = $state('');
  connecting = $state.raw(null); // {color} while a wire is being dragged
  /** The view is zoomed out below the semantic-zoom threshold: nodes draw their compact "far" form.
   * Set by Canvas from the viewport zoom (it flips only when the threshold is crossed). */
  far = $state(false);

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
  autoArranged = false; // the last load laid the graph out from estimated sizes

  constructor(api) {
    this.api = api ?? {};
    const props = this.api.props ?? {};
    this.rawCatalog = props.catalog ?? null;
    this.examples = Array.isArray(props.examples) ? props.examples : [];
    this.run = cleanRun(props.run_state);
    this.load(asGraph(props.value) ?? emptyGraph(), { reset: true, arrange: true });
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
    watch('run_state', () => {
      this.run = cleanRun(props.run_state);
    });
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
    return true;
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
    this.flow?.fitView({ padding: 0.06, duration: 250, maxZoom: 1.2 });
  }

  // --- run ------------------------------------------------------------------------------------
  runGraph() {
    // Pending param edits are folded into this run without a separate graph_edit.
    this.flushPending({ send: false });
    this.commit({ send: false });
    this.send(this.graph(), 'run');
  }

  stop() {
    if (typeof this.api.trigger === 'function') this.api.trigger('stop');
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

  takenIds() {
    return new Set(this.nodes.map((n) => n.id));
  }

  addNode(type, position) {
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
    this.commit();
    return id;
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
      nodes: sel.map((n) => ({ id: n.id, position: { ...n.position }, entry: JSON.parse(JSON.stringify(n.data.entry)) })),
      edges: this.edges
        .filter((e) => ids.has(e.source) && ids.has(e.target))
        .map((e) => ({ source: e.source, sourceHandle: e.sourceHandle, target: e.target, targetHandle: e.targetHandle, extra: e.data?.extra ?? null })),
    };
    this.pasteCount = 0;
    this.toast(t('toast.copied', { n: sel.length }), 'info', 1600);
    return true;
  }

  paste() {
    const clip = this.clipboard;
    if (!clip || !clip.nodes.length) return false;
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
    if (c.source === c.target || this.reaches(c.target, c.source)) {
      return { ok: false, reason: t('wire.loop', { source: this.title(c.source), port }) };
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

  save() {
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
