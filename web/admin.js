// Lingxi admin console: tenant + embed snippet, users, routing (skill groups, agents, rules), ticket settings
// (admin-tickets.js: custom fields, SLA policies, business calendar, dispatch, webhook deliveries), knowledge base
// (entries with per-channel answers), the bot (settings: thresholds, handoffs, chit-chat; task flows in a JSON
// editor), multi-shop intake (marketplace exports through saved or shipped mappings, with live progress), audit log,
// roles (built-in ones read-only, the tenant's custom roles edited), API tokens (created, shown once, revoked),
// security settings (audit retention, the sites allowed to embed the widget) and the audit log's export.
// Each section is shown to those holding its permission (GET /me's `permissions`). Text from the server is rendered
// as text.
import { api, t, h, $, clear, initLang, onLangChange, initAuth, toast, formatDateTime, roleLabel, initials, hueOf, getToken, lang, initPasswordChange, downloadFile } from '/common.js';
import { initTicketSettings } from '/admin-tickets.js';

const SECTIONS = ['tenant', 'users', 'routing', 'tickets', 'kb', 'bot', 'intake', 'audit', 'roles', 'tokens'];
/** The permission each section needs (the server checks it again on every call). */
const SECTION_PERMISSION = {
  tenant: 'manage_settings', users: 'manage_users', routing: 'manage_routing', tickets: 'manage_tickets',
  kb: 'manage_kb', bot: 'manage_bot', intake: 'manage_tickets', audit: 'view_audit', roles: 'manage_users',
  tokens: 'manage_api_tokens',
};
/** Every permission in the server's order; the server's list (GET /admin/roles) replaces it once read. */
const ALL_PERMISSIONS = ['workspace', 'supervise_conversations', 'view_pii', 'import_orders', 'view_reports', 'manage_kb',
  'manage_bot', 'manage_routing', 'manage_tickets', 'manage_users', 'view_audit', 'manage_settings', 'manage_api_tokens',
  'manage_customer_data'];
/** The built-in roles' permissions, for a server that does not send `permissions` in GET /me. */
const ROLE_PERMISSIONS = {
  owner: ALL_PERMISSIONS, admin: ALL_PERMISSIONS,
  supervisor: ['workspace', 'supervise_conversations', 'view_pii', 'import_orders', 'view_reports'],
  agent: ['workspace'],
};
const state = {
  me: null, perms: new Set(), allowed: [], tenant: null, users: [], section: 'tenant',
  permissions: [], builtInRoles: [], customRoles: [], rolesError: null, rolesLoaded: false, roleEditing: null,
  tokens: [], tokensError: null, security: null,
  kb: [], kbTotal: 0, kbOffset: 0, kbFilters: {}, kbEditing: null, kbLastTest: null,
  groups: [], agents: [], rules: [], rulesDirty: false, groupEditing: null,
};

initLang();
const auth = initAuth({ onReady: start });
$('#logout').addEventListener('click', () => auth.logout());
initPasswordChange($('#change-password'), { getEmail: () => state.me && state.me.email });
onLangChange(() => {
  renderMe(); renderUsers(); renderKb(); renderTest(); renderResetLink();
  renderGroups(); renderGroupMembers(); renderRoutingAgents(); renderRules();
  $('#group-form-title').textContent = t(state.groupEditing ? 'admin.routing.group.edit' : 'admin.routing.group.new');
  renderRoles(); renderRolePerms(); renderTokens(); renderTokenPerms(); renderSecurityOrigins();
  $('#role-form-title').textContent = t(state.roleEditing ? 'admin.roles.edit' : 'admin.roles.new');
});

for (const b of document.querySelectorAll('#admin-nav button')) b.addEventListener('click', () => setSection(b.dataset.section));
$('#copy-snippet').addEventListener('click', copySnippet);
$('#user-form').addEventListener('submit', addUser);
$('#kb-form').addEventListener('submit', saveKb);
$('#group-form').addEventListener('submit', saveGroup);
$('#group-new').addEventListener('click', () => { resetGroupForm(); $('#g-name').focus(); });
$('#group-cancel').addEventListener('click', resetGroupForm);
$('#rule-add').addEventListener('click', addRule);
$('#rules-save').addEventListener('click', saveRules);
$('#rules-reset').addEventListener('click', resetRules);
window.addEventListener('beforeunload', (e) => { if (state.rulesDirty) { e.preventDefault(); e.returnValue = ''; } });
$('#kb-search').addEventListener('submit', searchKb);
$('#audit-refresh').addEventListener('click', loadAudit);
for (const b of document.querySelectorAll('[data-audit-export]')) b.addEventListener('click', () => exportAudit(b.dataset.auditExport, b));
$('#security-form').addEventListener('submit', saveSecurity);
$('#kb-new').addEventListener('click', () => { resetKbForm(); $('#kb-q').focus(); });
$('#kb-cancel').addEventListener('click', resetKbForm);
$('#kb-prev').addEventListener('click', () => { state.kbOffset = Math.max(0, state.kbOffset - PAGE); loadKb(); });
$('#kb-next').addEventListener('click', () => { state.kbOffset += PAGE; loadKb(); });
$('#kb-test-form').addEventListener('submit', testKb);
$('#kb-import-form').addEventListener('submit', importKb);
$('#role-form').addEventListener('submit', saveRole);
$('#role-new').addEventListener('click', () => { resetRoleForm(); $('#r-name').focus(); });
$('#role-cancel').addEventListener('click', resetRoleForm);
$('#token-form').addEventListener('submit', createToken);
$('#tokens-refresh').addEventListener('click', loadTokens);
$('#token-copy').addEventListener('click', copyToken);
$('#token-dismiss').addEventListener('click', hideCreatedToken);
const ticketSettings = initTicketSettings();
onLangChange(() => ticketSettings.render());
for (const b of document.querySelectorAll('[data-download]')) b.addEventListener('click', () => download(b.dataset.download, b.dataset.format));

/** What the signed-in user may do: GET /me's `permissions`, else (an older answer) their built-in role's. */
function permissionsOf(user) {
  if (user && Array.isArray(user.permissions)) return user.permissions;
  return (user && ROLE_PERMISSIONS[user.role]) || [];
}

function can(p) { return state.perms.has(p); }

async function start(user) {
  if (user && !Array.isArray(user.permissions)) {
    // the login answer has no permissions: GET /me has them
    try { user = { ...user, ...(await api('/api/v1/me', { quiet: true })) }; } catch (_) { /* fall back on the role */ }
  }
  state.me = user;
  renderMe();
  state.perms = new Set(permissionsOf(user));
  state.allowed = SECTIONS.filter((s) => can(SECTION_PERMISSION[s]));
  renderRolePerms(new Set());
  renderTokenPermsFresh();
  const any = state.allowed.length > 0;
  for (const b of document.querySelectorAll('#admin-nav button')) b.hidden = !state.allowed.includes(b.dataset.section);
  $('#forbidden').hidden = any;
  $('#admin-nav').hidden = !any;
  if (!any) {
    for (const id of SECTIONS) $('#sec-' + id).hidden = true;
    return;
  }
  const fromHash = location.hash.slice(1);
  setSection(state.allowed.includes(fromHash) ? fromHash : state.allowed[0]);
  // only what this user may read: no 403s
  const calls = [];
  if (can('manage_settings')) calls.push(loadTenant(), loadSecurity());
  const users = can('manage_users') ? Promise.all([loadUsers(), loadRoles()]) : Promise.resolve();
  calls.push(users.then(() => Promise.all([
    can('view_audit') ? loadAudit() : null,
    can('manage_routing') ? loadRouting() : null,
  ])));
  if (can('manage_kb')) calls.push(loadKb());
  await Promise.all(calls);
}

// A link or the address bar to another section (/admin#bot) switches to it without a reload.
window.addEventListener('hashchange', () => {
  const s = location.hash.slice(1);
  if (state.me && state.allowed.includes(s) && s !== state.section) setSection(s);
});

function renderMe() {
  const u = state.me;
  if (!u) return;
  $('#me-name').textContent = u.name || u.email;
  $('#me-role').textContent = [userRoleLabel(u), u.tenant && u.tenant.name].filter(Boolean).join(' · ');
  const av = $('#me-avatar');
  av.textContent = initials(u.name || u.email);
  av.style.setProperty('--hue', hueOf(u.id || u.email));
}

function setSection(s) {
  if (state.section === 'tokens' && s !== 'tokens') hideCreatedToken(); // the new token is shown once, here only
  state.section = s;
  history.replaceState(null, '', '#' + s);
  for (const b of document.querySelectorAll('#admin-nav button')) b.classList.toggle('active', b.dataset.section === s);
  for (const id of SECTIONS) $('#sec-' + id).hidden = id !== s;
  if (s === 'audit' && state.me) loadAudit();
  if (s === 'routing' && state.me) loadRouting();
  if (s === 'tickets' && state.me) ticketSettings.load();
  if (s === 'intake' && state.me) loadIntake();
  if (s === 'bot' && state.me) loadBot();
  if (s === 'roles' && state.me) loadRoles();
  if (s === 'tokens' && state.me) { loadTokens(); if (can('manage_users') && !state.rolesLoaded) loadRoles(); }
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

// ------------------------------------------------------------------ security settings (audit retention, widget origins)

async function loadSecurity() {
  const err = $('#security-form .form-error');
  try {
    state.security = await api('/api/v1/admin/security', { quiet: true });
    err.hidden = true;
  } catch (e) {
    if (e.status === 401) return;
    state.security = null;
    err.textContent = forbidden(e) ? t('admin.forbidden') : e.detail;
    err.hidden = false;
  }
  fillSecurity();
}

/** The form from what the server holds (its normalised origins, one per line). */
function fillSecurity() {
  const s = state.security;
  if (s) {
    $('#sec-retention').value = String(s.audit_retention_days);
    $('#sec-origins').value = (s.widget_origins || []).join('\n');
  }
  renderSecurityOrigins();
}

/** Under the text area: the origins saved (as the server normalised them), or that any site may embed the widget. */
function renderSecurityOrigins() {
  const box = $('#sec-origins-saved');
  clear(box);
  const s = state.security;
  box.hidden = !s;
  if (!s) return;
  const list = s.widget_origins || [];
  box.appendChild(h('span', null, t(list.length ? 'admin.security.origins.saved' : 'admin.security.origins.any')));
  for (const o of list) box.appendChild(h('span', { class: 'chip', 'data-testid': 'security-origin' }, o));
}

async function saveSecurity(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const fail = (msg, input) => { err.textContent = msg; err.hidden = false; if (input) input.focus(); };
  const days = Number($('#sec-retention').value.trim());
  if (!$('#sec-retention').value.trim() || !Number.isInteger(days) || days < 30 || days > 3650) {
    return fail(t('admin.security.retention.invalid'), $('#sec-retention'));
  }
  // one per line (commas are forgiven); the server checks and normalises each
  const body = { audit_retention_days: days, widget_origins: splitList($('#sec-origins').value, /[\n,，]/) };
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    state.security = await api('/api/v1/admin/security', { method: 'PUT', body, quiet: true });
    fillSecurity();
    toast(t('admin.security.saved'), 'success');
  } catch (e) {
    if (e.status === 401) return;
    // 400: the retention out of range, or an origin that is not scheme://host[:port] (the server names it)
    fail(e.detail);
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------ audit log

/** A local date as `YYYY-MM-DD` (the value of a date input). */
function dayValue(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The export's dates start as the last 30 days, as the server's default. */
function auditExportDefaults() {
  const today = new Date();
  if (!$('#audit-to').value) $('#audit-to').value = dayValue(today);
  if (!$('#audit-from').value) $('#audit-from').value = dayValue(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 30));
}
auditExportDefaults();

/** GET /admin/audit/export for the chosen days (local midnight to the midnight after `to`), saved as a file. */
async function exportAudit(format, btn) {
  const err = $('#audit-export .form-error');
  err.hidden = true;
  const from = $('#audit-from').value;
  const to = $('#audit-to').value;
  if (from && to && from > to) {
    err.textContent = t('admin.audit.export.range');
    err.hidden = false;
    return;
  }
  const q = new URLSearchParams({ format });
  if (from) q.set('from', new Date(from + 'T00:00:00').toISOString());
  if (to) {
    const end = new Date(to + 'T00:00:00');
    end.setDate(end.getDate() + 1);
    q.set('to', end.toISOString());
  }
  btn.disabled = true;
  try {
    const name = await downloadFile('/api/v1/admin/audit/export?' + q.toString(), `audit.${format}`);
    toast(t('admin.audit.export.done', { name }), 'success', 2400);
    loadAudit(); // the export is audited itself
  } catch (e) {
    if (e.status === 401) return;
    err.textContent = e.detail; // 400: a bad date
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

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

const ROLES = ['owner', 'admin', 'supervisor', 'agent'];

function renderUsers() {
  const body = $('#users-body');
  clear(body);
  $('#users-count').textContent = state.users.length ? String(state.users.length) : '';
  if (!state.users.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '4', class: 'empty-row' }, state.usersError || t('admin.users.empty'))));
    return;
  }
  for (const u of state.users) {
    const av = h('span', { class: 'avatar' }, initials(u.name || u.email));
    av.style.setProperty('--hue', hueOf(u.id || u.email));
    const err = h('div', { class: 'row-error', 'data-testid': 'user-error' });
    err.hidden = true;
    body.appendChild(h('tr', { dataset: { id: u.id, email: u.email || '' } },
      h('td', null, h('div', { class: 'cell-user' }, av, h('div', null, h('div', null, u.name || ''), h('div', { class: 'sub' }, u.email || '')))),
      h('td', null, roleSelect(u, err), err),
      h('td', { class: 'user-lock' }, lockCell(u)),
      h('td', { class: 'user-actions' }, resetCell(u))));
  }
}

/** Whether `u` is the signed-in user (by id, else by e-mail). */
function isMe(u) {
  const me = state.me || {};
  return (me.id && u.id === me.id) || (!!me.email && String(u.email || '').toLowerCase() === String(me.email).toLowerCase());
}

/** What a user of the list may do: their custom role's permissions, else their built-in role's (null: not known). */
function permissionsOfUser(u) {
  if (u.custom_role) {
    const r = state.customRoles.find((x) => x.id === u.custom_role);
    return r ? r.permissions || [] : null;
  }
  const b = state.builtInRoles.find((x) => x.role === u.role);
  return b ? b.permissions || [] : ROLE_PERMISSIONS[u.role] || null;
}

/**
 * Why the server would refuse a reset link for `u` (the key of the reason), else null: only an owner resets an
 * owner, nobody resets a user holding a permission they lack. The server decides; this only greys the button out.
 */
function resetRefusal(u) {
  const me = state.me || {};
  if (u.role === 'owner' && me.role !== 'owner') return 'admin.users.reset.owner_only';
  const theirs = permissionsOfUser(u);
  if (theirs && theirs.some((p) => !can(p))) return 'admin.users.reset.lacking';
  return null;
}

/** The 重置密码 / Reset password button of a row (none on one's own: 修改密码 is for that), with its refusal under it. */
function resetCell(u) {
  if (isMe(u)) return h('span', { class: 'muted small' }, '—');
  const btn = h('button', { class: 'btn btn-sm', type: 'button', 'data-testid': 'user-reset' }, t('admin.users.reset'));
  const err = h('div', { class: 'row-error', 'data-testid': 'user-reset-error', hidden: true });
  const why = resetRefusal(u);
  if (why) {
    btn.disabled = true;
    btn.title = t(why);
  }
  btn.addEventListener('click', async () => {
    if (!window.confirm(t('admin.users.reset.confirm', { name: u.name || u.email }))) return;
    err.hidden = true;
    btn.disabled = true;
    try {
      const r = await api(`/api/v1/admin/users/${encodeURIComponent(u.id)}/password-reset`, { method: 'POST', quiet: true });
      showResetLink(u, r);
      toast(t('admin.users.reset.issued'), 'success', 1800);
    } catch (e) {
      if (e.status === 401) return;
      // 403: an owner's, or permissions the admin lacks; 409: one's own; 404: the user is gone
      err.textContent = e.detail;
      err.hidden = false;
    } finally {
      btn.disabled = false;
    }
  });
  return h('div', null, btn, err);
}

/** The link just issued, for the dialog (shown once: emptied when the dialog closes). */
let resetShown = null;

function showResetLink(u, r) {
  const dlg = $('#reset-dialog');
  resetShown = { name: u.name || u.email, email: u.email || '', link: location.origin + r.path, expires: r.expires_at };
  renderResetLink();
  if (!dlg.open) dlg.showModal();
  const input = $('#reset-link');
  input.focus();
  input.select();
}

function renderResetLink() {
  if (!resetShown) return;
  $('#reset-for').textContent = t('admin.users.reset.for', { name: resetShown.name, email: resetShown.email });
  $('#reset-link').value = resetShown.link;
  $('#reset-expires').textContent = t('admin.users.reset.expires', { at: formatDateTime(resetShown.expires) });
}

/** Empties the dialog. Runs on the 完成 submit (before the dialog closes: the `close` event comes a task
 *  later) and again on `close`, which also covers Escape. */
function forgetResetLink() {
  resetShown = null;
  $('#reset-link').value = '';
  $('#reset-for').textContent = '';
  $('#reset-expires').textContent = '';
}
$('#reset-dialog form').addEventListener('submit', forgetResetLink);
$('#reset-dialog').addEventListener('close', forgetResetLink);
$('#reset-copy').addEventListener('click', async () => {
  const input = $('#reset-link');
  if (!input.value) return;
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (_) {
    input.select();
    try { document.execCommand('copy'); } catch (_) { /* ignore */ }
  }
  toast(t('admin.copied'), 'success', 1600);
});

/** The select value of a user's role: `custom:<id>` for a custom role, else the built-in role. */
function roleValue(u) {
  return u.custom_role ? 'custom:' + u.custom_role : u.role;
}

/** A user's role as shown: their custom role's name, else the built-in role's label. */
function userRoleLabel(u) {
  if (u.custom_role) {
    const r = state.customRoles.find((x) => x.id === u.custom_role);
    return r ? r.name : t('admin.users.role.custom');
  }
  return roleLabel(u.role);
}

/**
 * The role picker of one user: the built-in roles, then the tenant's custom roles (`custom:<id>`). Off for one's
 * own row, and for an owner's row unless the admin is an owner.
 */
function roleSelect(u, err) {
  const me = state.me || {};
  const iAmOwner = me.role === 'owner';
  const roles = ROLES.filter((r) => r !== 'owner' || iAmOwner || u.role === 'owner');
  if (!u.custom_role && !roles.includes(u.role)) roles.unshift(u.role); // a role this page does not know: still shown as it is
  const custom = state.customRoles.map((r) => ({ value: 'custom:' + r.id, label: r.name }));
  if (u.custom_role && !custom.some((c) => c.value === roleValue(u))) {
    custom.unshift({ value: roleValue(u), label: t('admin.users.role.custom') }); // not (yet) in the list read
  }
  const sel = h('select', {
    class: 'select role-select', 'data-testid': 'user-role', 'aria-label': t('admin.users.role'),
    dataset: { email: u.email || '', id: u.id },
  }, roles.map((r) => h('option', { value: r }, roleLabel(r))),
  custom.length ? h('optgroup', { label: t('admin.users.role.custom_group') },
    custom.map((c) => h('option', { value: c.value, dataset: { custom: '1' } }, c.label))) : null);
  const current = roleValue(u);
  sel.value = current;
  if (isMe(u)) {
    sel.disabled = true;
    sel.title = t('admin.users.role.self');
  } else if (u.role === 'owner' && !iAmOwner) {
    sel.disabled = true;
    sel.title = t('admin.users.role.owner_only');
  }
  sel.addEventListener('change', async () => {
    const v = sel.value;
    // a custom role is given on top of the agent role
    const body = v.startsWith('custom:') ? { role: 'agent', custom_role: v.slice('custom:'.length) } : { role: v };
    err.hidden = true;
    sel.disabled = true;
    try {
      await api(`/api/v1/admin/users/${encodeURIComponent(u.id)}/role`, { method: 'PUT', body, quiet: true });
      toast(t('admin.users.role.saved'), 'success', 1800);
      await loadUsers();
      renderGroupMembers();
      loadRouting();
    } catch (e) {
      sel.value = current;
      sel.disabled = false;
      if (e.status === 401) return;
      // 403: only an owner grants or takes away the owner role, or permissions the admin lacks; 409: one's own role
      err.textContent = e.detail;
      err.hidden = false;
    }
  });
  return sel;
}

/** "Locked until …" with an Unlock button, for a user whose login is locked after repeated failures. */
function lockCell(u) {
  if (!u.locked_until) return h('span', { class: 'muted small' }, '—');
  const btn = h('button', { class: 'btn btn-sm', type: 'button', 'data-testid': 'user-unlock' }, t('admin.users.unlock'));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      await api(`/api/v1/admin/users/${encodeURIComponent(u.id)}/unlock`, { method: 'POST', quiet: true });
      toast(t('admin.users.unlocked'), 'success', 1800);
      await loadUsers();
    } catch (e) {
      btn.disabled = false;
      if (e.status !== 401) toast(e.detail, 'error', 6000);
    }
  });
  return h('div', { class: 'lock-cell' },
    h('div', { class: 'lock-head' }, h('span', { class: 'badge badge-locked', 'data-testid': 'user-locked' }, t('admin.users.locked')), btn),
    h('div', { class: 'sub' }, t('admin.users.locked.until', { at: formatDateTime(u.locked_until) })));
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
    renderGroupMembers();
    loadRouting();
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------ roles: built-in (read-only) and custom

/** A permission's label in the current language: the server's (GET /admin/roles), else this page's own. */
function permLabel(name) {
  const p = state.permissions.find((x) => x.name === name);
  if (p) return (lang() === 'zh' ? p.label_zh : p.label_en) || name;
  const own = t('perm.' + name);
  return own === 'perm.' + name ? name : own;
}

/** The permission names in order: the server's list once read, else this page's. */
function permissionNames() {
  return state.permissions.length ? state.permissions.map((p) => p.name) : ALL_PERMISSIONS;
}

function permChips(perms, testid) {
  const set = new Set(perms || []);
  const names = permissionNames().filter((p) => set.has(p));
  for (const p of set) if (!names.includes(p)) names.push(p); // a permission this page does not know: still shown
  return h('div', { class: 'perm-chips', 'data-testid': testid || 'perm-chips' },
    names.map((p) => h('span', { class: 'chip perm' + (p === 'workspace' ? ' muted-perm' : ''), title: p, dataset: { perm: p } }, permLabel(p))));
}

async function loadRoles() {
  try {
    const r = await api('/api/v1/admin/roles', { quiet: true });
    state.permissions = r.permissions || [];
    state.builtInRoles = r.built_in || [];
    state.customRoles = r.custom || [];
    state.rolesError = null;
    state.rolesLoaded = true;
  } catch (e) {
    if (e.status === 401) return;
    state.rolesError = forbidden(e) ? t('admin.forbidden') : e.detail;
  }
  renderRoles();
  renderRolePerms();
  renderTokenPerms();
  renderTokens();
  renderUsers(); // the role selects offer the custom roles
  renderGroupMembers();
  renderMe();
}

/** How many users of the tenant hold the custom role (from the users list). */
function holders(role) {
  return state.users.filter((u) => u.custom_role === role.id).length;
}

function renderRoles() {
  const builtin = $('#roles-builtin');
  const custom = $('#roles-custom');
  clear(builtin);
  clear(custom);
  if (state.rolesError) {
    custom.appendChild(h('div', { class: 'empty-row' }, state.rolesError));
    return;
  }
  for (const b of state.builtInRoles) {
    builtin.appendChild(h('div', { class: 'group-item', dataset: { role: b.role } },
      h('div', { class: 'main' },
        h('div', { class: 'q' }, h('span', { class: 'gname' }, roleLabel(b.role)), h('span', { class: 'chip' }, t('admin.roles.builtin.badge'))),
        permChips(b.permissions, 'role-perm-chips'))));
  }
  if (!state.customRoles.length) {
    custom.appendChild(h('div', { class: 'empty-row' }, t('admin.roles.custom.empty')));
    return;
  }
  for (const r of state.customRoles) {
    const n = holders(r);
    custom.appendChild(h('div', {
      class: 'group-item role-item' + (state.roleEditing === r.id ? ' editing' : ''),
      dataset: { id: r.id, name: r.name }, 'data-testid': 'custom-role',
    },
    h('div', { class: 'main' },
      h('div', { class: 'q' }, h('span', { class: 'gname' }, r.name)),
      r.description ? h('div', { class: 'desc' }, r.description) : null,
      permChips(r.permissions, 'role-perm-chips'),
      state.users.length ? h('div', { class: 'muted small role-holders' }, t('admin.roles.holders', { n })) : null),
    h('div', { class: 'btns' },
      h('button', { class: 'btn btn-sm', type: 'button', 'data-testid': 'role-edit', onclick: () => editRole(r) }, t('admin.edit')),
      h('button', { class: 'btn btn-sm btn-danger', type: 'button', 'data-testid': 'role-delete', onclick: () => deleteRole(r) }, t('admin.delete')))));
  }
}

/** One checkbox per permission; the workspace is always given (checked, off). Keeps what is ticked. */
function renderRolePerms(selected) {
  const box = $('#r-perms');
  const keep = selected || new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  clear(box);
  for (const p of permissionNames()) {
    const cb = h('input', { type: 'checkbox', name: 'permissions', value: p });
    cb.checked = p === 'workspace' || keep.has(p);
    let title = null;
    if (p === 'workspace') {
      cb.disabled = true;
      title = t('admin.roles.workspace.always');
    } else if (!can(p)) {
      // the server refuses to grant what the admin lacks; still shown (a role being edited may hold it)
      cb.disabled = !cb.checked;
      title = t('admin.roles.perm.lacking');
    }
    box.appendChild(h('label', { class: 'check', title, dataset: { perm: p } },
      cb, h('span', null, permLabel(p)), h('span', { class: 'perm-name' }, p)));
  }
}

function resetRoleForm() {
  state.roleEditing = null;
  const form = $('#role-form');
  form.reset();
  form.querySelector('.form-error').hidden = true;
  $('#role-form-title').textContent = t('admin.roles.new');
  renderRolePerms(new Set());
  renderRoles();
}

function editRole(r) {
  state.roleEditing = r.id;
  const form = $('#role-form');
  form.querySelector('.form-error').hidden = true;
  $('#role-form-title').textContent = t('admin.roles.edit');
  $('#r-name').value = r.name;
  $('#r-desc').value = r.description || '';
  renderRolePerms(new Set(r.permissions || []));
  renderRoles();
  $('#r-name').focus();
}

async function saveRole(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const name = $('#r-name').value.trim();
  if (!name) {
    err.textContent = t('admin.roles.name.required');
    err.hidden = false;
    $('#r-name').focus();
    return;
  }
  const body = {
    name,
    description: $('#r-desc').value.trim(),
    permissions: [...$('#r-perms').querySelectorAll('input:checked')].map((i) => i.value),
  };
  // 400: the name; 403: permissions the admin lacks (named); 409: the name is taken
  await saveItem(form, '/api/v1/admin/roles', state.roleEditing, body, ['admin.roles.saved', 'admin.roles.created'], async () => {
    resetRoleForm();
    await loadRoles();
  });
}

async function deleteRole(r) {
  if (!window.confirm(t('admin.roles.delete.confirm', { name: r.name }))) return;
  try {
    await api(`/api/v1/admin/roles/${encodeURIComponent(r.id)}`, { method: 'DELETE', quiet: true });
    toast(t('admin.roles.deleted', { name: r.name }), 'success', 1800);
    if (state.roleEditing === r.id) resetRoleForm();
    await loadRoles();
  } catch (e) {
    // 409: users hold it
    if (e.status === 401) return;
    toast(e.status === 409 ? t('admin.roles.delete.held', { message: e.detail }) : e.detail, 'error', 6000);
  }
}

// ------------------------------------------------------------------ API tokens

async function loadTokens() {
  try {
    const r = await api('/api/v1/admin/api-tokens', { quiet: true });
    state.tokens = r.items || [];
    state.tokensError = null;
  } catch (e) {
    if (e.status === 401) return;
    state.tokens = [];
    state.tokensError = forbidden(e) ? t('admin.forbidden') : e.detail;
  }
  renderTokens();
}

function tokenState(tk) {
  if (tk.revoked_at) return 'revoked';
  if (tk.expires_at && new Date(tk.expires_at) <= new Date()) return 'expired';
  return 'live';
}

function renderTokens() {
  const body = $('#tokens-body');
  clear(body);
  if (!state.tokens.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '8', class: 'empty-row' }, state.tokensError || t('admin.tokens.empty'))));
    return;
  }
  for (const tk of state.tokens) {
    const st = tokenState(tk);
    let action = null;
    if (st !== 'revoked') {
      action = h('button', { class: 'btn btn-sm btn-danger', type: 'button', 'data-testid': 'token-revoke' }, t('admin.tokens.revoke'));
      action.addEventListener('click', () => revokeToken(tk, action));
    }
    body.appendChild(h('tr', { class: st === 'revoked' ? 'revoked' : '', dataset: { id: tk.id, name: tk.name, state: st }, 'data-testid': 'token-row' },
      h('td', null, tk.name),
      h('td', null, h('span', { class: 'key-chip mono', 'data-testid': 'token-prefix' }, tk.prefix + '…')),
      h('td', null, permChips(tk.permissions, 'token-perm-chips')),
      h('td', { class: 'nowrap' }, formatDateTime(tk.created_at)),
      h('td', { class: 'nowrap' }, tk.expires_at ? formatDateTime(tk.expires_at) : t('admin.tokens.never')),
      h('td', { class: 'nowrap' }, tk.last_used_at ? formatDateTime(tk.last_used_at) : t('admin.tokens.unused')),
      h('td', { class: 'nowrap' }, h('span', { class: 'badge badge-' + st, 'data-testid': 'token-state' }, t('admin.tokens.state.' + st))),
      h('td', null, action)));
  }
}

/** One checkbox per permission the admin holds (a token gets no more); keeps what is ticked, workspace at first. */
function renderTokenPerms() {
  const box = $('#tk-perms');
  const first = !box.querySelector('input');
  const keep = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  clear(box);
  for (const p of permissionNames().filter((x) => can(x))) {
    const cb = h('input', { type: 'checkbox', name: 'permissions', value: p });
    cb.checked = first ? p === 'workspace' : keep.has(p);
    box.appendChild(h('label', { class: 'check', dataset: { perm: p } }, cb, h('span', null, permLabel(p)), h('span', { class: 'perm-name' }, p)));
  }
}

async function createToken(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  hideCreatedToken(); // one token on show at a time
  const fail = (msg, input) => { err.textContent = msg; err.hidden = false; if (input) input.focus(); };
  const name = $('#tk-name').value.trim();
  if (!name) return fail(t('admin.tokens.name.required'), $('#tk-name'));
  const permissions = [...$('#tk-perms').querySelectorAll('input:checked')].map((i) => i.value);
  if (!permissions.length) return fail(t('admin.tokens.permissions.required'));
  const body = { name, permissions };
  const days = $('#tk-days').value.trim();
  if (days) {
    const n = Number(days);
    if (!Number.isInteger(n) || n < 1 || n > 3650) return fail(t('admin.tokens.days.invalid'), $('#tk-days'));
    body.expires_in_days = n;
  }
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    const r = await api('/api/v1/admin/api-tokens', { method: 'POST', body, quiet: true });
    form.reset();
    renderTokenPermsFresh();
    showCreatedToken(r.token);
    toast(t('admin.tokens.created.toast', { name: r.item && r.item.name }), 'success');
    await loadTokens();
  } catch (e) {
    if (e.status === 401) return;
    // 400: name, permissions or days; 403: permissions the admin lacks, or an API token creating tokens
    fail(e.detail);
  } finally {
    btn.disabled = false;
  }
}

function renderTokenPermsFresh() {
  clear($('#tk-perms'));
  renderTokenPerms();
}

function showCreatedToken(token) {
  $('#token-value').textContent = token;
  $('#token-created').hidden = false;
  $('#token-created').scrollIntoView({ block: 'nearest' });
}

/** The token is shown once: gone from the page when dismissed, when another is created, or the section is left. */
function hideCreatedToken() {
  $('#token-value').textContent = '';
  $('#token-created').hidden = true;
}

async function copyToken() {
  const text = $('#token-value').textContent;
  if (!text) return;
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const ta = h('textarea', { class: 'offscreen-copy' });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand('copy'); } catch (_) { /* ignore */ }
    ta.remove();
  }
  toast(t('admin.copied'), 'success', 1600);
}

async function revokeToken(tk, btn) {
  if (!window.confirm(t('admin.tokens.revoke.confirm', { name: tk.name }))) return;
  btn.disabled = true;
  try {
    await api(`/api/v1/admin/api-tokens/${encodeURIComponent(tk.id)}`, { method: 'DELETE', quiet: true });
    toast(t('admin.tokens.revoked', { name: tk.name }), 'success', 1800);
  } catch (e) {
    if (e.status === 401) return;
    btn.disabled = false;
    toast(e.detail, 'error', 6000); // 404: revoked already
  }
  await loadTokens();
}

// ------------------------------------------------------------------ knowledge base

const PAGE = 20;
/** The channels an entry may have its own answer for (`channel_answers`); the others use `answer`. */
const KB_CHANNELS = ['web', 'api'];

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

/** The channels with their own answer: { channel: answer }, empty ones left out. */
function channelAnswers(e) {
  return Object.fromEntries(Object.entries((e && e.channel_answers) || {}).filter(([, a]) => a && String(a).trim()));
}

function channelName(ch, short) {
  const key = `admin.kb.channel.${short ? 'short.' : ''}${ch}`;
  const name = t(key);
  return name === key ? ch : name;
}

function channelBadge(e) {
  const chs = Object.keys(channelAnswers(e));
  if (!chs.length) return null;
  return h('span', {
    class: 'badge badge-bot plain', 'data-testid': 'kb-channel-badge',
    title: t('admin.kb.channels.title', { list: chs.map((c) => channelName(c)).join(t('admin.kb.channels.sep')) }),
  }, chs.length === 1 ? '+' + channelName(chs[0], true) : t('admin.kb.channels.badge', { n: chs.length }));
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
          statusBadge(e),
          channelBadge(e)),
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
    channel_answers: channelAnswers(e),
  };
}

function resetKbForm() {
  state.kbEditing = null;
  const form = $('#kb-form');
  form.reset();
  form.querySelector('.form-error').hidden = true;
  $('#kb-channels').open = false;
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
  const variants = channelAnswers(e);
  for (const ch of KB_CHANNELS) $('#kb-ch-' + ch).value = variants[ch] || '';
  $('#kb-channels').open = KB_CHANNELS.some((ch) => variants[ch]);
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
  const channels = {};
  for (const ch of KB_CHANNELS) {
    const a = String(fd.get('channel_' + ch) || '').trim();
    if (a) channels[ch] = a;
  }
  const body = {
    question: String(fd.get('question') || '').trim(),
    similar_questions: splitList(fd.get('similar'), /\n/),
    answer: String(fd.get('answer') || '').trim(),
    category: String(fd.get('category') || '').trim(),
    tags: splitList(fd.get('tags'), /[,，、;；\n]/),
    enabled: $('#kb-enabled').checked,
    valid_from: fromLocalInput(String(fd.get('valid_from') || '')),
    valid_until: fromLocalInput(String(fd.get('valid_until') || '')),
    channel_answers: channels,
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
    await downloadFile(`/api/v1/kb/${kind}?format=${format}`, `kb.${format}`);
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error');
  }
}

// ------------------------------------------------------------------ routing: skill groups, agents, rules

const STRATEGIES = ['least_loaded', 'round_robin', 'skill_match'];
// Each condition field, the key its value goes in, and the kind of value.
const COND_FIELDS = {
  channel: { key: 'equals', kind: 'channel' },
  entry_page: { key: 'contains', kind: 'text' },
  language: { key: 'equals', kind: 'text' },
  visitor_tag: { key: 'has', kind: 'text' },
  vip: { key: 'equals', kind: 'bool' },
  category: { key: 'equals', kind: 'text' },
};

function userName(id) {
  const u = state.users.find((x) => x.id === id);
  if (u) return u.name || u.email;
  const a = state.agents.find((x) => x.user_id === id);
  return a ? a.name : id;
}

async function loadRouting() {
  const calls = [
    api('/api/v1/groups', { quiet: true }).then((r) => { state.groups = r.items || []; state.groupsError = null; })
      .catch((e) => { if (e.status !== 401) state.groupsError = e.detail; }),
    api('/api/v1/agents', { quiet: true }).then((r) => { state.agents = r.items || []; state.agentsError = null; })
      .catch((e) => { if (e.status !== 401) state.agentsError = e.detail; }),
  ];
  if (!state.rulesDirty) {
    calls.push(api('/api/v1/admin/routing-rules', { quiet: true })
      .then((r) => { state.rules = (r.items || []).map(ruleDraft); state.rulesError = null; })
      .catch((e) => { if (e.status !== 401) state.rulesError = e.detail; }));
  }
  if (!state.users.length && can('manage_users')) calls.push(loadUsers());
  await Promise.all(calls);
  renderGroups();
  renderGroupMembers();
  renderRoutingAgents();
  renderRules();
}

// ---- skill groups

function renderGroups() {
  const box = $('#groups-list');
  clear(box);
  if (!state.groups.length) {
    box.appendChild(h('div', { class: 'empty-row' }, state.groupsError || t('admin.routing.groups.empty')));
    return;
  }
  for (const g of state.groups) {
    const members = (g.members || []).map(userName);
    box.appendChild(h('div', { class: 'group-item' + (state.groupEditing === g.id ? ' editing' : ''), dataset: { id: g.id, name: g.name } },
      h('div', { class: 'main' },
        h('div', { class: 'q' },
          h('span', { class: 'gname' }, g.name),
          h('span', { class: 'chip cat' }, t('strategy.' + g.strategy)),
          g.sticky ? h('span', { class: 'chip' }, t('admin.routing.group.sticky.on')) : null),
        (g.skills || []).length ? h('div', { class: 'tags' }, g.skills.map((s) => h('span', { class: 'chip tag' }, s))) : null,
        h('div', { class: 'muted small members' },
          `${t('admin.routing.group.members')}: `, members.length ? members.join(lang() === 'zh' ? '、' : ', ') : t('admin.routing.group.members.none'))),
      h('div', { class: 'btns' },
        h('button', { class: 'btn btn-sm', type: 'button', onclick: () => editGroup(g) }, t('admin.edit')),
        h('button', { class: 'btn btn-sm btn-danger', type: 'button', onclick: () => deleteGroup(g) }, t('admin.delete')))));
  }
}

/** Member checkboxes from the users list, keeping what is ticked. */
function renderGroupMembers(selected) {
  const box = $('#g-members');
  const keep = selected || new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  clear(box);
  // without the users list (no manage_users), the agents list names the members
  const people = state.users.length ? state.users
    : state.agents.map((a) => ({ id: a.user_id, name: a.name, email: a.email || '', role: a.role }));
  if (!people.length) { box.appendChild(h('span', { class: 'muted small' }, state.usersError || t('admin.users.empty'))); return; }
  for (const u of people) {
    const cb = h('input', { type: 'checkbox', name: 'members', value: u.id });
    cb.checked = keep.has(u.id);
    box.appendChild(h('label', { class: 'check member', dataset: { id: u.id, email: u.email || '' } },
      cb, h('span', null, u.name || u.email), h('span', { class: 'muted small' }, u.role ? userRoleLabel(u) : '')));
  }
}

function resetGroupForm() {
  state.groupEditing = null;
  const form = $('#group-form');
  form.reset();
  form.querySelector('.form-error').hidden = true;
  $('#group-form-title').textContent = t('admin.routing.group.new');
  renderGroupMembers(new Set());
  renderGroups();
}

function editGroup(g) {
  state.groupEditing = g.id;
  const form = $('#group-form');
  form.querySelector('.form-error').hidden = true;
  $('#group-form-title').textContent = t('admin.routing.group.edit');
  $('#g-name').value = g.name;
  $('#g-strategy').value = STRATEGIES.includes(g.strategy) ? g.strategy : 'least_loaded';
  $('#g-skills').value = (g.skills || []).join(', ');
  $('#g-sticky').checked = !!g.sticky;
  renderGroupMembers(new Set(g.members || []));
  renderGroups();
  $('#g-name').focus();
}

async function saveGroup(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const body = {
    name: $('#g-name').value.trim(),
    strategy: $('#g-strategy').value,
    skills: splitList($('#g-skills').value, /[,，、;；\n]/),
    sticky: $('#g-sticky').checked,
    members: [...$('#g-members').querySelectorAll('input:checked')].map((i) => i.value),
  };
  await saveItem(form, '/api/v1/admin/groups', state.groupEditing, body, ['admin.routing.group.saved', 'admin.routing.group.created'], async () => {
    resetGroupForm();
    await loadRouting();
  });
}

/**
 * Saves a named item from its form: PUT `base/editing` when editing one, else POST `base`; the toast names it
 * (`keys`: [saved, created]); the server's refusal is shown in the form's `.form-error`; `done` runs after a save.
 */
async function saveItem(form, base, editing, body, keys, done) {
  const err = form.querySelector('.form-error');
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    const item = editing
      ? await api(`${base}/${encodeURIComponent(editing)}`, { method: 'PUT', body, quiet: true })
      : await api(base, { method: 'POST', body, quiet: true });
    toast(t(editing ? keys[0] : keys[1], { name: item.name }), 'success');
    await done();
  } catch (e) {
    if (e.status === 401) return;
    err.textContent = e.detail;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function deleteGroup(g) {
  if (!window.confirm(t('admin.routing.group.delete.confirm', { name: g.name }))) return;
  try {
    await api(`/api/v1/admin/groups/${encodeURIComponent(g.id)}`, { method: 'DELETE', quiet: true });
    toast(t('admin.routing.group.deleted', { name: g.name }), 'success', 1800);
    if (state.groupEditing === g.id) resetGroupForm();
    await loadRouting();
  } catch (e) {
    // e.g. 409: "the routing rule "…" sends conversations to this group"
    if (e.status !== 401) toast(e.detail, 'error', 6000);
  }
}

// ---- agents: capacity and skills

function renderRoutingAgents() {
  const body = $('#routing-agents-body');
  clear(body);
  if (!state.agents.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '6', class: 'empty-row' }, state.agentsError || t('admin.routing.agents.empty'))));
    return;
  }
  for (const a of state.agents) {
    const cap = h('input', { class: 'input cap', type: 'number', min: '1', max: '100', step: '1', value: String(a.capacity), 'aria-label': t('admin.routing.agent.capacity') });
    const skills = h('input', { class: 'input skills', value: (a.skills || []).join(', '), placeholder: t('admin.routing.agent.skills.ph'), 'aria-label': t('admin.routing.agent.skills') });
    const err = h('div', { class: 'row-error' });
    err.hidden = true;
    const save = h('button', { class: 'btn btn-sm', type: 'button' }, t('admin.save'));
    const av = h('span', { class: 'avatar' }, initials(a.name));
    av.style.setProperty('--hue', hueOf(a.user_id));
    save.addEventListener('click', async () => {
      err.hidden = true;
      save.disabled = true;
      try {
        const p = await api(`/api/v1/admin/agents/${encodeURIComponent(a.user_id)}`, {
          method: 'PUT', quiet: true,
          body: { capacity: Number(cap.value), skills: splitList(skills.value, /[,，、;；\n]/) },
        });
        Object.assign(a, p);
        toast(t('admin.routing.agent.saved', { name: p.name }), 'success', 1800);
        renderRoutingAgents();
      } catch (e) {
        if (e.status === 401) return;
        err.textContent = e.detail;
        err.hidden = false;
      } finally {
        save.disabled = false;
      }
    });
    const status = h('span', { class: 'badge st-' + a.status + (a.connected ? ' connected' : '') }, t('agent.status.' + a.status));
    body.appendChild(h('tr', { dataset: { id: a.user_id, name: a.name } },
      h('td', null, h('div', { class: 'cell-user' }, av, h('div', null, h('div', null, a.name), h('div', { class: 'sub' }, roleLabel(a.role))))),
      h('td', null, status, h('div', { class: 'sub' }, t(a.connected ? 'agent.status.connected' : 'agent.status.disconnected'))),
      h('td', { class: 'nowrap load' }, `${a.load}/${a.capacity}`),
      h('td', null, cap),
      h('td', null, skills, err),
      h('td', null, save)));
  }
}

// ---- routing rules (edited as drafts; saving replaces the whole ordered list)

function ruleDraft(r) {
  return {
    id: r.id || null,
    name: r.name || '',
    enabled: r.enabled !== false,
    group_id: r.group_id || '',
    priority: r.priority == null ? 0 : r.priority,
    conditions: (r.conditions || []).map((c) => {
      const f = COND_FIELDS[c.field] || COND_FIELDS.language;
      const v = c[f.key];
      return { field: c.field, value: typeof v === 'boolean' ? String(v) : (v == null ? '' : String(v)) };
    }),
  };
}

function ruleWire(d) {
  const out = {
    name: d.name.trim(),
    conditions: d.conditions.map((c) => {
      const f = COND_FIELDS[c.field];
      let v = c.value;
      if (f.kind === 'bool') v = v === 'true';
      else v = String(v).trim();
      return { field: c.field, [f.key]: v };
    }),
    group_id: d.group_id || null,
    priority: d.priority === '' ? 0 : Number(d.priority),
    enabled: !!d.enabled,
  };
  if (d.id) out.id = d.id;
  return out;
}

function markRulesDirty(on = true) {
  state.rulesDirty = on;
  $('#rules-dirty').hidden = !on;
}

function renderRules() {
  const box = $('#rules-list');
  clear(box);
  $('#rules-dirty').hidden = !state.rulesDirty;
  if (state.rulesError) { const e = $('#rules-error'); e.textContent = state.rulesError; e.hidden = false; }
  if (!state.rules.length) {
    box.appendChild(h('div', { class: 'empty-row' }, t('admin.routing.rules.empty')));
    return;
  }
  state.rules.forEach((d, i) => box.appendChild(ruleCard(d, i)));
}

function ruleCard(d, i) {
  const n = state.rules.length;
  const name = h('input', { class: 'input r-name', maxlength: '80', value: d.name, placeholder: t('admin.routing.rule.name'), 'aria-label': t('admin.routing.rule.name') });
  name.addEventListener('input', () => { d.name = name.value; markRulesDirty(); });
  const enabled = h('input', { type: 'checkbox', class: 'r-enabled' });
  enabled.checked = d.enabled;
  enabled.addEventListener('change', () => { d.enabled = enabled.checked; markRulesDirty(); card.classList.toggle('disabled', !d.enabled); });
  const group = h('select', { class: 'select r-group', 'aria-label': t('admin.routing.rule.group') },
    h('option', { value: '' }, t('admin.routing.rule.any')),
    state.groups.map((g) => h('option', { value: g.id }, g.name)));
  group.value = state.groups.some((g) => g.id === d.group_id) ? d.group_id : '';
  group.addEventListener('change', () => { d.group_id = group.value; markRulesDirty(); });
  const prio = h('input', { class: 'input r-priority', type: 'number', min: '0', max: '99', step: '1', value: String(d.priority), 'aria-label': t('admin.routing.rule.priority') });
  prio.addEventListener('input', () => { d.priority = prio.value; markRulesDirty(); });
  const move = (delta) => {
    const j = i + delta;
    if (j < 0 || j >= state.rules.length) return;
    [state.rules[i], state.rules[j]] = [state.rules[j], state.rules[i]];
    markRulesDirty();
    renderRules();
  };
  const conds = h('div', { class: 'r-conds' });
  if (!d.conditions.length) conds.appendChild(h('div', { class: 'muted small' }, t('admin.routing.rule.no_conditions')));
  d.conditions.forEach((c, ci) => conds.appendChild(condRow(d, c, ci)));
  const card = h('div', { class: 'rule-card' + (d.enabled ? '' : ' disabled'), dataset: { index: String(i) } },
    h('div', { class: 'r-top' },
      h('span', { class: 'r-num' }, String(i + 1)),
      name,
      h('label', { class: 'check' }, enabled, h('span', null, t('admin.routing.rule.enabled'))),
      h('div', { class: 'r-btns' },
        h('button', { class: 'btn btn-sm r-up', type: 'button', title: t('admin.routing.rule.up'), 'aria-label': t('admin.routing.rule.up'), disabled: i === 0, onclick: () => move(-1) }, '↑'),
        h('button', { class: 'btn btn-sm r-down', type: 'button', title: t('admin.routing.rule.down'), 'aria-label': t('admin.routing.rule.down'), disabled: i === n - 1, onclick: () => move(1) }, '↓'),
        h('button', {
          class: 'btn btn-sm btn-danger r-remove', type: 'button', title: t('admin.routing.rule.remove'), 'aria-label': t('admin.routing.rule.remove'),
          onclick: () => { state.rules.splice(i, 1); markRulesDirty(); renderRules(); },
        }, '✕'))),
    h('div', { class: 'r-mid' },
      h('label', { class: 'r-field' }, h('span', null, t('admin.routing.rule.group')), group),
      h('label', { class: 'r-field r-prio' }, h('span', null, t('admin.routing.rule.priority')), prio)),
    h('div', { class: 'r-cond-head' },
      h('span', null, t('admin.routing.rule.conditions')),
      h('button', {
        class: 'btn btn-sm r-add-cond', type: 'button',
        onclick: () => { d.conditions.push({ field: 'entry_page', value: '' }); markRulesDirty(); renderRules(); focusLastCond(i); },
      }, '+ ' + t('admin.routing.rule.add_cond'))),
    conds);
  return card;
}

function focusLastCond(i) {
  const card = $(`#rules-list .rule-card[data-index="${i}"]`);
  const vals = card ? card.querySelectorAll('.c-value') : [];
  if (vals.length) vals[vals.length - 1].focus();
}

function condRow(d, c, ci) {
  const field = h('select', { class: 'select c-field', 'aria-label': t('admin.routing.rule.conditions') },
    Object.keys(COND_FIELDS).map((f) => h('option', { value: f }, t('admin.routing.cond.' + f))));
  field.value = c.field in COND_FIELDS ? c.field : 'entry_page';
  field.addEventListener('change', () => {
    const kind = COND_FIELDS[field.value].kind;
    c.field = field.value;
    c.value = kind === 'bool' ? 'true' : kind === 'channel' ? 'web' : '';
    markRulesDirty();
    renderRules();
  });
  const f = COND_FIELDS[field.value];
  let value;
  if (f.kind === 'bool') {
    value = h('select', { class: 'select c-value' }, h('option', { value: 'true' }, t('admin.routing.yes')), h('option', { value: 'false' }, t('admin.routing.no')));
    value.value = c.value === 'false' ? 'false' : 'true';
    c.value = value.value;
  } else if (f.kind === 'channel') {
    value = h('select', { class: 'select c-value' }, h('option', { value: 'web' }, t('agent.channel.web')), h('option', { value: 'api' }, t('agent.channel.api')));
    value.value = c.value === 'api' ? 'api' : 'web';
    c.value = value.value;
  } else {
    value = h('input', { class: 'input c-value', maxlength: '200', value: c.value, placeholder: t('admin.routing.ph.' + field.value) });
    if (field.value === 'language') value.setAttribute('list', 'lang-codes');
  }
  value.addEventListener(value.tagName === 'SELECT' ? 'change' : 'input', () => { c.value = value.value; markRulesDirty(); });
  return h('div', { class: 'cond', dataset: { field: field.value } },
    field,
    h('span', { class: 'op muted small' }, t('admin.routing.op.' + f.key)),
    value,
    h('button', {
      class: 'btn btn-sm btn-ghost c-remove', type: 'button', title: t('admin.routing.cond.remove'), 'aria-label': t('admin.routing.cond.remove'),
      onclick: () => { d.conditions.splice(ci, 1); markRulesDirty(); renderRules(); },
    }, '✕'));
}

function addRule() {
  state.rules.push({ id: null, name: t('admin.routing.rule.new_name'), enabled: true, group_id: '', priority: 0, conditions: [] });
  markRulesDirty();
  renderRules();
  const cards = document.querySelectorAll('#rules-list .rule-card');
  const last = cards[cards.length - 1];
  if (last) { const inp = last.querySelector('.r-name'); inp.focus(); inp.select(); }
}

async function saveRules() {
  const err = $('#rules-error');
  err.hidden = true;
  const btn = $('#rules-save');
  btn.disabled = true;
  try {
    const res = await api('/api/v1/admin/routing-rules', { method: 'PUT', body: { items: state.rules.map(ruleWire) }, quiet: true });
    state.rules = (res.items || []).map(ruleDraft);
    state.rulesError = null;
    markRulesDirty(false);
    renderRules();
    toast(t('admin.routing.rules.saved', { n: state.rules.length }), 'success');
  } catch (e) {
    if (e.status === 401) return;
    // the server names the rule and the problem, e.g. 'rule "VIP": priority must be 0 to 99'
    err.textContent = e.detail;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function resetRules() {
  markRulesDirty(false);
  $('#rules-error').hidden = true;
  await loadRouting();
}

// ------------------------------------------------------------------ the bot: settings (thresholds, handoffs, chit-chat) and task flows
// GET/PUT /api/v1/admin/bot; GET/POST /api/v1/admin/flows, PUT/DELETE /api/v1/admin/flows/{id}. The server checks
// everything on save and names the field in its 400 message, which is shown as is.

const bot = {
  settings: null, settingsError: null, chitchat: [], dirty: false,
  flows: [], flowsError: null,
  editing: null, // the flow in the editor (its id), or null for a new one
};

$('#bot-form').addEventListener('submit', saveBot);
$('#bot-form').addEventListener('input', () => markBotDirty());
$('#bot-form').addEventListener('change', () => markBotDirty());
$('#bot-reset').addEventListener('click', () => { if (bot.settings) fillBotForm(bot.settings); $('#bot-error').hidden = true; });
$('#bot-cc-add').addEventListener('click', () => {
  bot.chitchat.push({ name: '', patterns: '', reply_zh: '', reply_en: '' });
  markBotDirty();
  renderChitchat();
  const names = document.querySelectorAll('#bot-chitchat .cc-name');
  if (names.length) names[names.length - 1].focus();
});
$('#flow-form').addEventListener('submit', saveFlow);
$('#flow-new').addEventListener('click', () => { fillFlowForm(null); $('#flow-json').focus(); });
$('#flow-cancel').addEventListener('click', () => fillFlowForm(null));
window.addEventListener('beforeunload', (e) => { if (bot.dirty) { e.preventDefault(); e.returnValue = ''; } });
onLangChange(() => { renderChitchat(); renderFlows(); $('#flow-form-title').textContent = t(bot.editing ? 'admin.flows.edit' : 'admin.flows.new'); });

async function loadBot() {
  await Promise.all([
    api('/api/v1/admin/bot', { quiet: true })
      .then((r) => { bot.settingsError = null; if (!bot.dirty) fillBotForm(r); else bot.settings = r; })
      .catch((e) => {
        if (e.status === 401) return;
        bot.settingsError = forbidden(e) ? t('admin.forbidden') : e.detail;
        const err = $('#bot-error'); err.textContent = bot.settingsError; err.hidden = false;
      }),
    loadFlows(),
  ]);
  if (!$('#flow-json').value.trim()) fillFlowForm(null);
  $('#sec-bot').dataset.loaded = '1';
}

async function loadFlows() {
  try {
    const r = await api('/api/v1/admin/flows', { quiet: true });
    bot.flows = r.items || [];
    bot.flowsError = null;
  } catch (e) {
    if (e.status === 401) return;
    bot.flowsError = forbidden(e) ? t('admin.forbidden') : e.detail;
  }
  renderFlows();
}

function markBotDirty(on = true) {
  bot.dirty = on;
  $('#bot-dirty').hidden = !on;
}

const listText = (xs) => (Array.isArray(xs) ? xs.join('\n') : '');
const listOf = (text) => splitList(text, /[,，、;；\n]+/);

/** The settings as the server sent them, in the form (lists one per line; chit-chat rules as editable rows). */
function fillBotForm(s) {
  bot.settings = s || {};
  const v = (x) => (x === null || x === undefined ? '' : String(x));
  // thresholds may arrive as 0.4099999964 (single precision on the server): show them as typed
  const f = (x) => (typeof x === 'number' && Number.isFinite(x) ? String(Number(x.toFixed(4))) : v(x));
  $('#bot-answer').value = f(bot.settings.answer_threshold);
  $('#bot-suggest').value = f(bot.settings.suggest_threshold);
  $('#bot-failures').value = v(bot.settings.max_failures);
  $('#bot-emotion-threshold').value = f(bot.settings.emotion_threshold);
  $('#bot-takeback').value = v(bot.settings.queue_takeback_secs);
  $('#bot-emotion').checked = !!bot.settings.emotion_handoff;
  $('#bot-vip').checked = !!bot.settings.vip_handoff;
  $('#bot-vip-tags').value = listText(bot.settings.vip_tags);
  $('#bot-keywords').value = listText(bot.settings.handoff_keywords);
  $('#bot-categories').value = listText(bot.settings.handoff_categories);
  bot.chitchat = (Array.isArray(bot.settings.chitchat) ? bot.settings.chitchat : []).map((c) => ({
    name: c.name || '', patterns: listText(c.patterns), reply_zh: c.reply_zh || '', reply_en: c.reply_en || '',
  }));
  renderChitchat();
  markBotDirty(false);
}

/** What PUT /admin/bot gets: the loaded settings (fields this page does not know are kept) with the form's values. */
function botBody() {
  const num = (sel) => { const x = $(sel).value.trim(); return x === '' ? null : Number(x); };
  return {
    ...(bot.settings || {}),
    answer_threshold: num('#bot-answer'),
    suggest_threshold: num('#bot-suggest'),
    max_failures: num('#bot-failures'),
    emotion_handoff: $('#bot-emotion').checked,
    emotion_threshold: num('#bot-emotion-threshold'),
    queue_takeback_secs: num('#bot-takeback') ?? 0,
    vip_handoff: $('#bot-vip').checked,
    vip_tags: listOf($('#bot-vip-tags').value),
    handoff_keywords: listOf($('#bot-keywords').value),
    handoff_categories: listOf($('#bot-categories').value),
    chitchat: bot.chitchat.map((c) => ({
      name: c.name.trim(),
      patterns: splitList(c.patterns, /\n+/),
      reply_zh: c.reply_zh.trim(),
      reply_en: c.reply_en.trim(),
    })),
  };
}

async function saveBot(ev) {
  ev.preventDefault();
  const err = $('#bot-error');
  err.hidden = true;
  const btn = $('#bot-save');
  btn.disabled = true;
  try {
    const saved = await api('/api/v1/admin/bot', { method: 'PUT', body: botBody(), quiet: true });
    fillBotForm(saved);
    toast(t('admin.bot.saved'), 'success');
  } catch (e) {
    if (e.status === 401) return;
    // 400 invalid: the server names the field, e.g. "suggest_threshold must not be above answer_threshold"
    err.textContent = e.detail;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

function renderChitchat() {
  const box = $('#bot-chitchat');
  clear(box);
  if (!bot.chitchat.length) { box.appendChild(h('div', { class: 'muted small' }, t('admin.bot.chitchat.empty'))); return; }
  bot.chitchat.forEach((c, i) => {
    const field = (key, labelKey, el) => {
      el.value = c[key];
      el.addEventListener('input', () => { c[key] = el.value; });
      return h('label', { class: 'field' }, h('span', { class: 'label' }, t(labelKey)), el);
    };
    box.appendChild(h('div', { class: 'cc-row', dataset: { index: String(i), name: c.name } },
      field('name', 'admin.bot.cc.name', h('input', { class: 'input cc-name', maxlength: '40', placeholder: t('admin.bot.cc.name.ph') })),
      field('patterns', 'admin.bot.cc.patterns', h('textarea', { class: 'textarea cc-patterns', rows: '3', placeholder: t('admin.bot.cc.patterns.ph') })),
      h('div', { class: 'cc-replies' },
        field('reply_zh', 'admin.bot.cc.reply_zh', h('textarea', { class: 'textarea cc-zh', rows: '2', maxlength: '4000' })),
        field('reply_en', 'admin.bot.cc.reply_en', h('textarea', { class: 'textarea cc-en', rows: '2', maxlength: '4000' }))),
      h('button', {
        class: 'btn btn-sm btn-danger cc-remove', type: 'button', title: t('admin.bot.cc.remove'), 'aria-label': t('admin.bot.cc.remove'),
        onclick: () => { bot.chitchat.splice(i, 1); markBotDirty(); renderChitchat(); },
      }, '✕')));
  });
}

// ---- task flows (多轮任务): a list, and one flow at a time in the JSON editor

/** A new flow's starting point: every field, with the order-status example of the documentation. */
function flowTemplate() {
  return {
    name: 'my-flow',
    title: '查询订单 / Order status',
    enabled: true,
    triggers: ['查订单', '我的订单到哪了', 'where is my order'],
    slots: [{
      name: 'order_id',
      prompt_zh: '请告诉我您的订单号（LX 加 8 位数字）',
      prompt_en: 'Please tell me your order number (LX and 8 digits).',
      pattern: 'LX\\d{8}',
      invalid_zh: '订单号是 LX 加 8 位数字，例如 LX20261203，请再发一次',
      invalid_en: 'An order number is LX and 8 digits, e.g. LX20261203. Please send it again.',
    }],
    webhook_url: 'https://shop.example.com/lingxi/order-status',
    reply_zh: '订单 {{slots.order_id}} 的状态：{{response.status}}',
    reply_en: 'Order {{slots.order_id}}: {{response.status}}',
    failure_zh: '暂时查不到这个订单，可以为您转接人工客服。',
    failure_en: 'I cannot look this order up right now; an agent can help you.',
  };
}

/** The editable part of a flow (id and times are the server's). */
function flowEditable(f) {
  const { id, created_at, updated_at, ...rest } = f || {};
  return rest;
}

function fillFlowForm(flow) {
  bot.editing = flow ? flow.id : null;
  const form = $('#flow-form');
  form.querySelector('.form-error').hidden = true;
  $('#flow-json').value = JSON.stringify(flow ? flowEditable(flow) : flowTemplate(), null, 2);
  $('#flow-form-title').textContent = t(bot.editing ? 'admin.flows.edit' : 'admin.flows.new');
  renderFlows();
}

function renderFlows() {
  const box = $('#flows-list');
  clear(box);
  if (!bot.flows.length) {
    box.appendChild(h('div', { class: 'empty-row' }, bot.flowsError || t('admin.flows.empty')));
    return;
  }
  for (const f of bot.flows) {
    const triggers = Array.isArray(f.triggers) ? f.triggers : [];
    const slots = Array.isArray(f.slots) ? f.slots : [];
    box.appendChild(h('div', {
      class: 'group-item flow-item' + (bot.editing === f.id ? ' editing' : '') + (f.enabled === false ? ' off' : ''),
      'data-testid': 'flow-item', dataset: { id: f.id, name: f.name || '' },
    },
    h('div', { class: 'main' },
      h('div', { class: 'q' },
        h('span', { class: 'gname' }, f.title || f.name || ''),
        h('span', { class: 'chip mono' }, f.name || ''),
        h('span', { class: 'chip' + (f.enabled === false ? '' : ' tag') }, t(f.enabled === false ? 'admin.flows.off' : 'admin.flows.on'))),
      h('div', { class: 'muted small members' }, t('admin.flows.triggers', { list: triggers.slice(0, 6).join('、') + (triggers.length > 6 ? '…' : '') })),
      slots.length ? h('div', { class: 'muted small members' }, t('admin.flows.slots', { list: slots.map((x) => x.name).join(' → ') })) : null,
      f.updated_at ? h('div', { class: 'muted small members' }, t('admin.intake.updated', { at: formatDateTime(f.updated_at) })) : null),
    h('div', { class: 'btns' },
      h('button', { class: 'btn btn-sm flow-edit', type: 'button', onclick: () => { fillFlowForm(f); $('#flow-json').focus(); } }, t('admin.edit')),
      h('button', { class: 'btn btn-sm btn-danger flow-delete', type: 'button', onclick: () => deleteFlow(f) }, t('admin.delete')))));
  }
}

async function saveFlow(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const fail = (msg) => { err.textContent = msg; err.hidden = false; };
  let flow;
  try {
    flow = JSON.parse($('#flow-json').value);
  } catch (e) {
    fail(t('admin.flows.err.json', { msg: e.message }));
    return;
  }
  if (!flow || typeof flow !== 'object' || Array.isArray(flow)) { fail(t('admin.flows.err.object')); return; }
  const body = flowEditable(flow);
  const btn = $('#flow-save');
  btn.disabled = true;
  try {
    const editing = bot.editing;
    const saved = editing
      ? await api(`/api/v1/admin/flows/${encodeURIComponent(editing)}`, { method: 'PUT', body, quiet: true })
      : await api('/api/v1/admin/flows', { method: 'POST', body, quiet: true });
    const i = bot.flows.findIndex((x) => x.id === saved.id);
    if (i >= 0) bot.flows[i] = saved; else bot.flows.push(saved);
    toast(t(editing ? 'admin.flows.saved' : 'admin.flows.created', { name: saved.name || '' }), 'success');
    fillFlowForm(saved); // as the server keeps it
  } catch (e) {
    // 400 invalid: the server names the field, e.g. 'slots[0].pattern: not a valid regular expression'
    if (e.status !== 401) fail(e.detail);
  } finally {
    btn.disabled = false;
  }
}

async function deleteFlow(f) {
  if (!window.confirm(t('admin.flows.delete.confirm', { name: f.title || f.name }))) return;
  try {
    await api(`/api/v1/admin/flows/${encodeURIComponent(f.id)}`, { method: 'DELETE', quiet: true });
    bot.flows = bot.flows.filter((x) => x.id !== f.id);
    toast(t('admin.flows.deleted', { name: f.name || '' }), 'success', 1800);
    if (bot.editing === f.id) fillFlowForm(null); else renderFlows();
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error', 6000);
  }
}

// ------------------------------------------------------------------ intake: marketplace exports (orders, refunds, reviews)
// Saved sources (a name, a column mapping in JSON, whether refunds and negative reviews become tickets), the mappings
// shipped with Lingxi and their sample exports, imports that run on the server while this page polls their progress,
// and the recent runs. File content and server messages are shown as text only.

const INTAKE_POLL_MS = 500;
const INTAKE_COUNTS = ['rows_read', 'created', 'updated', 'unchanged', 'duplicates', 'rejected', 'tickets_created'];
const INTAKE_KINDS = ['order', 'refund', 'review'];
const INTAKE_FORMATS = { csv: 'csv', tsv: 'csv', txt: 'csv', xlsx: 'xlsx', json: 'json', jsonl: 'json', ndjson: 'json' };
const intake = {
  sources: [], shipped: [], runs: [],
  sourcesError: null, shippedError: null, runsError: null,
  editing: null, // the saved source in the editor (its id), or null for a new one
  run: null,     // the run shown in the import card: the live one, or one picked in the runs table
  polling: null, // the id of the run being followed
  runsTimer: null,
};

$('#in-import-form').addEventListener('submit', startImport);
$('#in-source-form').addEventListener('submit', saveSource);
$('#in-new').addEventListener('click', () => newSource($('#in-template').value));
$('#in-cancel').addEventListener('click', () => newSource(''));
$('#in-runs-refresh').addEventListener('click', () => loadRuns());
onLangChange(renderIntake);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function loadIntake() {
  await Promise.all([
    api('/api/v1/admin/intake/sources', { quiet: true })
      .then((r) => { intake.sources = r.items || []; intake.sourcesError = null; })
      .catch((e) => { if (e.status !== 401) intake.sourcesError = forbidden(e) ? t('admin.forbidden') : e.detail; }),
    api('/api/v1/admin/intake/shipped', { quiet: true })
      .then((r) => { intake.shipped = r.items || []; intake.shippedError = null; })
      .catch((e) => { if (e.status !== 401) intake.shippedError = forbidden(e) ? t('admin.forbidden') : e.detail; }),
    loadRuns(false),
  ]);
  if (intake.editing === null && !$('#in-mapping').value.trim()) fillSourceForm(null, blankMapping());
  renderIntake();
  $('#sec-intake').dataset.loaded = '1';
}

async function loadRuns(render = true) {
  clearTimeout(intake.runsTimer);
  try {
    const r = await api('/api/v1/admin/intake/runs', { quiet: true });
    intake.runs = r.items || [];
    intake.runsError = null;
  } catch (e) {
    if (e.status === 401) return;
    intake.runsError = forbidden(e) ? t('admin.forbidden') : e.detail;
  }
  if (render) renderRuns();
  // a run started elsewhere (another tab, the CLI) is still working: look again shortly
  if (!intake.polling && state.section === 'intake' && intake.runs.some((x) => x.status === 'running')) {
    intake.runsTimer = setTimeout(() => loadRuns(), 1500);
  }
}

function renderIntake() {
  renderSourceSelect();
  renderTemplateSelect();
  renderSources();
  renderShipped();
  renderRun();
  renderRuns();
  $('#in-form-title').textContent = t(intake.editing ? 'admin.intake.edit' : 'admin.intake.new');
}

function mappingOf(x) {
  return x && x.mapping && typeof x.mapping === 'object' ? x.mapping : {};
}

function kindChip(kind) {
  if (!kind) return null;
  return h('span', { class: 'chip cat' }, INTAKE_KINDS.includes(kind) ? t('admin.intake.kind.' + kind) : String(kind));
}

// ---- the import form's source list and the editor's template list

function renderSourceSelect() {
  const sel = $('#in-source');
  const keep = sel.value;
  clear(sel);
  if (intake.sources.length) {
    sel.appendChild(h('optgroup', { label: t('admin.intake.sources') },
      intake.sources.map((s) => h('option', { value: s.id }, s.name))));
  }
  if (intake.shipped.length) {
    sel.appendChild(h('optgroup', { label: t('admin.intake.shipped.group') },
      intake.shipped.map((s) => h('option', { value: s.id }, [s.id, mappingOf(s).name].filter(Boolean).join(' · ')))));
  }
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function renderTemplateSelect() {
  const sel = $('#in-template');
  const keep = sel.value;
  clear(sel);
  sel.appendChild(h('option', { value: '' }, t('admin.intake.template.blank')));
  for (const s of intake.shipped) sel.appendChild(h('option', { value: s.id }, t('admin.intake.template.from', { id: s.id })));
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

function useSource(id) {
  renderSourceSelect();
  $('#in-source').value = id;
  $('#in-import-form').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  $('#in-file').focus();
}

// ---- saved sources and the mapping editor

function renderSources() {
  const box = $('#in-sources');
  clear(box);
  if (!intake.sources.length) {
    box.appendChild(h('div', { class: 'empty-row' }, intake.sourcesError || t('admin.intake.sources.empty')));
    return;
  }
  for (const s of intake.sources) {
    const m = mappingOf(s);
    box.appendChild(h('div', { class: 'group-item in-src' + (intake.editing === s.id ? ' editing' : ''), dataset: { id: s.id, name: s.name } },
      h('div', { class: 'main' },
        h('div', { class: 'q' },
          h('span', { class: 'gname' }, s.name),
          kindChip(m.kind),
          m.platform ? h('span', { class: 'chip' }, String(m.platform)) : null,
          h('span', { class: 'chip' + (s.create_tickets ? ' tag' : '') }, t(s.create_tickets ? 'admin.intake.tickets.on' : 'admin.intake.tickets.off'))),
        h('div', { class: 'muted small members' },
          [m.name ? String(m.name) : null, t('admin.intake.updated', { at: formatDateTime(s.updated_at) })].filter(Boolean).join(' · '))),
      h('div', { class: 'btns' },
        h('button', { class: 'btn btn-sm in-use', type: 'button', onclick: () => useSource(s.id) }, t('admin.intake.use')),
        h('button', { class: 'btn btn-sm in-edit', type: 'button', onclick: () => editSource(s) }, t('admin.edit')),
        h('button', { class: 'btn btn-sm btn-danger in-delete', type: 'button', onclick: () => deleteSource(s) }, t('admin.delete')))));
  }
}

function blankMapping() {
  return {
    name: t('admin.intake.blank.name'),
    kind: 'order',
    platform: 'own',
    columns: { external_id: [t('admin.intake.blank.header')] },
    required: [],
    utc_offset: '+08:00',
    currency: 'CNY',
  };
}

/** Puts a source (or a new one with this mapping) in the editor. */
function fillSourceForm(source, mapping) {
  intake.editing = source ? source.id : null;
  const form = $('#in-source-form');
  form.querySelector('.form-error').hidden = true;
  $('#in-name').value = source ? source.name : '';
  $('#in-tickets').checked = source ? !!source.create_tickets : true;
  $('#in-mapping').value = JSON.stringify(mapping, null, 2);
  $('#in-form-title').textContent = t(intake.editing ? 'admin.intake.edit' : 'admin.intake.new');
  renderSources();
}

function newSource(templateId) {
  const shipped = intake.shipped.find((s) => s.id === templateId);
  fillSourceForm(null, shipped ? mappingOf(shipped) : blankMapping());
  $('#in-name').focus();
}

function editSource(s) {
  fillSourceForm(s, mappingOf(s));
  $('#in-name').focus();
}

async function saveSource(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const fail = (msg) => { err.textContent = msg; err.hidden = false; };
  let mapping;
  try {
    mapping = JSON.parse($('#in-mapping').value);
  } catch (e) {
    fail(t('admin.intake.err.json', { msg: e.message }));
    return;
  }
  if (!mapping || typeof mapping !== 'object' || Array.isArray(mapping)) {
    fail(t('admin.intake.err.object'));
    return;
  }
  const body = { name: $('#in-name').value.trim(), mapping, create_tickets: $('#in-tickets').checked };
  const btn = form.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    const editing = intake.editing;
    const s = editing
      ? await api(`/api/v1/admin/intake/sources/${encodeURIComponent(editing)}`, { method: 'PUT', body, quiet: true })
      : await api('/api/v1/admin/intake/sources', { method: 'POST', body, quiet: true });
    toast(t(editing ? 'admin.intake.saved' : 'admin.intake.created', { name: s.name }), 'success');
    const i = intake.sources.findIndex((x) => x.id === s.id);
    if (i >= 0) intake.sources[i] = s; else intake.sources.push(s);
    // the server keeps the mapping in its normal form (defaults written out): show that
    fillSourceForm(s, mappingOf(s));
    renderSourceSelect();
    if (!editing) $('#in-source').value = s.id;
  } catch (e) {
    // invalid_field: the server names every problem of the mapping, e.g. 'the mapping is invalid: the platform …'
    if (e.status !== 401) fail(e.detail);
  } finally {
    btn.disabled = false;
  }
}

async function deleteSource(s) {
  if (!window.confirm(t('admin.intake.delete.confirm', { name: s.name }))) return;
  try {
    await api(`/api/v1/admin/intake/sources/${encodeURIComponent(s.id)}`, { method: 'DELETE', quiet: true });
    toast(t('admin.intake.deleted', { name: s.name }), 'success', 1800);
    intake.sources = intake.sources.filter((x) => x.id !== s.id);
    if (intake.editing === s.id) newSource('');
    renderSources();
    renderSourceSelect();
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error', 6000);
  }
}

// ---- shipped mappings and their samples

function renderShipped() {
  const box = $('#in-shipped');
  clear(box);
  if (!intake.shipped.length) {
    box.appendChild(h('div', { class: 'empty-row' }, intake.shippedError || t('admin.intake.shipped.empty')));
    return;
  }
  for (const s of intake.shipped) {
    const m = mappingOf(s);
    box.appendChild(h('div', { class: 'group-item in-shipped-item', dataset: { id: s.id } },
      h('div', { class: 'main' },
        h('div', { class: 'q' }, h('span', { class: 'gname' }, m.name ? String(m.name) : s.id), kindChip(m.kind)),
        h('div', { class: 'muted small mono' }, s.id),
        // the session cookie authenticates the download (a plain GET)
        h('a', { class: 'in-sample small', href: `/api/v1/admin/intake/shipped/${encodeURIComponent(s.id)}/sample`, download: s.sample_name },
          t('admin.intake.sample', { file: s.sample_name }))),
      h('div', { class: 'btns' },
        h('button', { class: 'btn btn-sm in-use', type: 'button', onclick: () => useSource(s.id) }, t('admin.intake.use')),
        h('button', { class: 'btn btn-sm in-as-template', type: 'button', onclick: () => newSource(s.id) }, t('admin.intake.as_template')))));
  }
}

// ---- import: upload, follow the run, show the report

/** POSTs the file as the raw body, reporting upload progress; resolves with { status, data }. */
function uploadExport(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      resolve({ status: xhr.status, data });
    };
    xhr.onerror = () => reject(new Error(t('error.network')));
    xhr.send(file);
  });
}

async function startImport(ev) {
  ev.preventDefault();
  if (intake.polling) return;
  const form = ev.currentTarget;
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const file = $('#in-file').files[0];
  const source = $('#in-source').value;
  if (!file || !source) {
    err.textContent = t('admin.intake.err.pick');
    err.hidden = false;
    return;
  }
  const q = new URLSearchParams({ source, mode: $('#in-mode').value, file_name: file.name });
  const ext = (/\.([A-Za-z0-9]+)$/.exec(file.name) || [])[1];
  if (ext && INTAKE_FORMATS[ext.toLowerCase()]) q.set('format', INTAKE_FORMATS[ext.toLowerCase()]);
  const btn = $('#in-import');
  btn.disabled = true;
  intake.run = { id: null, status: 'uploading', phase: 'uploading', done: 0, total: file.size, source, file_name: file.name };
  renderRun();
  try {
    const res = await uploadExport('/api/v1/admin/intake/import?' + q, file, (done, total) => {
      if (intake.run && intake.run.status === 'uploading') { intake.run.done = done; intake.run.total = total; renderRun(); }
    });
    if (res.status !== 202 || !res.data || !res.data.id) {
      const msg = (res.data && res.data.message) || `${t('error.generic')} (HTTP ${res.status})`;
      throw new Error(msg);
    }
    intake.run = res.data;
    renderRun();
    await followRun(res.data.id);
  } catch (e) {
    intake.run = null;
    renderRun();
    err.textContent = e.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
  await loadRuns();
}

/** Polls the run until it is no longer running. */
async function followRun(id) {
  intake.polling = id;
  let failures = 0;
  try {
    for (;;) {
      await sleep(INTAKE_POLL_MS);
      let r;
      try {
        r = await api(`/api/v1/admin/intake/runs/${encodeURIComponent(id)}`, { quiet: true });
      } catch (e) {
        if (e.status === 401 || e.status === 404 || ++failures >= 20) throw e;
        continue;
      }
      failures = 0;
      if (!intake.run || intake.run.id === id) { intake.run = r; renderRun(); }
      const row = intake.runs.findIndex((x) => x.id === id);
      if (row >= 0) intake.runs[row] = r; else intake.runs.unshift(r);
      renderRuns();
      if (r.status !== 'running') return r;
    }
  } finally {
    intake.polling = null;
  }
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function renderRun() {
  const r = intake.run;
  const box = $('#in-progress');
  renderIntakeReport();
  if (!r) { box.hidden = true; return; }
  box.hidden = false;
  box.dataset.run = r.id || '';
  box.dataset.status = r.status;
  box.dataset.phase = r.phase;
  const finished = r.status === 'done' || r.status === 'failed';
  const total = Number(r.total) || 0;
  const done = Number(r.done) || 0;
  const pct = finished ? 100 : total > 0 ? Math.min(100, Math.round((done * 100) / total)) : null;
  $('#in-phase').textContent = t('admin.intake.phase.' + (r.status === 'failed' ? 'failed' : finished ? 'finished' : r.phase));
  let count = '';
  if (!finished && r.phase === 'uploading') count = total > 0 ? `${formatBytes(done)} / ${formatBytes(total)}` : '';
  else if (!finished && total > 0) count = t('admin.intake.count.' + r.phase, { done, total });
  else if (!finished && done > 0) count = t('admin.intake.count.' + r.phase + '.open', { done });
  $('#in-count').textContent = count;
  const bar = $('#in-bar');
  bar.className = 'in-bar' + (pct === null ? ' indeterminate' : '') + (r.status === 'failed' ? ' failed' : finished ? ' finished' : '');
  bar.querySelector('i').style.width = pct === null ? '' : pct + '%';
  if (pct === null) bar.removeAttribute('aria-valuenow'); else bar.setAttribute('aria-valuenow', String(pct));
  bar.setAttribute('aria-label', $('#in-phase').textContent);
  $('#in-file-name').textContent = [r.source, r.file_name].filter(Boolean).join(' · ');
}

function renderIntakeReport() {
  const box = $('#in-report');
  const r = intake.run;
  clear(box);
  delete box.dataset.applied;
  delete box.dataset.outcome;
  const rep = r && r.status !== 'running' && r.status !== 'uploading' ? r.report : null;
  if (!rep) { box.hidden = true; return; }
  box.hidden = false;
  if (rep.applied === undefined) {
    // the run stopped: {"error": "…"} (the file could not be read, the mapping no longer holds, …)
    box.className = 'in-report bad';
    box.dataset.outcome = 'failed';
    box.appendChild(h('div', { class: 'in-summary' }, t('admin.intake.report.failed', { error: rep.error || '' })));
    return;
  }
  const errors = rep.errors || [];
  box.className = 'in-report' + (!rep.applied ? ' bad' : rep.rejected ? ' warn' : ' good');
  box.dataset.applied = rep.applied ? '1' : '0';
  box.dataset.outcome = rep.applied ? 'applied' : 'rejected';
  box.appendChild(h('div', { class: 'in-summary' }, rep.applied
    ? t(rep.rejected ? 'admin.intake.report.partly' : 'admin.intake.report.applied', { n: rep.rows_read, bad: rep.rejected })
    : t('admin.intake.report.rejected', { n: rep.rows_read, bad: rep.rejected })));
  box.appendChild(h('dl', { class: 'in-counts' }, INTAKE_COUNTS.map((k) =>
    h('div', { class: 'in-count' + (k === 'rejected' && rep[k] ? ' bad' : ''), dataset: { k } },
      h('dt', null, t('admin.intake.k.' + k)),
      h('dd', null, String(rep[k] == null ? 0 : rep[k]))))));
  if (typeof rep.seconds === 'number') {
    box.appendChild(h('div', { class: 'muted small' }, t('admin.intake.report.seconds', { s: rep.seconds.toFixed(2) })));
  }
  if (errors.length) {
    const zh = lang() === 'zh';
    box.appendChild(h('div', { class: 'in-errors-title' }, t('admin.intake.report.errors')));
    box.appendChild(h('ul', { class: 'in-errors' }, errors.map((e) =>
      h('li', { dataset: { row: String(e.row) } },
        h('b', null, t('admin.kb.io.row', { row: e.row })),
        e.column ? h('span', { class: 'muted' }, ` · ${e.column}`) : null,
        h('span', { class: 'in-msg' }, (zh ? e.message_zh || e.message : e.message || e.message_zh) || '')))));
    if (rep.errors_left_out) box.appendChild(h('div', { class: 'muted small' }, t('admin.intake.report.left_out', { n: rep.errors_left_out })));
  }
}

// ---- recent runs

function runBadge(r) {
  const rep = r.report || {};
  if (r.status === 'running') {
    const total = Number(r.total) || 0;
    return h('span', { class: 'badge badge-queued' }, t('admin.intake.status.running') + (total ? ` ${Math.round((r.done * 100) / total)}%` : ''));
  }
  if (r.status === 'failed' || rep.applied === undefined) return h('span', { class: 'badge in-st-bad', title: rep.error || '' }, t('admin.intake.status.failed'));
  if (!rep.applied) return h('span', { class: 'badge in-st-bad' }, t('admin.intake.status.rejected'));
  return h('span', { class: 'badge badge-assigned' }, t(rep.rejected ? 'admin.intake.status.partly' : 'admin.intake.status.done'));
}

function renderRuns() {
  const body = $('#in-runs-body');
  clear(body);
  if (!intake.runs.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '12', class: 'empty-row' }, intake.runsError || t('admin.intake.runs.empty'))));
    return;
  }
  const num = (r, k) => (r.report && typeof r.report[k] === 'number' ? String(r.report[k]) : '—');
  for (const r of intake.runs) {
    const shown = intake.run && intake.run.id === r.id;
    body.appendChild(h('tr', { class: shown ? 'in-shown' : '', dataset: { id: r.id, status: r.status } },
      h('td', { class: 'nowrap' }, formatDateTime(r.created_at)),
      h('td', { class: 'in-src-cell' }, r.source),
      h('td', { class: 'mono small in-file' }, r.file_name),
      h('td', { class: 'nowrap' }, runBadge(r)),
      ['rows_read', 'created', 'updated', 'unchanged', 'rejected', 'tickets_created'].map((k) => h('td', { class: 'num', dataset: { k } }, num(r, k))),
      h('td', { class: 'in-by' }, r.created_by || '—'),
      h('td', null, h('button', {
        class: 'btn btn-sm in-view', type: 'button', disabled: r.status === 'running' && intake.polling !== r.id,
        onclick: () => showRun(r),
      }, t('admin.intake.view')))));
  }
}

/** Shows a past run's progress and report in the import card (read afresh: the list may be behind). */
async function showRun(r) {
  let full = r;
  try { full = await api(`/api/v1/admin/intake/runs/${encodeURIComponent(r.id)}`, { quiet: true }); } catch (_) { /* the listed one */ }
  intake.run = full;
  renderRun();
  renderRuns();
  $('#in-import-form').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}
