// Arrange: a left-to-right layered layout, and the test for "this graph needs arranging" on open.
// Pure functions of (nodes, edges, sizeOf): no Svelte, no DOM.

export const COL_GAP = 90;
export const ROW_GAP = 60;
const DEFAULT_W = 250;
const DEFAULT_H = 160;

/** Size of a node as drawn by RgNode, estimated from its catalog entry (used before it is measured). */
export function estimateSize(node, catalog, run) {
  const entry = node?.data?.entry ?? {};
  const def = catalog?.byType?.get(entry.type);
  const st = run?.nodes?.[node?.id];
  if (!def) return { width: DEFAULT_W, height: 120 };
  const rows = Math.max(def.realIns.length, def.outs.length);
  const prm = def.wirableIns.length;
  const plain = Math.min(4, def.params.filter((p) => !p.wirable).length);
  let h = 2 + 49; // border + header
  if (st?.message) h += 22;
  h += 10 + rows * 21;
  if (prm) h += 8 + prm * 19;
  if (plain) h += 6 + 20 * Math.ceil(plain / 2);
  if (def.params.some((p) => p.multiline && typeof entry.params?.[p.name] === 'string' && entry.params[p.name].trim())) h += 76;
  if (st?.error) h += 64;
  if (st?.previews?.length) h += st.previews.length > 1 ? 190 : 140;
  return { width: DEFAULT_W, height: h };
}

function adjacency(ids, edges) {
  const preds = new Map(ids.map((id) => [id, []]));
  const succs = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (!preds.has(e.target) || !succs.has(e.source) || e.source === e.target) continue;
    preds.get(e.target).push(e.source);
    succs.get(e.source).push(e.target);
  }
  return { preds, succs };
}

/** Topological order (Kahn); nodes caught in a cycle come last, in their original order. */
function topoOrder(ids, preds, succs) {
  const indeg = new Map(ids.map((id) => [id, new Set(preds.get(id)).size]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  const order = [];
  const done = new Set();
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    order.push(id);
    done.add(id);
    for (const s of new Set(succs.get(id))) {
      indeg.set(s, indeg.get(s) - 1);
      if (indeg.get(s) === 0) queue.push(s);
    }
  }
  for (const id of ids) if (!done.has(id)) order.push(id);
  return order;
}

/**
 * Left-to-right layers: layer = longest path from a source; a node whose inputs are all further
 * left is pulled right, next to its first consumer; within a layer, nodes are ordered by the mean
 * y of their predecessors and stacked around it. Returns Map id -> {x, y} (top-left corners).
 * `nodes`: [{id, position}], `edges`: [{source, target}], `sizeOf(node)` -> {width, height}.
 */
export function layeredLayout(nodes, edges, sizeOf, { colGap = COL_GAP, rowGap = ROW_GAP } = {}) {
  // Nodes with no wire at all are not part of any flow: they go in rows under it, in their
  // left-to-right order (a fresh canvas of unwired nodes is laid out as a row to wire).
  const wiredIds = new Set();
  for (const e of edges) {
    if (e.source === e.target) continue;
    wiredIds.add(e.source);
    wiredIds.add(e.target);
  }
  const loose = nodes.filter((n) => !wiredIds.has(n.id));
  const pos = flowLayout(nodes.filter((n) => wiredIds.has(n.id)), edges, sizeOf, colGap, rowGap);
  if (!loose.length) return pos;
  let bottom = -rowGap;
  let right = 0;
  for (const n of nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const s = sizeOf(n);
    bottom = Math.max(bottom, p.y + s.height);
    right = Math.max(right, p.x + s.width + colGap);
  }
  loose.sort((a, b) => (a.position?.x ?? 0) - (b.position?.x ?? 0) || (a.position?.y ?? 0) - (b.position?.y ?? 0));
  const perRow = Math.max(8, Math.round(right / (DEFAULT_W + colGap)));
  let y = bottom + rowGap * (pos.size ? 2 : 1);
  for (let i = 0; i < loose.length; i += perRow) {
    const row = loose.slice(i, i + perRow);
    let x = 0;
    let h = 0;
    for (const n of row) {
      const s = sizeOf(n);
      pos.set(n.id, { x: Math.round(x), y: Math.round(y) });
      x += s.width + colGap;
      h = Math.max(h, s.height);
    }
    y += h + rowGap;
  }
  return pos;
}

function flowLayout(nodes, edges, sizeOf, colGap, rowGap) {
  if (!nodes.length) return new Map();
  const ids = nodes.map((n) => n.id);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const { preds, succs } = adjacency(ids, edges);
  const order = topoOrder(ids, preds, succs);
  const rank = new Map(order.map((id, i) => [id, i]));

  // 1. longest path from the sources
  const layer = new Map();
  for (const id of order) {
    let l = 0;
    for (const p of preds.get(id)) if (rank.get(p) < rank.get(id)) l = Math.max(l, (layer.get(p) ?? 0) + 1);
    layer.set(id, l);
  }
  // 2. pull right: a node sits just left of its first (leftmost) consumer when that keeps its inputs left
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i];
    const outs = succs.get(id).filter((s) => rank.get(s) > rank.get(id));
    if (!outs.length) continue;
    const target = Math.min(...outs.map((s) => layer.get(s))) - 1;
    if (target > layer.get(id)) layer.set(id, target);
  }

  // 3. columns, ordered and stacked by the mean y of each node's predecessors (left to right); a
  //    source (no predecessor) goes next to what it feeds: a right-to-left pass places the sources
  //    by their successors, and a last left-to-right pass settles what follows them
  const nLayers = Math.max(0, ...layer.values()) + 1;
  const cols = Array.from({ length: nLayers }, () => []);
  for (const id of order) cols[layer.get(id)].push(id);
  const size = new Map(ids.map((id) => [id, sizeOf(byId.get(id))]));
  const colX = [];
  let x = 0;
  for (const col of cols) {
    colX.push(x);
    x += Math.max(0, ...col.map((id) => size.get(id).width)) + colGap;
  }
  const pos = new Map();
  const centre = (id) => pos.get(id).y + size.get(id).height / 2;
  const origY = (id) => byId.get(id).position?.y ?? 0;
  const mean = (a) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : null);
  const placedMean = (list) => mean(list.filter((v) => pos.has(v)).map(centre));

  function place(L, wantOf) {
    const col = cols[L];
    const want = new Map();
    for (const id of col) {
      const w = wantOf(id);
      if (w !== null) want.set(id, w);
    }
    // nodes with no placed neighbour keep their order, after the others
    const key = (id) => (want.has(id) ? want.get(id) : Infinity);
    col.sort((a, b) => key(a) - key(b) || origY(a) - origY(b) || rank.get(a) - rank.get(b));
    // stack in that order, each as close to its wanted centre as the one above allows
    let bottom = null;
    const ys = col.map((id) => {
      const h = size.get(id).height;
      let y = want.has(id) ? want.get(id) - h / 2 : bottom === null ? 0 : bottom + rowGap;
      if (bottom !== null) y = Math.max(y, bottom + rowGap);
      bottom = y + h;
      return y;
    });
    // then slide the column so that, on average, nodes sit where they want to be
    const off = col.map((id, i) => (want.has(id) ? want.get(id) - size.get(id).height / 2 - ys[i] : null)).filter((d) => d !== null);
    const shift = mean(off) ?? 0;
    col.forEach((id, i) => pos.set(id, { x: colX[L], y: ys[i] + shift }));
  }

  const fromPreds = (id) => placedMean(preds.get(id));
  // a source placed from the other inputs of what it feeds
  const fromSiblings = (id) => {
    const sib = [];
    for (const s of succs.get(id)) for (const p of preds.get(s)) if (p !== id) sib.push(p);
    return placedMean(sib);
  };
  const fromSuccs = (id) => placedMean(succs.get(id));
  for (let L = 0; L < nLayers; L++) place(L, (id) => fromPreds(id) ?? fromSiblings(id));
  for (let L = nLayers - 2; L >= 0; L--) place(L, (id) => (preds.get(id).length ? fromPreds(id) : fromSuccs(id)));
  for (let L = 1; L < nLayers; L++) place(L, (id) => fromPreds(id) ?? fromSuccs(id));

  // 4. the whole thing starts at (0, 0), whole pixels
  let minY = Infinity;
  for (const p of pos.values()) minY = Math.min(minY, p.y);
  if (!Number.isFinite(minY)) minY = 0;
  for (const [id, p] of pos) pos.set(id, { x: Math.round(p.x), y: Math.round(p.y - minY) });
  return pos;
}

/** True when a graph should be arranged on open: (mostly) saved without positions, or its nodes
 * overlap heavily. A few nodes without a position are placed by graphToFlow and tested here. */
export function needsArrange(nodes, sizeOf, missing = 0) {
  if (nodes.length < 2) return false;
  if (missing * 2 >= nodes.length) return true;
  const boxes = nodes.map((n) => {
    const s = sizeOf(n);
    return { x: n.position.x, y: n.position.y, w: s.width, h: s.height };
  });
  // count nodes that lose more than a third of their area under another node
  const sorted = boxes.map((b, i) => i).sort((a, b) => boxes[a].x - boxes[b].x);
  const hidden = new Set();
  for (let i = 0; i < sorted.length; i++) {
    const a = boxes[sorted[i]];
    for (let j = i + 1; j < sorted.length; j++) {
      const b = boxes[sorted[j]];
      if (b.x >= a.x + a.w) break;
      const ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      if (ix <= 0 || iy <= 0) continue;
      const area = ix * iy;
      if (area > (a.w * a.h) / 3) hidden.add(sorted[i]);
      if (area > (b.w * b.h) / 3) hidden.add(sorted[j]);
    }
  }
  return hidden.size >= Math.max(2, nodes.length * 0.25);
}
