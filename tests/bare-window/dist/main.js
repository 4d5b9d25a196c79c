// Report the first paint, as the app's UI does after painting its list.
requestAnimationFrame(() => requestAnimationFrame(() => window.__TAURI__.core.invoke('painted', { now: performance.now() })));
