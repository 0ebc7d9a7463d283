// Entry point of ui/static/canvas.js: `mount(element, api)` (see docs/editor-protocol.md).
import { mount as mountComponent, unmount } from 'svelte';
import flowCss from '@xyflow/svelte/dist/style.css?inline';
import appCss from './lib/styles.css?inline';
import appearanceCss from './lib/appearance.css?inline'; // light theme, tablet and phone layouts
import App from './App.svelte';

const STYLE_ID = 'reelgraph-canvas-css';

function injectCss() {
  if (typeof document === 'undefined' || document.getElementById(STYLE_ID)) return;
  const style = document.createElement('style');
  style.id = STYLE_ID;
  style.textContent = flowCss + '\n' + appCss + '\n' + appearanceCss;
  document.head.appendChild(style);
}

/** Mount the editor into `element` (the `.rg-editor` div, or an element containing it). */
export function mount(element, api) {
  injectCss();
  const host = element?.classList?.contains('rg-editor') ? element : element?.querySelector?.('.rg-editor') ?? element;
  if (host.__reelgraph) host.__reelgraph.destroy();
  host.replaceChildren();
  const app = mountComponent(App, { target: host, props: { api: api ?? {} } });
  const handle = {
    destroy() {
      unmount(app);
      if (host.__reelgraph === handle) delete host.__reelgraph;
    },
  };
  host.__reelgraph = handle;
  return handle;
}

export default mount;
