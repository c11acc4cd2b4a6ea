// Lingxi admin console: tenant + embed snippet, users, knowledge base. Text from the server is rendered as text.
import { api, t, h, $, clear, initLang, onLangChange, initAuth, toast, formatDateTime, roleLabel, initials, hueOf } from '/common.js';

const SECTIONS = ['tenant', 'users', 'kb'];
const state = { me: null, tenant: null, users: [], kb: [], section: 'tenant', kbFilter: '' };

initLang();
const auth = initAuth({ onReady: start });
$('#logout').addEventListener('click', () => auth.logout());
onLangChange(() => { renderMe(); renderUsers(); renderKb(); });

for (const b of document.querySelectorAll('#admin-nav button')) b.addEventListener('click', () => setSection(b.dataset.section));
$('#copy-snippet').addEventListener('click', copySnippet);
$('#user-form').addEventListener('submit', addUser);
$('#kb-form').addEventListener('submit', addKb);
$('#kb-filter').addEventListener('input', (e) => { state.kbFilter = e.target.value.trim().toLowerCase(); renderKb(); });

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
  await Promise.all([loadTenant(), loadUsers(), loadKb()]);
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

async function loadKb() {
  try {
    const res = await api('/api/v1/kb/entries', { quiet: true });
    state.kb = res.items || [];
    state.kbError = null;
  } catch (e) {
    if (e.status === 401) return;
    state.kb = [];
    state.kbError = forbidden(e) ? t('admin.forbidden') : e.message;
  }
  renderKb();
}

function renderKb() {
  const list = $('#kb-list');
  clear(list);
  const f = state.kbFilter;
  const items = state.kb.filter((e) => !f || [e.question, e.answer, e.category, ...(e.similar_questions || [])].join('\n').toLowerCase().includes(f));
  $('#kb-count').textContent = state.kb.length ? t('admin.kb.count', { n: state.kb.length }) : '';
  if (!items.length) {
    list.appendChild(h('div', { class: 'empty-row' }, state.kbError || t('admin.kb.empty')));
    return;
  }
  for (const e of items) {
    const sims = e.similar_questions || [];
    list.appendChild(h('div', { class: 'kb-item', dataset: { id: e.id } },
      h('div', { class: 'main' },
        h('div', { class: 'q' },
          e.category ? h('span', { class: 'chip cat' }, e.category) : null,
          h('span', null, e.question),
          e.enabled === false ? h('span', { class: 'badge badge-closed' }, t('admin.kb.disabled')) : null),
        h('div', { class: 'a' }, e.answer),
        sims.length ? h('div', { class: 'sims' }, sims.slice(0, 8).map((s) => h('span', { class: 'chip' }, s)),
          sims.length > 8 ? h('span', { class: 'chip' }, `+${sims.length - 8}`) : null) : null,
        h('div', { class: 'muted small', style: { marginTop: '6px' } }, formatDateTime(e.updated_at || e.created_at))),
      h('div', null, h('button', { class: 'btn btn-sm btn-danger', type: 'button', onclick: () => deleteKb(e) }, t('admin.kb.delete')))));
  }
}

async function addKb(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const fd = new FormData(form);
  const body = {
    question: String(fd.get('question') || '').trim(),
    similar_questions: String(fd.get('similar') || '').split('\n').map((s) => s.trim()).filter(Boolean),
    answer: String(fd.get('answer') || '').trim(),
  };
  const cat = String(fd.get('category') || '').trim();
  if (cat) body.category = cat;
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    await api('/api/v1/kb/entries', { method: 'POST', body, quiet: true });
    form.reset();
    toast(t('admin.kb.created'), 'success');
    await loadKb();
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function deleteKb(entry) {
  if (!window.confirm(t('admin.kb.delete.confirm', { q: entry.question }))) return;
  try {
    await api(`/api/v1/kb/entries/${encodeURIComponent(entry.id)}`, { method: 'DELETE' });
    toast(t('admin.kb.deleted'), 'success', 1600);
    state.kb = state.kb.filter((e) => e.id !== entry.id);
    renderKb();
  } catch (_) { /* toast shown */ }
}
