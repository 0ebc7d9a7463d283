// The node catalog sent by Python (props.catalog), indexed once for fast lookups.
// Nothing here knows about particular node types: a new node type needs no JS change.

const FALLBACK_TYPE_COLOR = '#8b93a7';

// Category look: colour and icon name (see icons.js). Unknown categories get a neutral look.
export const CATEGORY_STYLE = {
  story: { color: '#b48cff', icon: 'story' },
  image: { color: '#3fb8f5', icon: 'image' },
  video: { color: '#f06fb0', icon: 'video' },
  audio: { color: '#f2c744', icon: 'audio' },
  assemble: { color: '#ff9350', icon: 'assemble' },
  io: { color: '#9aa8bd', icon: 'io' },
  text: { color: '#4fd48a', icon: 'text' },
  number: { color: '#6aa2ff', icon: 'number' },
  list: { color: '#2fd0bd', icon: 'list' },
  wire: { color: '#9aa4b8', icon: 'link' },
};

export function categoryStyle(id) {
  return CATEGORY_STYLE[id] ?? { color: '#8b93a7', icon: 'node' };
}

/** "List[Video]" -> "Video"; "Text" -> "Text". */
export function baseType(t) {
  if (typeof t !== 'string') return '';
  return t.startsWith('List[') && t.endsWith(']') ? t.slice(5, -1) : t;
}

export function isListType(t) {
  return typeof t === 'string' && t.startsWith('List[');
}

function titleCase(id) {
  return String(id).replace(/[_-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
}

/** A port in the interface language: its label and doc from the node's overlay, the label else
 * from the shared glossary of port names, else as Python sent it. */
function localPort(p, tr, glossary) {
  const label = tr?.label || glossary?.[p.name];
  if (!label && !tr?.doc) return p;
  return { ...p, label: label || p.label, doc: tr?.doc || p.doc };
}

/** A node type in the interface language. `tr` is raw.i18n[locale].nodes[type] (see ui/catalog.py):
 * any field it lacks stays English. The English words stay searchable. */
function localNode(n, tr, glossary) {
  if (!tr && !glossary) return n;
  tr ??= {};
  const pick = (list, group) => (list ?? []).map((p) => localPort(p, tr[group]?.[p.name], glossary));
  return {
    ...n,
    title: tr.title || n.title,
    englishTitle: n.title,
    tooltip: tr.tooltip || n.tooltip,
    description: tr.description || tr.tooltip || n.description,
    inputs: pick(n.inputs, 'inputs'),
    outputs: pick(n.outputs, 'outputs'),
    params: pick(n.params, 'params'),
    english: [n.title, n.tooltip].filter(Boolean).join(' '),
  };
}

/** Index a raw catalog: {nodes, categories, links, types, i18n}. Missing parts are tolerated.
 * `locale` picks the translations in raw.i18n (titles, tooltips, docs, category names). */
export function prepareCatalog(raw, locale = 'en') {
  const overlay = raw?.i18n?.[locale] ?? null;
  const nodes = (Array.isArray(raw?.nodes) ? raw.nodes : []).map((n) => (n && typeof n.type === 'string' ? localNode(n, overlay?.nodes?.[n.type], overlay?.ports) : n));
  const catTitle = (id, fallback) => overlay?.categories?.[id] || fallback;
  const links = raw?.links && typeof raw.links === 'object' ? raw.links : {};
  const types = raw?.types && typeof raw.types === 'object' ? raw.types : {};
  const byType = new Map();
  for (const n of nodes) {
    if (!n || typeof n.type !== 'string') continue;
    const inputs = (n.inputs ?? []).map((p) => ({ ...p, param: false }));
    const params = n.params ?? [];
    const wirable = params.filter((p) => p.wirable).map((p) => ({ ...p, param: true }));
    const ins = [...inputs, ...wirable];
    const outs = n.outputs ?? [];
    const search = [n.title, n.type, n.tooltip, n.description, n.category, n.english]
      .filter(Boolean)
      .join(' ')
      .toLowerCase();
    byType.set(n.type, {
      ...n,
      ins,
      realIns: inputs,
      wirableIns: wirable,
      outs,
      params,
      inByName: new Map(ins.map((p) => [p.name, p])),
      outByName: new Map(outs.map((p) => [p.name, p])),
      paramByName: new Map(params.map((p) => [p.name, p])),
      search,
    });
  }
  // Palette order: catalog.categories first, then any category only the nodes name.
  const categories = [];
  const seen = new Set();
  for (const c of Array.isArray(raw?.categories) ? raw.categories : []) {
    const id = typeof c === 'string' ? c : c?.id;
    if (!id || seen.has(id)) continue;
    seen.add(id);
    categories.push({ id, title: catTitle(id, (typeof c === 'object' && c.title) || titleCase(id)), ...categoryStyle(id) });
  }
  for (const n of byType.values()) {
    const id = n.category || 'other';
    if (!seen.has(id)) {
      seen.add(id);
      categories.push({ id, title: catTitle(id, titleCase(id)), ...categoryStyle(id) });
    }
  }
  const groups = categories.map((c) => ({
    ...c,
    nodes: [...byType.values()].filter((n) => (n.category || 'other') === c.id),
  }));
  const titles = new Map(categories.map((c) => [c.id, c.title]));
  const categoryTitle = (id) => titles.get(id) ?? catTitle(id, titleCase(id || 'other'));
  return { byType, categories, groups, links, types, categoryTitle, empty: byType.size === 0 };
}

export function typeColor(cat, t) {
  const b = baseType(t);
  return cat.types[b]?.color ?? cat.types[t]?.color ?? cat.types.Any?.color ?? FALLBACK_TYPE_COLOR;
}

/** "direct" | "map" | null. The table answers for the catalog's own port types; a type it does not
 * list (a mapped node's output, e.g. List[Image]) follows the same rule as Python's link_mode:
 * a direct fit wins, else a list of something that fits maps; anything else is refused. */
export function linkMode(cat, src, dst) {
  const row = cat.links[src];
  if (row && typeof row === 'object' && dst in row) {
    const m = row[dst];
    return m === 'direct' || m === 'map' ? m : null;
  }
  if (fits(cat, src, dst)) return 'direct';
  if (isListType(src) && fits(cat, src.slice(5, -1), dst)) return 'map';
  return null;
}

function fits(cat, src, dst) {
  if (src === dst || src === 'T' || dst === 'T' || src === 'Any' || dst === 'Any') return true;
  if (cat.links[src]?.[dst] === 'direct') return true;
  return isListType(src) && isListType(dst) && fits(cat, src.slice(5, -1), dst.slice(5, -1));
}
