// Runs before the page's modules load: inside the app, on the home screen, it asks for the
// list at once, so the first list arrives while the modules and styles are still loading
// (transport.js `early` hands the answer to home.js). A classic script, on purpose: modules
// run only after the whole module graph has loaded.
'use strict';
(() => {
  const core = window.__TAURI__ && window.__TAURI__.core;
  const hash = location.hash;
  if (!core || typeof core.invoke !== 'function' || (hash && hash !== '#' && hash !== '#/')) return;
  const pending = core.invoke('home', { args: {} });
  // Handled by whoever takes it; until then a failure must not show as an unhandled rejection.
  pending.catch(() => {});
  window.__parceltrailEarly = { home: pending };
})();
