// Builds ONE file, ../static/canvas.js: an ES module exporting mount(element, api).
// Everything is inlined: component CSS is injected by Svelte at runtime, library CSS is imported
// with ?inline, dynamic imports are inlined, no sourcemaps, no assets.
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  plugins: [svelte({ compilerOptions: { css: 'injected' }, emitCss: false })],
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  mode: 'production',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../static', import.meta.url)),
    emptyOutDir: false,
    copyPublicDir: false,
    sourcemap: false,
    minify: true,
    cssCodeSplit: false,
    assetsInlineLimit: 100000000,
    reportCompressedSize: false,
    target: 'es2022',
    lib: {
      entry: fileURLToPath(new URL('./src/main.js', import.meta.url)),
      formats: ['es'],
      fileName: () => 'canvas.js',
    },
    rolldownOptions: {
      // one chunk (dynamic imports inlined), fully minified (lib mode alone keeps whitespace)
      output: { codeSplitting: false, minify: true, comments: false },
    },
  },
});
