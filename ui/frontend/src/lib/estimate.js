// How estimates read on the canvas (the figures come from Python: graph/estimates.py).

export function fmtSeconds(s) {
  if (s == null) return '—';
  if (s < 1) return `${s.toFixed(2)} s`;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) {
    const m = Math.floor(Math.round(s) / 60);
    return `${m} min ${String(Math.round(s) % 60).padStart(2, '0')} s`;
  }
  const h = Math.floor(s / 3600);
  return `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export function fmtMb(mb) {
  if (mb == null) return '—';
  return mb >= 1000 ? `${(mb / 1000).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

// One line for a tooltip: the range, memory, where it comes from, and any warning with its fix.
export function estimateTip(e, t) {
  if (!e) return '';
  const parts = [t('estimate.range', { lo: fmtSeconds(e.lo), hi: fmtSeconds(e.hi) })];
  if (e.ram_mb != null) parts.push(t('estimate.ram', { ram: fmtMb(e.ram_mb) }));
  if (e.vram_mb != null) parts.push(t('estimate.vram', { vram: fmtMb(e.vram_mb) }));
  if (e.source) parts.push(e.source);
  for (const w of e.warnings || []) parts.push(`⚠ ${w.message} — ${w.fix}`);
  return parts.join(' · ');
}
