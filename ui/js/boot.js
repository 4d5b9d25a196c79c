// Runs before the page's styles and modules load (a classic script, on purpose: modules run
// only after the whole module graph has loaded).
//   - Where fontconfig picks the fonts, it tells the style sheet so (`data-fonts`, see
//     app.css).
//   - Inside the app, on the home screen, it asks for the list at once, so the list arrives
//     while the modules are still loading (transport.js `early` hands the answer to home.js).
'use strict';
(() => {
  const ua = navigator.userAgent;
  if (/\b(Linux|X11|FreeBSD|OpenBSD|NetBSD)\b/.test(ua) && !/\bAndroid\b/.test(ua)) {
    document.documentElement.dataset.fonts = 'fontconfig';
  }
  const core = window.__TAURI__ && window.__TAURI__.core;
  const hash = location.hash;
  if (!core || typeof core.invoke !== 'function' || (hash && hash !== '#' && hash !== '#/')) return;
  const pending = core.invoke('home', { args: {} });
  // Handled by whoever takes it; until then a failure must not show as an unhandled rejection.
  pending.catch(() => {});
  window.__parceltrailEarly = { home: pending };
})();
