// The shop server's account pages: set a password through a one-time link (setup.html) and
// sign in (login.html), then on to the dashboard. Every text from the server is inserted as text.

const $ = (id) => document.getElementById(id);

async function api(method, path, body, csrf) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(`api/v1/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const detail = data && (data.detail || data.title);
    throw new Error(detail || `The server answered ${res.status}`);
  }
  return data;
}

function showError(message) {
  const el = $('form-error');
  el.textContent = message;
  el.hidden = !message;
}

function busy(form, on) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = on;
  button.setAttribute('aria-busy', on ? 'true' : 'false');
}

function setup() {
  const form = $('setup-form');
  // The token travels in the fragment, which browsers never send to a server or a referrer.
  const token = decodeURIComponent(location.hash.slice(1));
  if (!token) {
    showError('This page needs the link from your invitation: open it again from there.');
    form.querySelector('button').disabled = true;
    return;
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const password = $('password').value;
    if (password.length < 10) return showError('Use at least 10 characters.');
    if (password !== $('confirm').value) return showError('The two passwords differ.');
    showError('');
    busy(form, true);
    try {
      const done = await api('POST', 'setup', { token, password });
      history.replaceState(null, '', location.pathname);
      form.hidden = true;
      $('setup-lead').hidden = true;
      $('done-text').textContent = `Your password is set. Sign in as ${done.email} to ${done.shop.name}.`;
      $('setup-done').hidden = false;
    } catch (err) {
      showError(err.message);
    } finally {
      busy(form, false);
    }
  });
}

/** Where to go once signed in: the page that sent the staff here (a path of this server's
 * only), else the dashboard. */
function next() {
  let target = '';
  try {
    target = decodeURIComponent(location.hash.slice(1));
  } catch {
    /* not ours */
  }
  return /^\/(?![/\\])/.test(target) ? target : '/dashboard';
}

async function login() {
  const form = $('login-form');
  try {
    await api('GET', 'session');
    location.replace(next());
    return;
  } catch {
    // Not signed in: the form stays.
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('');
    busy(form, true);
    try {
      await api('POST', 'login', { email: $('email').value, password: $('password').value });
      location.assign(next());
    } catch (err) {
      showError(err.message);
      busy(form, false);
    }
  });
}

if ($('setup-form')) setup();
if ($('login-form')) login();
