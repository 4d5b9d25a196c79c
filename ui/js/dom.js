// A tiny DOM builder. Strings only ever become text nodes (createTextNode / textContent):
// carrier-provided text is untrusted and must never be parsed as markup.

const PROPS = new Set(['value', 'checked', 'selected', 'indeterminate', 'defaultValue', 'defaultChecked']);

/**
 * h('a', { class: 'card', href: '#/', dataset: { id }, vars: { '--p': 0.5 }, onclick: fn }, 'text', node, [more])
 * - `class`: className; `dataset`: data-* attributes; `vars`: CSS custom properties (CSSOM);
 * - `on<event>`: listener (functions only); value/checked/selected/indeterminate: properties;
 * - anything else: an attribute (`true` → empty attribute, `null`/`false`/`undefined` → skipped).
 * Children: strings and numbers become text nodes, arrays are flattened, null/false skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  if (children.length) append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const k in attrs) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') {
      for (const d in v) if (v[d] != null) el.dataset[d] = String(v[d]);
    } else if (k === 'vars') {
      for (const n in v) el.style.setProperty(n, String(v[n]));
    } else if (k === 'style') {
      throw new TypeError('h(): inline style attributes are not allowed (CSP); use `vars`');
    } else if (k.length > 2 && k[0] === 'o' && k[1] === 'n') {
      if (typeof v !== 'function') throw new TypeError(`h(): ${k} must be a function`);
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

const sheets = new Map();

/**
 * Adds the page's style sheet `href` (a path of our own, never a caller's) once, and resolves
 * when it has loaded: for styles that only a view loaded later needs.
 */
export function stylesheet(href) {
  let loading = sheets.get(href);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const link = h('link', { rel: 'stylesheet', href });
      link.addEventListener('load', () => resolve());
      link.addEventListener('error', () => {
        sheets.delete(href);
        link.remove();
        reject(new Error(`${href} did not load`));
      });
      document.head.appendChild(link);
    });
    sheets.set(href, loading);
  }
  return loading;
}

/** Appends children (strings as text nodes). */
export function append(el, children) {
  for (const c of children) {
    if (c == null || c === false || c === true) continue;
    if (Array.isArray(c)) append(el, c);
    else if (typeof c === 'object' && typeof c.nodeType === 'number') el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  const frag = document.createDocumentFragment();
  append(frag, children);
  el.replaceChildren(frag);
  return el;
}

/** Sets an element's text (never markup). */
export function text(el, value) {
  el.textContent = value == null ? '' : String(value);
  return el;
}

/** A fresh id for aria-labelledby and label[for]. */
let seq = 0;
export function uid(prefix = 'id') {
  seq += 1;
  return `${prefix}-${seq}`;
}

/** Only http(s) links from data; anything else (javascript:, data:, …) is dropped. */
export function safeUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url, document.baseURI);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

// Icons: stroke paths on a 24×24 grid, drawn with CSSOM-free SVG elements.
const NS = 'http://www.w3.org/2000/svg';
const PATHS = {
  plus: 'M12 5v14M5 12h14',
  search: 'M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zM21 21l-4.35-4.35',
  settings: 'M4 21v-7M4 10V3M12 21v-9M12 8V3M20 21v-5M20 12V3M1 14h6M9 8h6M17 16h6',
  back: 'M19 12H5M12 19l-7-7 7-7',
  copy: 'M9 9h11v11H9zM5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1',
  external: 'M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6M15 3h6v6M10 14L21 3',
  bellOff:
    'M13.73 21a2 2 0 0 1-3.46 0M18.63 13A17.89 17.89 0 0 1 18 8M6.26 6.26A5.86 5.86 0 0 0 6 8c0 7-3 9-3 9h14M18 8a6 6 0 0 0-9.33-5M1 1l22 22',
  bell: 'M18 8A6 6 0 0 0 6 8c0 7-3 9-3 9h18s-3-2-3-9M13.73 21a2 2 0 0 1-3.46 0',
  archive: 'M21 8v13H3V8M1 3h22v5H1zM10 12h4',
  refresh: 'M23 4v6h-6M1 20v-6h6M3.51 9a9 9 0 0 1 14.85-3.36L23 10M1 14l4.64 4.36A9 9 0 0 0 20.49 15',
  trash: 'M3 6h18M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6m3 0V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2',
  edit: 'M17 3a2.83 2.83 0 1 1 4 4L7.5 20.5 2 22l1.5-5.5L17 3z',
  warning: 'M10.29 3.86L1.82 18a2 2 0 0 0 1.71 3h16.94a2 2 0 0 0 1.71-3L13.71 3.86a2 2 0 0 0-3.42 0zM12 9v4M12 17h.01',
  package:
    'M16.5 9.4l-9-5.19M21 16V8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16zM3.27 6.96L12 12.01l8.73-5.05M12 22.08V12',
  close: 'M18 6L6 18M6 6l12 12',
  check: 'M20 6L9 17l-5-5',
  filter: 'M22 3H2l8 9.46V19l4 2v-8.54L22 3z',
  download: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3',
  upload: 'M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M17 8l-5-5-5 5M12 3v12',
  pin: 'M21 10c0 7-9 13-9 13s-9-6-9-13a9 9 0 0 1 18 0zM12 13a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
};
const iconCache = new Map();

/** An aria-hidden SVG icon (decorative: give its button an aria-label or visible text). */
export function icon(name, cls) {
  let proto = iconCache.get(name);
  if (!proto) {
    proto = document.createElementNS(NS, 'svg');
    proto.setAttribute('viewBox', '0 0 24 24');
    proto.setAttribute('aria-hidden', 'true');
    proto.setAttribute('focusable', 'false');
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', PATHS[name] || '');
    proto.appendChild(p);
    iconCache.set(name, proto);
  }
  const svg = proto.cloneNode(true);
  svg.setAttribute('class', cls ? `icon ${cls}` : 'icon');
  return svg;
}
