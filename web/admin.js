// Lingxi admin console: tenant + embed snippet, users, knowledge base. Text from the server is rendered as text.
import { api, t, h, $, clear, initLang, onLangChange, initAuth, toast, formatDateTime, roleLabel, initials, hueOf, getToken } from '/common.js';

const SECTIONS = ['tenant', 'users', 'kb', 'audit'];
const state = {
  me: null, tenant: null, users: [], section: 'tenant',
  kb: [], kbTotal: 0, kbOffset: 0, kbFilters: {}, kbEditing: null, kbLastTest: null,
};

initLang();
const auth = initAuth({ onReady: start });
$('#logout').addEventListener('click', () => auth.logout());
onLangChange(() => { renderMe(); renderUsers(); renderKb(); renderTest(); });

for (const b of document.querySelectorAll('#admin-nav button')) b.addEventListener('click', () => setSection(b.dataset.section));
$('#copy-snippet').addEventListener('click', copySnippet);
$('#user-form').addEventListener('submit', addUser);
$('#kb-form').addEventListener('submit', saveKb);
$('#kb-search').addEventListener('submit', searchKb);
$('#audit-refresh').addEventListener('click', loadAudit);
$('#kb-new').addEventListener('click', () => { resetKbForm(); $('#kb-q').focus(); });
$('#kb-cancel').addEventListener('click', resetKbForm);
$('#kb-prev').addEventListener('click', () => { state.kbOffset = Math.max(0, state.kbOffset - PAGE); loadKb(); });
$('#kb-next').addEventListener('click', () => { state.kbOffset += PAGE; loadKb(); });
$('#kb-test-form').addEventListener('submit', testKb);
$('#kb-import-form').addEventListener('submit', importKb);
for (const b of document.querySelectorAll('[data-download]')) b.addEventListener('click', () => download(b.dataset.download, b.dataset.format));

async function start(user) {
  state.me = user;
  renderMe();
  const canAdmin = user && (user.role === 'owner' || user.role === 'admin');
  $('#forbidden').hidden = canAdmin;
  $('#admin-nav').hidden = !canAdmin;
  if (!canAdmin) {
    for (const id of SECTIONS) $('#sec-' + id).hidden = true;
    return;
  }
  const fromHash = location.hash.slice(1);
  setSection(SECTIONS.includes(fromHash) ? fromHash : 'tenant');
  await Promise.all([loadTenant(), loadUsers().then(loadAudit), loadKb()]);
}

function renderMe() {
  const u = state.me;
  if (!u) return;
  $('#me-name').textContent = u.name || u.email;
  $('#me-role').textContent = [roleLabel(u.role), u.tenant && u.tenant.name].filter(Boolean).join(' · ');
  const av = $('#me-avatar');
  av.textContent = initials(u.name || u.email);
  av.style.setProperty('--hue', hueOf(u.id || u.email));
}

function setSection(s) {
  state.section = s;
  history.replaceState(null, '', '#' + s);
  for (const b of document.querySelectorAll('#admin-nav button')) b.classList.toggle('active', b.dataset.section === s);
  for (const id of SECTIONS) $('#sec-' + id).hidden = id !== s;
  if (s === 'audit' && state.me) loadAudit();
}

function forbidden(e) {
  return e && (e.status === 403);
}

// ------------------------------------------------------------------ tenant

async function loadTenant() {
  try {
    state.tenant = await api('/api/v1/admin/tenant', { quiet: true });
  } catch (e) {
    if (e.status === 401) return;
    $('#tenant-name').textContent = forbidden(e) ? t('admin.forbidden') : e.message;
    return;
  }
  const tn = state.tenant;
  $('#tenant-name').textContent = tn.name || '';
  $('#tenant-slug').textContent = tn.slug || '';
  $('#tenant-key').textContent = tn.widget_key || '';
  $('#tenant-id').textContent = tn.id || '';
  $('#snippet').textContent = snippet();
}

function snippet() {
  const key = (state.tenant && state.tenant.widget_key) || 'YOUR_WIDGET_KEY';
  // shown with textContent, so no escaping is needed: this is the literal text to copy
  return `<script src="${location.origin}/widget.js" data-widget-key="${key}" async></script>`;
}

async function copySnippet() {
  const text = snippet();
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const ta = h('textarea', { style: { position: 'fixed', opacity: '0' } });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand('copy'); } catch (_) { /* ignore */ }
    ta.remove();
  }
  toast(t('admin.copied'), 'success', 1600);
}

// ------------------------------------------------------------------ audit log

async function loadAudit() {
  const body = $('#audit-body');
  let items = [];
  let error = '';
  try {
    const res = await api('/api/v1/admin/audit?limit=200', { quiet: true });
    items = res.items || [];
  } catch (e) {
    if (e.status === 401) return;
    error = e.message;
  }
  clear(body);
  if (!items.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '6', class: 'empty-row' }, error || t('admin.audit.empty'))));
    return;
  }
  const names = new Map(state.users.map((u) => [u.id, u.name || u.email]));
  for (const e of items) {
    const label = t('audit.' + e.action);
    const detail = e.detail && typeof e.detail === 'object' && Object.keys(e.detail).length ? JSON.stringify(e.detail) : '';
    body.appendChild(h('tr', null,
      h('td', { class: 'nowrap' }, formatDateTime(e.created_at)),
      h('td', null, h('span', { class: 'badge plain', title: e.action }, label === 'audit.' + e.action ? e.action : label)),
      h('td', null, (e.actor_user && names.get(e.actor_user)) || e.actor_user || '—'),
      h('td', { class: 'mono' }, e.actor_ip || '—'),
      h('td', { class: 'mono small' }, e.target || ''),
      h('td', { class: 'mono small' }, detail)));
  }
}

// ------------------------------------------------------------------ users

async function loadUsers() {
  try {
    const res = await api('/api/v1/admin/users', { quiet: true });
    state.users = res.items || [];
  } catch (e) {
    if (e.status === 401) return;
    state.users = [];
    state.usersError = forbidden(e) ? t('admin.forbidden') : e.message;
  }
  renderUsers();
}

function renderUsers() {
  const body = $('#users-body');
  clear(body);
  $('#users-count').textContent = state.users.length ? String(state.users.length) : '';
  if (!state.users.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '2', class: 'empty-row' }, state.usersError || t('admin.users.empty'))));
    return;
  }
  for (const u of state.users) {
    const av = h('span', { class: 'avatar' }, initials(u.name || u.email));
    av.style.setProperty('--hue', hueOf(u.id || u.email));
    body.appendChild(h('tr', { dataset: { id: u.id } },
      h('td', null, h('div', { class: 'cell-user' }, av, h('div', null, h('div', null, u.name || ''), h('div', { class: 'sub' }, u.email || '')))),
      h('td', null, h('span', { class: 'badge plain' }, roleLabel(u.role)))));
  }
}

async function addUser(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const fd = new FormData(form);
  const body = {
    email: String(fd.get('email') || '').trim(),
    name: String(fd.get('name') || '').trim(),
    password: String(fd.get('password') || ''),
    role: String(fd.get('role') || 'agent'),
  };
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    const u = await api('/api/v1/admin/users', { method: 'POST', body, quiet: true });
    form.reset();
    toast(t('admin.users.created', { name: u.name || body.name }), 'success');
    await loadUsers();
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------ knowledge base

const PAGE = 20;

function kbQuery() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state.kbFilters)) if (v) p.set(k, v);
  p.set('limit', String(PAGE));
  p.set('offset', String(state.kbOffset));
  return p.toString();
}

async function loadKb() {
  try {
    const res = await api('/api/v1/kb/entries?' + kbQuery(), { quiet: true });
    state.kb = res.items || [];
    state.kbTotal = res.total || 0;
    state.kbError = null;
  } catch (e) {
    if (e.status === 401) return;
    state.kb = [];
    state.kbTotal = 0;
    state.kbError = forbidden(e) ? t('admin.forbidden') : e.message;
  }
  renderKb();
}

function searchKb(ev) {
  ev.preventDefault();
  const fd = new FormData(ev.currentTarget);
  state.kbFilters = {
    q: String(fd.get('q') || '').trim(),
    category: String(fd.get('category') || '').trim(),
    tag: String(fd.get('tag') || '').trim(),
    enabled: String(fd.get('enabled') || ''),
  };
  state.kbOffset = 0;
  loadKb();
}

function statusBadge(e) {
  if (!e.enabled) return h('span', { class: 'badge badge-closed' }, t('admin.kb.disabled'));
  if (e.live) return null;
  const future = e.valid_from && new Date(e.valid_from) > new Date();
  return h('span', { class: 'badge badge-queued' }, t(future ? 'admin.kb.pending' : 'admin.kb.expired'));
}

function validity(e) {
  if (!e.valid_from && !e.valid_until) return null;
  return t('admin.kb.validity', {
    from: e.valid_from ? formatDateTime(e.valid_from) : '…',
    until: e.valid_until ? formatDateTime(e.valid_until) : '…',
  });
}

function renderKb() {
  const list = $('#kb-list');
  clear(list);
  const total = state.kbTotal || 0;
  $('#kb-count').textContent = total ? t('admin.kb.count', { n: total }) : '';
  $('#kb-range').textContent = total ? t('admin.kb.range', { from: state.kbOffset + 1, to: state.kbOffset + state.kb.length, n: total }) : '';
  $('#kb-prev').disabled = state.kbOffset === 0;
  $('#kb-next').disabled = state.kbOffset + state.kb.length >= total;
  if (!state.kb.length) {
    list.appendChild(h('div', { class: 'empty-row' }, state.kbError || t('admin.kb.empty')));
    return;
  }
  for (const e of state.kb) {
    const sims = e.similar_questions || [];
    const tags = e.tags || [];
    const when = [validity(e), t('admin.kb.updated', { at: formatDateTime(e.updated_at || e.created_at) })].filter(Boolean).join(' · ');
    list.appendChild(h('div', { class: 'kb-item' + (state.kbEditing === e.id ? ' editing' : ''), dataset: { id: e.id } },
      h('div', { class: 'main' },
        h('div', { class: 'q' },
          e.category ? h('span', { class: 'chip cat' }, e.category) : null,
          h('span', null, e.question),
          statusBadge(e)),
        h('div', { class: 'a' }, e.answer_text || ''),
        sims.length ? h('div', { class: 'sims' }, sims.slice(0, 8).map((q) => h('span', { class: 'chip' }, q)),
          sims.length > 8 ? h('span', { class: 'chip' }, `+${sims.length - 8}`) : null) : null,
        tags.length ? h('div', { class: 'tags' }, tags.map((tg) => h('span', { class: 'chip tag' }, '#' + tg))) : null,
        h('div', { class: 'muted small', style: { marginTop: '6px' } }, when)),
      h('div', { class: 'btns' },
        h('button', { class: 'btn btn-sm', type: 'button', onclick: () => editKb(e) }, t('admin.kb.edit')),
        h('button', { class: 'btn btn-sm', type: 'button', onclick: () => toggleKb(e) }, t(e.enabled ? 'admin.kb.disable' : 'admin.kb.enable')),
        h('button', { class: 'btn btn-sm btn-danger', type: 'button', onclick: () => deleteKb(e) }, t('admin.kb.delete')))));
  }
}

function splitList(text, re) {
  return String(text || '').split(re).map((s) => s.trim()).filter(Boolean);
}

/** `datetime-local` value (local time) ↔ RFC 3339 (UTC). */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function fromLocalInput(v) {
  return v ? new Date(v).toISOString() : null;
}

function entryBody(e) {
  return {
    question: e.question, similar_questions: e.similar_questions || [], answer: e.answer, category: e.category || '',
    tags: e.tags || [], enabled: e.enabled, valid_from: e.valid_from || null, valid_until: e.valid_until || null,
  };
}

function resetKbForm() {
  state.kbEditing = null;
  const form = $('#kb-form');
  form.reset();
  form.querySelector('.form-error').hidden = true;
  $('#kb-form-title').textContent = t('admin.kb.add');
  renderKb();
}

function editKb(e) {
  state.kbEditing = e.id;
  const form = $('#kb-form');
  form.querySelector('.form-error').hidden = true;
  $('#kb-form-title').textContent = t('admin.kb.editing');
  $('#kb-q').value = e.question;
  $('#kb-sim').value = (e.similar_questions || []).join('\n');
  $('#kb-a').value = e.answer;
  $('#kb-cat').value = e.category || '';
  $('#kb-tags').value = (e.tags || []).join(', ');
  $('#kb-from').value = toLocalInput(e.valid_from);
  $('#kb-until').value = toLocalInput(e.valid_until);
  $('#kb-enabled').checked = !!e.enabled;
  renderKb();
  $('#kb-q').focus();
}

async function saveKb(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const fd = new FormData(form);
  const body = {
    question: String(fd.get('question') || '').trim(),
    similar_questions: splitList(fd.get('similar'), /\n/),
    answer: String(fd.get('answer') || '').trim(),
    category: String(fd.get('category') || '').trim(),
    tags: splitList(fd.get('tags'), /[,，、;；\n]/),
    enabled: $('#kb-enabled').checked,
    valid_from: fromLocalInput(String(fd.get('valid_from') || '')),
    valid_until: fromLocalInput(String(fd.get('valid_until') || '')),
  };
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    if (state.kbEditing) {
      await api(`/api/v1/kb/entries/${encodeURIComponent(state.kbEditing)}`, { method: 'PUT', body, quiet: true });
      toast(t('admin.kb.saved'), 'success');
    } else {
      await api('/api/v1/kb/entries', { method: 'POST', body, quiet: true });
      toast(t('admin.kb.created'), 'success');
    }
    resetKbForm();
    await loadKb();
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function toggleKb(e) {
  try {
    await api(`/api/v1/kb/entries/${encodeURIComponent(e.id)}`, { method: 'PUT', body: { ...entryBody(e), enabled: !e.enabled } });
    toast(t(e.enabled ? 'admin.kb.disabled.done' : 'admin.kb.enabled.done'), 'success', 1600);
    await loadKb();
  } catch (_) { /* toast shown */ }
}

async function deleteKb(entry) {
  if (!window.confirm(t('admin.kb.delete.confirm', { q: entry.question }))) return;
  try {
    await api(`/api/v1/kb/entries/${encodeURIComponent(entry.id)}`, { method: 'DELETE' });
    toast(t('admin.kb.deleted'), 'success', 1600);
    if (state.kbEditing === entry.id) resetKbForm();
    await loadKb();
  } catch (_) { /* toast shown */ }
}

// "test the bot"

async function testKb(ev) {
  ev.preventDefault();
  const out = $('#kb-test-result');
  const text = $('#kb-test-text').value.trim();
  if (!text) return;
  clear(out);
  try {
    const r = await api('/api/v1/kb/test', { method: 'POST', body: { text }, quiet: true });
    state.kbLastTest = r;
    renderTest();
  } catch (e) {
    out.appendChild(h('div', { class: 'form-error' }, e.message));
  }
}

function renderTest() {
  const r = state.kbLastTest;
  const out = $('#kb-test-result');
  clear(out);
  if (!r) return;
  const kind = { answer: 'badge-assigned', suggest: 'badge-queued', admit: 'badge-closed' }[r.outcome] || 'plain';
  out.appendChild(h('div', null,
    h('span', { class: 'badge ' + kind }, t('admin.kb.outcome.' + r.outcome)),
    ' ',
    h('span', { class: 'muted small' }, t('admin.kb.test.model', { n: r.live_entries })),
    r.retraining ? h('span', { class: 'muted small' }, ' · ' + t('admin.kb.test.retraining')) : null));
  if (r.reply) out.appendChild(h('div', { class: 'reply' }, r.reply));
  if (!r.candidates.length) {
    out.appendChild(h('div', { class: 'muted small' }, t('admin.kb.test.none')));
    return;
  }
  out.appendChild(h('div', { class: 'muted small' }, t('admin.kb.test.candidates')));
  for (const c of r.candidates) {
    const pct = Math.round(c.confidence * 100);
    out.appendChild(h('div', { class: 'kb-cand' },
      h('span', null, c.question),
      h('span', { class: 'bar' }, h('i', { style: { width: pct + '%' } })),
      h('span', { class: 'pct' }, (c.confidence).toFixed(2))));
  }
}

// import / export

function authHeaders() {
  const headers = { 'X-Lingxi-Csrf': '1' };
  const tok = getToken();
  if (tok) headers['Authorization'] = 'Bearer ' + tok;
  return headers;
}

async function importKb(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const file = $('#kb-file').files[0];
  if (!file) return;
  const fd = new FormData();
  fd.append('mode', $('#kb-skip').checked ? 'skip_invalid' : 'all_or_nothing');
  fd.append('file', file, file.name);
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  const box = $('#kb-import-report');
  clear(box);
  try {
    const res = await fetch('/api/v1/kb/import', { method: 'POST', headers: authHeaders(), body: fd, credentials: 'same-origin' });
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const msg = (data && data.message) || `${t('error.generic')} (HTTP ${res.status})`;
      box.className = 'kb-report bad';
      box.appendChild(h('div', null, msg));
    } else {
      renderReport(data);
      if (data.applied) await loadKb();
    }
  } catch (_) {
    box.className = 'kb-report bad';
    box.appendChild(h('div', null, t('error.network')));
  } finally {
    box.hidden = false;
    btn.disabled = false;
  }
}

function renderReport(r) {
  const box = $('#kb-import-report');
  clear(box);
  box.className = 'kb-report' + (r.errors.length ? ' bad' : '');
  box.appendChild(h('div', null, r.applied
    ? t('admin.kb.io.done', { n: r.total_rows, created: r.created, updated: r.updated, unchanged: r.unchanged, skipped: r.skipped })
    : t('admin.kb.io.rejected', { bad: r.errors.length, n: r.total_rows })));
  if (r.errors.length) {
    box.appendChild(h('ul', null, r.errors.slice(0, 200).map((e) =>
      h('li', null, t('admin.kb.io.row', { row: e.row }) + (e.column ? ` (${e.column})` : '') + ': ' + e.message))));
  }
}

async function download(kind, format) {
  try {
    const res = await fetch(`/api/v1/kb/${kind}?format=${format}`, { headers: authHeaders(), credentials: 'same-origin' });
    if (!res.ok) throw new Error(String(res.status));
    const blob = await res.blob();
    const cd = res.headers.get('content-disposition') || '';
    const m = /filename="([^"]+)"/.exec(cd);
    const a = h('a', { href: URL.createObjectURL(blob), download: m ? m[1] : `kb.${format}` });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  } catch (_) {
    toast(t('error.generic'), 'error');
  }
}
