// The dashboard's calls to the shop server: the staff's session cookie rides along, and
// every change carries the session's CSRF token. Problem details become errors with the
// server's own words.

let csrf = null;

/** The session's CSRF token, sent with every change. */
export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function failure(status, data) {
  const detail = data && (data.detail || data.title);
  return new ApiError(status, detail || `The server answered ${status}`, data);
}

/** A session that has ended sends the staff to sign in again, back here afterwards. */
function signIn() {
  location.assign(`/login#${encodeURIComponent(location.pathname + location.hash)}`);
}

/** `method` on `/api/v1/<path>` with a JSON body; resolves with the JSON answer. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const res = await fetch(`/api/v1/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && path !== 'session') signIn();
  if (!res.ok) throw failure(res.status, data);
  return data;
}

/**
 * Sends a file's bytes (an import) with its type; `onProgress(share)` follows the upload
 * (fetch cannot report it, XMLHttpRequest can).
 */
export function upload(path, file, type, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/${path}`);
    xhr.setRequestHeader('Content-Type', type);
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status === 401) signIn();
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(failure(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, 'The server could not be reached', null));
    xhr.send(file);
  });
}

/** A query string of the set values of `params`, in a stable order. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
