// Conversions between the workflow file format (props.value) and Svelte Flow's nodes/edges.
// Unknown fields are kept: on the graph (extras), on each node entry and on each edge.
import { isListType, linkMode, typeColor } from './catalog.js';

export const NODE_TYPE = 'rg';
const ID_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const NODE_W = 250;

export function emptyGraph() {
  return { schema: 'reelgraph/workflow', version: 1, name: '', description: '', nodes: {}, edges: [], meta: {} };
}

/** `keyframe`, `keyframe_2`, ... from the last part of the type id. */
export function newNodeId(type, taken) {
  let base = String(type).split('.').pop().replace(/[^A-Za-z0-9_-]/g, '_') || 'node';
  if (!/^[A-Za-z_]/.test(base)) base = 'n_' + base;
  if (!taken.has(base)) return base;
  let i = 2;
  while (taken.has(`${base}_${i}`)) i++;
  return `${base}_${i}`;
}

export function splitRef(ref) {
  const s = String(ref ?? '');
  const i = s.lastIndexOf('.');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

export function edgeId(source, sourceHandle, target, targetHandle) {
  return `${source}.${sourceHandle}>${target}.${targetHandle}`;
}

/** The type of an output (source) or input/wirable param (target) port, or null. */
export function portType(cat, node, handle, kind) {
  const def = node ? cat.byType.get(node.data.entry.type) : null;
  if (!def) return null;
  const p = kind === 'source' ? def.outByName.get(handle) : def.inByName.get(handle);
  return p ? p.type : null;
}

/** Svelte Flow look of a wire: the colour of what it carries, dashed when it maps, red when refused. */
function edgeLook(cat, st, mode) {
  const color = st ? typeColor(cat, st) : '#8b93a7';
  const dash = mode === 'map' ? 'stroke-dasharray:7 5;' : '';
  return {
    // --rg-wire-shade darkens the type colour on the light theme (0 on the dark one)
    style: `stroke:color-mix(in oklab, ${color}, #000 var(--rg-wire-shade, 0%));${dash}`,
    class: mode === 'map' ? 'rg-edge rg-edge-map' : mode ? 'rg-edge' : 'rg-edge rg-edge-bad',
    color,
  };
}

/** A wire; `types` (optional, from effectiveTypes) gives the types a mapped or generic node really has. */
export function makeEdge(cat, nodesById, source, sourceHandle, target, targetHandle, extra, types) {
  const st = types?.get(source)?.outs.get(sourceHandle) ?? portType(cat, nodesById.get(source), sourceHandle, 'source');
  const tt = types?.get(target)?.ins.get(targetHandle) ?? portType(cat, nodesById.get(target), targetHandle, 'target');
  const mode = st && tt ? linkMode(cat, st, tt) : null;
  const look = edgeLook(cat, st, mode);
  return {
    id: edgeId(source, sourceHandle, target, targetHandle),
    source,
    sourceHandle,
    target,
    targetHandle,
    style: look.style,
    class: look.class,
    data: { mode, color: look.color, extra: extra ?? null },
  };
}

// Type variables (generic nodes: list.build takes T, gives List[T]), bound like Python's types.bind.
function bindType(declared, actual, b) {
  if (!declared || !actual) return;
  if (declared === 'T') {
    if (!b.has('T')) b.set('T', actual);
  } else if (isListType(declared) && isListType(actual)) bindType(declared.slice(5, -1), actual.slice(5, -1), b);
}

function substitute(declared, b) {
  if (declared === 'T') return b.get('T') ?? 'T';
  if (isListType(declared)) return `List[${substitute(declared.slice(5, -1), b)}]`;
  return declared;
}

/**
 * The types ports really have in this graph, as Python's validation computes them: a node fed a
 * list where it takes one value maps (runs once per element), so each of its outputs is a list;
 * a generic node's T is what its first wired T input carries. Map id -> {maps, ins, outs}
 * (ins/outs: Map port name -> type). Nodes of unknown types are left out.
 */
export function effectiveTypes(cat, nodes, edges) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const incoming = new Map();
  const succ = new Map();
  const indeg = new Map(nodes.map((n) => [n.id, 0]));
  for (const e of edges) {
    if (!byId.has(e.source) || !byId.has(e.target) || e.source === e.target) continue;
    if (!incoming.has(e.target)) incoming.set(e.target, []);
    incoming.get(e.target).push(e);
    if (!succ.has(e.source)) succ.set(e.source, []);
    succ.get(e.source).push(e.target);
    indeg.set(e.target, indeg.get(e.target) + 1);
  }
  const order = nodes.filter((n) => indeg.get(n.id) === 0).map((n) => n.id);
  for (let i = 0; i < order.length; i++) {
    for (const t of succ.get(order[i]) ?? []) {
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) order.push(t);
    }
  }
  const done = new Set(order);
  for (const n of nodes) if (!done.has(n.id)) order.push(n.id); // caught in a cycle: declared types
  const out = new Map();
  for (const id of order) {
    const def = cat.byType.get(byId.get(id).data.entry.type);
    if (!def) continue;
    const ins = incoming.get(id) ?? [];
    const count = new Map();
    for (const e of ins) count.set(e.targetHandle, (count.get(e.targetHandle) ?? 0) + 1);
    const b = new Map();
    const wired = [];
    for (const e of ins) {
      const port = def.inByName.get(e.targetHandle);
      if (!port || count.get(e.targetHandle) > 1 || !done.has(id)) continue;
      const st = out.get(e.source)?.outs.get(e.sourceHandle) ?? portType(cat, byId.get(e.source), e.sourceHandle, 'source');
      if (!st) continue;
      bindType(port.type, st, b);
      wired.push([port, st]);
    }
    let maps = false;
    for (const [port, st] of wired) if (linkMode(cat, st, substitute(port.type, b)) === 'map') maps = true;
    const inTypes = new Map(def.ins.map((p) => [p.name, substitute(p.type, b)]));
    const outTypes = new Map(def.outs.map((p) => [p.name, maps ? `List[${substitute(p.type, b)}]` : substitute(p.type, b)]));
    out.set(id, { maps, ins: inTypes, outs: outTypes });
  }
  return out;
}

/** The edges restyled for the graph's effective types (same objects where nothing changed). */
export function restyleEdges(cat, edges, types) {
  let changed = false;
  const next = edges.map((e) => {
    const st = types.get(e.source)?.outs.get(e.sourceHandle);
    const tt = types.get(e.target)?.ins.get(e.targetHandle);
    if (!st || !tt) return e;
    const mode = linkMode(cat, st, tt);
    const look = edgeLook(cat, st, mode);
    if (e.data?.mode === mode && e.class === look.class && e.style === look.style) return e;
    changed = true;
    return { ...e, style: look.style, class: look.class, data: { ...e.data, mode, color: look.color } };
  });
  return changed ? next : edges;
}

function finite(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Depth-based layout for nodes saved without a position. */
function autoLayout(ids, edges, has) {
  const depth = new Map(ids.map((id) => [id, 0]));
  for (let pass = 0; pass < ids.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const d = (depth.get(e.source) ?? 0) + 1;
      if (depth.has(e.target) && d > depth.get(e.target) && d < ids.length) {
        depth.set(e.target, d);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const rows = new Map();
  const pos = new Map();
  for (const id of ids) {
    if (has(id)) continue;
    const d = depth.get(id);
    const r = rows.get(d) ?? 0;
    rows.set(d, r + 1);
    pos.set(id, { x: d * (NODE_W + 90), y: r * 260 });
  }
  return pos;
}

/** Workflow JSON -> {nodes, edges, extras}. `prev` (optional Map id -> flow node) lets unchanged
 * nodes keep their object (and so their measured size). */
export function graphToFlow(graph, cat, prev) {
  const g = graph && typeof graph === 'object' ? graph : emptyGraph();
  const { nodes: gnodes, edges: gedges, ...extras } = g;
  const entries = gnodes && typeof gnodes === 'object' ? Object.entries(gnodes) : [];
  const nodes = [];
  const byId = new Map();
  const rawEdges = [];
  for (const e of Array.isArray(gedges) ? gedges : []) {
    if (!e || typeof e !== 'object') continue;
    const { from, to, ...extra } = e;
    const [source, sourceHandle] = splitRef(from);
    const [target, targetHandle] = splitRef(to);
    rawEdges.push({ source, sourceHandle, target, targetHandle, extra: Object.keys(extra).length ? extra : null });
  }
  const hasPos = (id) => {
    const p = gnodes[id]?.position;
    return Array.isArray(p) && finite(p[0]) && finite(p[1]);
  };
  const laid = autoLayout(entries.map(([id]) => id), rawEdges, hasPos);
  for (const [id, raw] of entries) {
    const { position, ...rest } = raw && typeof raw === 'object' ? raw : {};
    const entry = { ...rest, type: rest.type ?? '', params: rest.params && typeof rest.params === 'object' ? rest.params : {} };
    const p = hasPos(id) ? { x: position[0], y: position[1] } : laid.get(id) ?? { x: 0, y: 0 };
    const old = prev?.get(id);
    let node;
    if (old && old.position.x === p.x && old.position.y === p.y && JSON.stringify(old.data.entry) === JSON.stringify(entry)) {
      node = old.selected ? { ...old, selected: false } : old;
    } else {
      node = { id, type: NODE_TYPE, position: p, data: { entry }, ...(old?.measured ? { measured: old.measured } : {}) };
    }
    nodes.push(node);
    byId.set(id, node);
  }
  let edges = [];
  const seen = new Set();
  for (const r of rawEdges) {
    const e = makeEdge(cat, byId, r.source, r.sourceHandle, r.target, r.targetHandle, r.extra);
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    edges.push(e);
  }
  edges = restyleEdges(cat, edges, effectiveTypes(cat, nodes, edges));
  return { nodes, edges, extras };
}

/** {nodes, edges, extras} -> workflow JSON (keys in the file's usual order). */
export function flowToGraph(nodes, edges, extras) {
  const { schema, version, name, description, meta, ...rest } = extras ?? {};
  const out = {
    schema: schema ?? 'reelgraph/workflow',
    version: version ?? 1,
    name: name ?? '',
    description: description ?? '',
    nodes: {},
    edges: [],
  };
  for (const n of nodes) {
    const { type, params, title, ...more } = n.data.entry;
    const item = { type, params: { ...params } };
    if (title != null && title !== '') item.title = title;
    Object.assign(item, more);
    item.position = [Math.round(n.position.x), Math.round(n.position.y)];
    out.nodes[n.id] = item;
  }
  for (const e of edges) {
    out.edges.push({ from: `${e.source}.${e.sourceHandle}`, to: `${e.target}.${e.targetHandle}`, ...(e.data?.extra ?? {}) });
  }
  out.meta = meta ?? {};
  Object.assign(out, rest);
  return out;
}

export function validId(id) {
  return ID_RE.test(id);
}

export { NODE_W };
