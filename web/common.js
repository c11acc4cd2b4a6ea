// Shared helpers for the Lingxi web pages (agent workspace, admin console, landing, demo).
// Security rule for this whole UI: untrusted strings only ever reach the DOM through textContent /
// attribute setters; never through innerHTML and friends. `h()` below is the one way to build DOM.

import { STRINGS } from '/i18n.js';

// ---------------------------------------------------------------- i18n

const LANG_KEY = 'lingxi:lang';
const langListeners = new Set();

function detectLang() {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'zh' || saved === 'en') return saved;
  } catch (_) { /* storage may be blocked */ }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return /^zh/i.test(nav) ? 'zh' : 'en';
}

let currentLang = detectLang();

export function lang() { return currentLang; }

export function setLang(next) {
  if (next !== 'zh' && next !== 'en') return;
  currentLang = next;
  try { localStorage.setItem(LANG_KEY, next); } catch (_) { /* ignore */ }
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  applyI18n(document);
  for (const fn of langListeners) fn(next);
}

export function onLangChange(fn) { langListeners.add(fn); }

/** Translate a key; `{name}` placeholders are filled from `vars`. Unknown keys come back as the key. */
export function t(key, vars) {
  const table = STRINGS[currentLang] || STRINGS.en;
  let s = table[key];
  if (s === undefined) s = STRINGS.en[key];
  if (s === undefined) return key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
  return s;
}

/** Fill elements carrying data-i18n (text), data-i18n-placeholder, data-i18n-title, data-i18n-aria-label. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  const titleEl = document.querySelector('title[data-i18n-doc]');
  if (titleEl) document.title = t(titleEl.dataset.i18nDoc);
}

/** Wire every [data-lang-toggle] button on the page. */
export function initLang() {
  document.documentElement.lang = currentLang === 'zh' ? 'zh-CN' : 'en';
  applyI18n(document);
  for (const btn of document.querySelectorAll('[data-lang-toggle]')) {
    btn.addEventListener('click', () => setLang(currentLang === 'zh' ? 'en' : 'zh'));
  }
}

// ---------------------------------------------------------------- DOM helpers

/**
 * Build an element. `attrs` keys: class, text, dataset (object), on<Event> (function), style (object or string),
 * any other key is set with setAttribute (values converted to strings). Children: nodes or strings (as text nodes).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (/^on/i.test(k)) { if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v); }
      else if (k === 'value') el.value = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) appendChildren(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

/** Escape a string for the rare case where HTML text is needed (e.g. a copyable snippet shown as text). */
export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function $(sel, root = document) { return root.querySelector(sel); }

// ---------------------------------------------------------------- time formatting

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const loc = currentLang === 'zh' ? 'zh-CN' : 'en-GB';
  if (sameDay) return d.toLocaleTimeString(loc, { hour: '2-digit', minute: '2-digit' });
  const yesterday = new Date(now); yesterday.setDate(now.getDate() - 1);
  if (d.toDateString() === yesterday.toDateString()) {
    return (currentLang === 'zh' ? '昨天 ' : 'Yesterday ') + d.toLocaleTimeString(loc, { hour: '2-digit', minute: '2-digit' });
  }
  return d.toLocaleDateString(loc, { month: 'short', day: 'numeric' });
}

export function formatDateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const loc = currentLang === 'zh' ? 'zh-CN' : 'en-GB';
  return d.toLocaleString(loc, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// ---------------------------------------------------------------- toasts

let toastHost = null;
export function toast(message, kind = 'info', ms = 3600) {
  if (!toastHost) {
    toastHost = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(toastHost);
  }
  const el = h('div', { class: `toast toast-${kind}` }, String(message));
  toastHost.appendChild(el);
  requestAnimationFrame(() => el.classList.add('show'));
  setTimeout(() => {
    el.classList.remove('show');
    setTimeout(() => el.remove(), 300);
  }, ms);
}

// ---------------------------------------------------------------- API

const TOKEN_KEY = 'lingxi:token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (_) { return null; }
}
export function setToken(tok) {
  try {
    if (tok) sessionStorage.setItem(TOKEN_KEY, tok); else sessionStorage.removeItem(TOKEN_KEY);
  } catch (_) { /* ignore */ }
}

export class ApiError extends Error {
  constructor(status, code, message, serverMessage) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_' + status;
    /** The server's own (English) message, when it sent one: it names the field or the reason. */
    this.serverMessage = serverMessage || '';
  }
  /** The most specific text: the server's message when it has one, else our translation. */
  get detail() { return this.serverMessage || this.message; }
}

let unauthorizedHandler = null;
/** Called (once per burst) when an authenticated call answers 401. */
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

/**
 * fetch wrapper: JSON in/out, bearer token, CSRF header, error body {"code","message"} → ApiError.
 * opts: { method, body, auth (default true), quiet (no toast on error), full (answer { status, data } instead of
 * the data alone: e.g. 201 created vs 200 already there) }
 */
export async function api(path, opts = {}) {
  const { method = 'GET', body, auth = true, quiet = false, full = false } = opts;
  const headers = { 'Accept': 'application/json', 'X-Lingxi-Csrf': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const tok = getToken();
  if (auth && tok) headers['Authorization'] = 'Bearer ' + tok;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (e) {
    const err = new ApiError(0, 'network_error', t('error.network'));
    if (!quiet) toast(err.message, 'error');
    throw err;
  }
  if (res.status === 204) return full ? { status: 204, data: null } : null;
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (!res.ok) {
    const err = errorOf(res.status, data);
    const msg = err.message;
    if (res.status === 401 && auth && unauthorizedHandler) {
      unauthorizedHandler(err);
    } else if (!quiet) {
      toast(msg, 'error');
    }
    throw err;
  }
  return full ? { status: res.status, data } : data;
}

// ---------------------------------------------------------------- WebSocket with backoff

/**
 * A reconnecting WebSocket. handlers: onOpen(ws), onFrame(obj), onPong(), onState('connecting'|'open'|'closed').
 * url: function returning the URL (re-evaluated on every attempt so a new token is picked up).
 */
export class LiveSocket {
  constructor(url, handlers) {
    this.url = url;
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.pingTimer = null;
  }
  start() { this.stopped = false; this.connect(); }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    if (this.ws) { try { this.ws.close(1000); } catch (_) { /* ignore */ } }
    this.ws = null;
  }
  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }
  connect() {
    if (this.stopped) return;
    this.h.onState && this.h.onState('connecting');
    let ws;
    try { ws = new WebSocket(this.url()); } catch (e) { this.schedule(); return; }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.h.onState && this.h.onState('open');
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ type: 'ping' }), 25000);
      this.h.onOpen && this.h.onOpen();
    };
    ws.onmessage = (ev) => {
      let obj;
      try { obj = JSON.parse(ev.data); } catch (_) { return; }
      if (!obj) return;
      if (obj.type === 'pong') { this.h.onPong && this.h.onPong(); return; }
      this.h.onFrame && this.h.onFrame(obj);
    };
    ws.onclose = () => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      this.h.onState && this.h.onState('closed');
      this.schedule();
    };
    ws.onerror = () => { /* onclose follows */ };
  }
  schedule() {
    if (this.stopped) return;
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt++;
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

/** The ApiError of a refused call from its status and error body {"code","message"} (or null). */
function errorOf(status, data) {
  const code = data && typeof data.code === 'string' ? data.code : undefined;
  // prefer our own translation of a known code; the server's English message is the fallback (for invalid_field
  // and bad_request it says which field, so it is kept as is)
  const known = code && code !== 'invalid_field' && code !== 'bad_request' && t('err.' + code) !== 'err.' + code;
  const serverMsg = data && typeof data.message === 'string' ? data.message : '';
  const msg = known ? t('err.' + code) : (serverMsg || `${t('error.generic')} (HTTP ${status})`);
  return new ApiError(status, code, msg, serverMsg);
}

/**
 * Downloads a file the API answers to a GET (an export): fetched with the page's session (bearer token or cookie,
 * CSRF header), then saved through a blob link, named as the server's Content-Disposition says (else `fallback`).
 * Answers the file name; a refusal throws an ApiError (the server's message), a 401 also signs the page out.
 */
export async function downloadFile(path, fallback) {
  const headers = { 'X-Lingxi-Csrf': '1' };
  const tok = getToken();
  if (tok) headers['Authorization'] = 'Bearer ' + tok;
  let res;
  try {
    res = await fetch(path, { headers, credentials: 'same-origin' });
  } catch (_) {
    throw new ApiError(0, 'network_error', t('error.network'));
  }
  if (!res.ok) {
    let data = null;
    try { data = JSON.parse(await res.text()); } catch (_) { data = null; }
    const err = errorOf(res.status, data);
    if (res.status === 401 && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  const blob = await res.blob();
  const name = dispositionName(res.headers.get('content-disposition')) || fallback;
  const a = h('a', { href: URL.createObjectURL(blob), download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  return name;
}

/**
 * The file name a Content-Disposition header gives: the UTF-8 one (RFC 5987 `filename*=UTF-8''…`) when there is one,
 * else the plain `filename="…"` (which the server writes as an ASCII fallback); '' when none.
 */
export function dispositionName(header) {
  const v = String(header || '');
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(v);
  if (star) {
    try { const n = decodeURIComponent(star[1].trim()); if (n) return n; } catch (_) { /* malformed: the plain name */ }
  }
  const m = /filename\s*=\s*"([^"]+)"/i.exec(v);
  return m ? m[1] : '';
}

/**
 * POSTs a file as the raw body (the attachment routes take it so, its type as Content-Type), with the page's
 * session and CSRF header. Answers the JSON reply; a refusal throws an ApiError whose `serverMessage` is the
 * server's own (e.g. why the type was refused), a 401 also signs the page out.
 */
export async function postFile(path, file, type) {
  const headers = { 'Accept': 'application/json', 'X-Lingxi-Csrf': '1', 'Content-Type': type || 'application/octet-stream' };
  const tok = getToken();
  if (tok) headers['Authorization'] = 'Bearer ' + tok;
  let res;
  try {
    res = await fetch(path, { method: 'POST', headers, body: file, credentials: 'same-origin' });
  } catch (_) {
    throw new ApiError(0, 'network_error', t('error.network'));
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    const err = errorOf(res.status, data);
    if (res.status === 401 && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  return data;
}

export function wsUrl(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}

// ---------------------------------------------------------------- auth / login screen

/**
 * Shared login flow for the agent and admin pages. Expects in the page:
 * #login-view (with form#login-form, inputs name=email,password,tenant, .form-error) and #app-view.
 * Resolves the current user via GET /api/v1/me (works with a stored token or with the session cookie), otherwise
 * shows the login form. Calls onReady(user) once signed in; returns a `logout()` function. With `resume: false` the
 * login form is shown at once, without asking GET /me (after a password reset: whoever was signed in in this browser
 * is not who is about to sign in).
 */
export function initAuth({ onReady, onLogout, resume = true }) {
  const loginView = $('#login-view');
  const appView = $('#app-view');
  const form = $('#login-form');
  const errBox = form.querySelector('.form-error');
  const submit = form.querySelector('button[type=submit]');
  let ready = false;

  function showLogin(message) {
    ready = false;
    // a dialog left open (e.g. 修改密码 when the session ended) must not cover the login form
    for (const d of document.querySelectorAll('dialog[open]')) d.close();
    appView.hidden = true;
    loginView.hidden = false;
    errBox.textContent = message || '';
    errBox.hidden = !message;
    const email = form.querySelector('input[name=email]');
    setTimeout(() => (email.value ? form.querySelector('input[name=password]') : email).focus(), 0);
  }

  function enter(user) {
    ready = true;
    loginView.hidden = true;
    appView.hidden = false;
    onReady(user);
  }

  onUnauthorized(() => {
    if (!ready) return;
    setToken(null);
    onLogout && onLogout();
    showLogin(t('session.expired'));
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const body = { email: String(fd.get('email') || '').trim(), password: String(fd.get('password') || '') };
    const tenant = String(fd.get('tenant') || '').trim();
    if (tenant) body.tenant = tenant;
    errBox.hidden = true;
    submit.disabled = true;
    const label = submit.textContent;
    submit.textContent = t('login.busy');
    try {
      const res = await api('/api/v1/auth/login', { method: 'POST', body, auth: false, quiet: true });
      setToken(res.token);
      form.querySelector('input[name=password]').value = '';
      let user = res.user;
      // the login answer has no `permissions` (what the pages show depends on them): GET /me has them
      if (!user || !user.tenant || !Array.isArray(user.permissions)) {
        try { user = await api('/api/v1/me', { quiet: true }); } catch (_) { /* keep res.user */ }
      }
      enter(user || res.user);
    } catch (e) {
      errBox.textContent = e.message || t('error.generic');
      errBox.hidden = false;
    } finally {
      submit.disabled = false;
      submit.textContent = label;
    }
  });

  async function logout() {
    try { await api('/api/v1/auth/logout', { method: 'POST', quiet: true }); } catch (_) { /* ignore */ }
    setToken(null);
    onLogout && onLogout();
    showLogin('');
  }

  if (!resume) {
    showLogin('');
    return { logout };
  }

  (async () => {
    try {
      const me = await api('/api/v1/me', { quiet: true, auth: true });
      enter(me);
    } catch (e) {
      if (e.status !== 401) setToken(getToken()); // keep the token on transient errors
      showLogin(e.status === 401 || e.status === 0 ? '' : e.message);
    }
  })();

  return { logout };
}

// ---------------------------------------------------------------- change password (agent + admin top bar)

/** Client-side floor for a new password; the server checks it too (and more: common passwords, the e-mail). */
export const PASSWORD_MIN = 8;

/**
 * The 修改密码 / Change password dialog behind `button` (the top bar's button next to sign-out). `getEmail()` gives the
 * signed-in user's e-mail (for the password manager's hidden username field). POST /api/v1/auth/password; on 204
 * the dialog closes with a toast (the server signed the user's other sessions out; this one stays). The server's
 * message (wrong current password, a rule the new one breaks, too many attempts) is shown in the dialog, as text.
 */
export function initPasswordChange(button, { getEmail } = {}) {
  if (!button) return;
  let dlg = null;
  let busy = false;
  const field = (id, key, testid, autocomplete, hintKey) => h('div', { class: 'field' },
    h('label', { for: id, dataset: { i18n: key }, text: t(key) }),
    h('input', {
      id, class: 'input', type: 'password', autocomplete, maxlength: 256, required: true, spellcheck: 'false',
      'data-testid': testid,
    }),
    hintKey ? h('span', { class: 'hint', dataset: { i18n: hintKey }, text: t(hintKey) }) : null);

  function build() {
    const err = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'password-error', hidden: true });
    const save = h('button', {
      class: 'btn btn-primary', type: 'submit', 'data-testid': 'password-save', dataset: { i18n: 'password.save' },
      text: t('password.save'),
    });
    const cancel = h('button', {
      class: 'btn', type: 'button', 'data-testid': 'password-cancel', dataset: { i18n: 'password.cancel' },
      text: t('password.cancel'), onclick: () => dlg.close(),
    });
    const form = h('form', { id: 'password-form', novalidate: true },
      h('h3', { id: 'password-title', dataset: { i18n: 'password.title' }, text: t('password.title') }),
      err,
      // lets password managers tie the new password to the account (never shown)
      h('input', { id: 'password-username', type: 'email', name: 'username', autocomplete: 'username', hidden: true, tabindex: -1 }),
      field('password-current', 'password.current', 'password-current', 'current-password'),
      field('password-new', 'password.new', 'password-new', 'new-password', 'password.new.hint'),
      field('password-confirm', 'password.confirm', 'password-confirm', 'new-password'),
      h('div', { class: 'dlg-actions' }, cancel, save));
    dlg = h('dialog', { id: 'password-dialog', class: 'dialog dialog-narrow', 'aria-labelledby': 'password-title' }, form);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
    // no password stays in the page once the dialog is gone
    dlg.addEventListener('close', () => { form.reset(); err.hidden = true; err.textContent = ''; });
    document.body.appendChild(dlg);
  }

  function fail(message, input) {
    if (!dlg.open) return; // closed meanwhile (Esc): nothing to say
    const err = $('[data-testid="password-error"]', dlg);
    err.textContent = message;
    err.hidden = false;
    if (input) { input.focus(); input.select(); }
  }

  async function submit() {
    if (busy) return;
    const cur = $('#password-current', dlg);
    const next = $('#password-new', dlg);
    const again = $('#password-confirm', dlg);
    $('[data-testid="password-error"]', dlg).hidden = true;
    if (!cur.value) return fail(t('password.need_current'), cur);
    if (next.value.length < PASSWORD_MIN) return fail(t('password.too_short', { n: PASSWORD_MIN }), next);
    if (next.value !== again.value) return fail(t('password.mismatch'), again);
    if (next.value === cur.value) return fail(t('password.same'), next);
    const save = $('[data-testid="password-save"]', dlg);
    busy = true;
    save.disabled = true;
    save.textContent = t('password.busy');
    try {
      await api('/api/v1/auth/password', {
        method: 'POST', quiet: true, body: { current_password: cur.value, new_password: next.value },
      });
      dlg.close();
      toast(t('password.changed'), 'success', 5000);
    } catch (e) {
      if (e.status === 401) { dlg.close(); return; } // the session is gone: the login form is shown
      // 400 invalid_field: the server's own message says what is wrong (kept as is); 429: too many attempts
      const wrongCurrent = /current password/i.test(e.detail);
      fail(e.message || e.detail || t('error.generic'), wrongCurrent ? cur : (e.status === 400 ? next : null));
    } finally {
      busy = false;
      save.disabled = false;
      save.textContent = t('password.save');
    }
  }

  button.addEventListener('click', () => {
    if (!dlg) build();
    if (dlg.open) return;
    $('#password-username', dlg).value = (getEmail && getEmail()) || '';
    dlg.showModal();
    $('#password-current', dlg).focus();
  });
}

export function roleLabel(role) { return t('role.' + role); }

export function initials(name) {
  const s = String(name || '').trim();
  if (!s) return '?';
  if (/[\u3400-\u9fff]/.test(s[0])) return s[0];
  const parts = s.split(/\s+/).filter(Boolean);
  return (parts[0][0] + (parts[1] ? parts[1][0] : '')).toUpperCase();
}

/** A stable pleasant hue from a string, for avatars. */
export function hueOf(str) {
  let x = 0;
  for (const ch of String(str || '')) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 360;
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
