// The editor follows the Gradio page it lives in, and lays itself out for the screen it is on.
//
// Theme: Gradio marks dark mode with the class `dark` on <body> (on the embedding element's parent
// when the app is embedded as <gradio-app>). Its Settings panel (footer "Settings" > Display Theme)
// reloads the page with ?__theme=light|dark (no parameter for "System"), and in System mode Gradio
// toggles the class live when the OS switches. So: dark while an ancestor of the editor has `.dark`,
// watched with a MutationObserver on those ancestors' class attributes.
//
// Language: Gradio's Settings > Language switches svelte-i18n's locale, which writes <html lang>
// (Gradio does not remember it across reloads). A *change* of <html lang> after the editor mounts
// is that choice: the editor switches too (and remembers it, as its own language select does). The
// value at mount is only the browser's language, which the editor already follows unless the user
// picked another one in the editor, so it is not applied again.
//
// Panels: on a narrow editor (see appearance.css) the palette and the inspector are drawers over
// the canvas, opened from the toolbar; `panel` says which one is open.
import { i18n, matchLocale } from './i18n.svelte.js';

class Appearance {
  dark = $state(true);
  /** 'palette' | 'inspector' | null: the drawer open on a narrow screen */
  panel = $state(null);

  get colorMode() {
    return this.dark ? 'dark' : 'light';
  }

  toggle(panel) {
    this.panel = this.panel === panel ? null : panel;
  }
}

export const appearance = new Appearance();

/** Whether Gradio shows `el` in dark mode. */
export function isDark(el) {
  return !!el?.closest?.('.dark');
}

/** The editor's language for a Gradio locale (zh-CN, zh-TW -> zh-CN; one we lack -> English). */
export function localeFor(gradioLocale) {
  return matchLocale([gradioLocale]);
}

/**
 * Svelte attachment for the editor's root element: keeps `appearance.dark` and the interface
 * language in step with the page. Returns the cleanup.
 */
export function followPage(el) {
  const update = () => {
    appearance.dark = isDark(el);
  };
  update();
  const theme = new MutationObserver(update);
  for (let a = el.parentElement; a; a = a.parentElement) theme.observe(a, { attributes: true, attributeFilter: ['class'] });

  const html = document.documentElement;
  let lang = html.lang;
  const language = new MutationObserver(() => {
    if (!html.lang || html.lang === lang) return;
    lang = html.lang;
    i18n.set(localeFor(lang));
  });
  language.observe(html, { attributes: true, attributeFilter: ['lang'] });

  return () => {
    theme.disconnect();
    language.disconnect();
  };
}
