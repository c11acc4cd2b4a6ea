// Lingxi agent workspace, tickets (工单): views (mine / unassigned / my groups / all) with status, tag and text
// filters, paging, bulk actions, the ticket's detail (life cycle, fields, tags, replies and internal notes, history)
// and the "new ticket" form; the tenant's custom fields (edited by type where the definitions can be read, else shown
// as they are); SLA due times (highlighted when past) and the SLA compliance report for supervisors and above.
// Comments show their files (pictures as previews, other files as download chips); the composer attaches files
// (uploaded at once, sent with the comment). The open ticket follows the workspace socket's `ticket` frames: it is
// read again when someone else changes it, unless the agent has an unsaved edit (then a banner offers to reload).
// Every ticket, customer and agent text is rendered as text, never as HTML.
import { api, t, h, $, clear, toast, formatTime, formatDateTime, lang, downloadFile, postFile } from '/common.js';

export const STATUSES = ['new', 'open', 'pending', 'on_hold', 'solved', 'closed'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
/** The life cycle (crates/lingxi-domain/src/ticket.rs): where a ticket may go from each status. */
export const NEXT = {
  new: ['open', 'pending', 'on_hold', 'solved'],
  open: ['pending', 'on_hold', 'solved'],
  pending: ['open', 'on_hold', 'solved'],
  on_hold: ['open', 'pending', 'solved'],
  solved: ['open', 'closed'],
  closed: [],
};
const VIEWS = ['mine', 'unassigned', 'groups', 'overdue', 'all'];
const VIEW_KEY = 'lingxi:agent:tkview';
const PAGE = 25;
/** A contact that reads as an e-mail address (a masked one too: z***@example.com). */
const EMAIL_LIKE = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
/** Attachments (crates/lingxi-domain/src/workspace.rs ATTACHMENT_TYPES; the server checks each file's bytes too). */
const ATTACH_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'text/csv', 'application/zip'];
const RASTER_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
const ATTACH_ACCEPT = ATTACH_TYPES.join(',') + ',.png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.zip';
const ATTACH_MAX = 10 * 1024 * 1024;
const MAX_FILES = 10; // per comment

const tk = {
  me: null,
  active: false,
  view: 'mine',
  status: 'unsolved',
  tag: '',
  q: '',
  offset: 0,
  items: [],
  total: 0,
  loading: false,
  listError: '',
  listSeq: 0,
  numbers: new Map(),   // ticket id -> number (for bulk failures of tickets not on this page)
  selected: new Set(),
  bulkResult: null,     // { ok, failed: [{ id, number, message }] }
  agents: [],           // AgentProfile[]
  groups: [],           // SkillGroup[]
  openId: null,
  ticket: null,
  comments: null,
  history: null,
  error: '',            // the last refused change, shown in the detail pane
  notice: '',           // e.g. "this conversation already had this ticket"
  cmode: 'public',      // composer: public reply | internal note
  draft: '',            // composer text, kept across re-renders
  tagDraft: null,       // { id, tags, dirty }
  tagTyped: '',         // the tag input's text, kept across re-renders
  files: [],            // composer attachments: { key, ticketId, name, size, status: uploading|ready, id, promise }
  fileErrors: [],       // why files could not be attached (the server's message)
  busy: false,          // a change (PATCH) in flight
  sending: false,       // a comment in flight
  stale: false,         // someone else changed the open ticket while the agent has an unsaved edit
  checking: false,      // a live check of the open ticket in flight
  liveAgain: false,     // a frame came while busy: check again afterwards
  detailSeq: 0,         // reads of the open ticket, the latest wins
  // custom field definitions from GET /api/v1/tickets/fields; null when they cannot be read (values are then
  // read-only; what a refusal of the server names is learned for the New ticket form)
  fieldDefs: null,
  learned: [],          // [{ key, label, kind, options, required }] from the server's refusals
  cfDraft: {},          // { key: value typed but not yet saved } in the detail pane
  sla: { by: 'group', from: '', to: '', data: null, error: '', loading: false },
};

let ctx = { openConversation: () => {} };

function label(prefix, v) {
  const k = prefix + v;
  const s = t(k);
  return s === k ? String(v) : s;
}
const statusLabel = (s) => label('tk.status.', s);
const priorityLabel = (p) => label('tk.priority.', p);
const sourceLabel = (s) => label('tk.source.', s);

function agentName(id) {
  if (!id) return '';
  const a = tk.agents.find((x) => x.user_id === id);
  if (a) return a.name;
  if (tk.ticket && tk.ticket.assignee_id === id && tk.ticket.assignee_name) return tk.ticket.assignee_name;
  return String(id).slice(0, 8) + '…';
}
function groupName(id) {
  if (!id) return '';
  const g = tk.groups.find((x) => x.id === id);
  return g ? g.name : String(id).slice(0, 8) + '…';
}

/**
 * The server explains refusals in English (life cycle, closed ticket, stale version): say the known ones in the
 * agent's language, keep any other message as it is.
 */
export function localizeRefusal(msg) {
  const m0 = String(msg || '');
  let m = /^a ticket cannot go from (\w+) to (\w+)\.?$/i.exec(m0);
  if (m) return m[1] === 'closed' ? t('tk.err.closed_final') : t('tk.err.transition', { from: statusLabel(m[1]), to: statusLabel(m[2]) });
  m = /^the ticket is already (\w+)\.?$/i.exec(m0);
  if (m) return t('tk.err.already', { status: statusLabel(m[1]) });
  m = /^ticket #(\d+) is closed; create a follow-up/i.exec(m0);
  if (m) return t('tk.err.closed', { n: m[1] });
  m = /^ticket #(\d+) changed (since you read it|meanwhile)/i.exec(m0);
  if (m) return t('tk.err.stale', { n: m[1] });
  return m0;
}

export function statusBadge(s) {
  return h('span', { class: `badge tk-st tk-st-${s}`, dataset: { status: s } }, statusLabel(s));
}
function priorityChip(p) {
  return h('span', { class: `chip tk-pr tk-pr-${p}`, dataset: { priority: p } }, priorityLabel(p));
}

// ------------------------------------------------------------------ set-up

export function initTickets(options) {
  ctx = { ...ctx, ...options };
  try { const v = sessionStorage.getItem(VIEW_KEY); if (VIEWS.includes(v)) tk.view = v; } catch (_) { /* ignore */ }
  for (const b of document.querySelectorAll('#tk-views .tab')) b.addEventListener('click', () => setListView(b.dataset.tkview));
  $('#tk-status').addEventListener('change', (e) => { tk.status = e.target.value; tk.offset = 0; refreshList(); });
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(() => { tk.offset = 0; refreshList(); }, 300); };
  $('#tk-tag').addEventListener('input', (e) => { tk.tag = e.target.value.trim(); later(); });
  $('#tk-q').addEventListener('input', (e) => { tk.q = e.target.value.trim(); later(); });
  $('#tk-prev').addEventListener('click', () => { tk.offset = Math.max(0, tk.offset - PAGE); refreshList(); });
  $('#tk-next').addEventListener('click', () => { tk.offset += PAGE; refreshList(); });
  $('#tk-all').addEventListener('change', (e) => {
    for (const x of tk.items) { if (e.target.checked) tk.selected.add(x.id); else tk.selected.delete(x.id); }
    renderList();
  });
  $('#tk-bulk-assign').addEventListener('change', (e) => {
    const v = e.target.value;
    if (!v) return;
    e.target.value = '';
    bulk({ assignee_id: v === '__none' ? null : v });
  });
  $('#tk-bulk-status').addEventListener('change', (e) => {
    const v = e.target.value;
    if (!v) return;
    e.target.value = '';
    bulk({ status: v });
  });
  const addTag = () => {
    const v = $('#tk-bulk-tag').value.trim();
    if (!v) return;
    bulk({ add_tags: [v] }).then((done) => { if (done) $('#tk-bulk-tag').value = ''; });
  };
  $('#tk-bulk-tag-add').addEventListener('click', addTag);
  $('#tk-bulk-tag').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); addTag(); }
  });
  $('#tk-bulk-clear').addEventListener('click', () => { tk.selected.clear(); renderList(); });
  $('#tk-new').addEventListener('click', openNewForm);
  $('#tk-new-form').addEventListener('submit', (e) => { e.preventDefault(); submitNewForm(); });
  $('#tk-n-cancel').addEventListener('click', () => $('#tk-new-dialog').close());
  $('#tk-sla-open').addEventListener('click', openSlaReport);
  $('#tk-sla-form').addEventListener('submit', (e) => { e.preventDefault(); loadSlaReport(); });
  $('#tk-sla-by').addEventListener('change', loadSlaReport);
  $('#tk-sla-close').addEventListener('click', () => $('#tk-sla-dialog').close());
  // the composer's file input lives outside the pane (which is rebuilt on every render)
  const fileInput = h('input', { type: 'file', id: 'tk-attach-input', hidden: true, multiple: true, accept: ATTACH_ACCEPT });
  fileInput.addEventListener('change', () => {
    const files = [...(fileInput.files || [])];
    fileInput.value = '';
    addFiles(files);
  });
  $('#tickets-view').appendChild(fileInput);
  // frames may be missed (a reconnect): the list is read again every 20 s, and the open ticket checked
  setInterval(() => {
    if (!tk.active || !tk.me || document.hidden) return;
    if (!tk.loading) refreshList(true);
    scheduleOpenCheck();
  }, 20000);
  return { start, stop, show, hide, open, render, live, resync };
}

// ------------------------------------------------------------------ live updates (the workspace socket)

let listTimer = null;
let openTimer = null;

/** A `ticket` frame ({ ticket_id, number }): a ticket was created or changed (fields, comments, SLA). */
function live(f) {
  if (!tk.me || !f) return;
  if (f.number && f.ticket_id) tk.numbers.set(f.ticket_id, f.number);
  scheduleListRefresh();
  if (tk.openId && f.ticket_id === tk.openId) scheduleOpenCheck();
}

/** Frames may have been missed (reconnect, resync): read what is shown again. */
function resync() {
  if (!tk.me) return;
  scheduleListRefresh();
  scheduleOpenCheck();
}

/** The list is read again shortly after the first frame of a burst (one read for many frames). */
function scheduleListRefresh() {
  if (listTimer) return;
  listTimer = setTimeout(() => {
    listTimer = null;
    if (tk.active && tk.me) refreshList(true);
  }, 400);
}

function scheduleOpenCheck() {
  if (openTimer) return;
  openTimer = setTimeout(() => { openTimer = null; checkOpen(); }, 250);
}

/** What tells one state of a ticket from the next (SLA deadlines change without a new version). */
function ticketSig(x) {
  return x ? JSON.stringify([x.version, x.updated_at, x.status, x.sla_policy, x.first_response_due, x.resolution_due]) : '';
}

/**
 * Whether the agent has an edit in the detail pane that a re-read would throw away or silently rebase: tags
 * changed but not saved (or one typed), a custom field typed but not saved. The composer's draft and files are
 * kept by a re-read, so they are no such edit.
 */
function midEdit() {
  if (tk.tagDraft && tk.tagDraft.id === tk.openId && tk.tagDraft.dirty) return true;
  if (tk.tagTyped.trim()) return true;
  return Object.keys(tk.cfDraft).length > 0;
}

/**
 * The open ticket may have changed: when it did, read it again (ticket, thread, history) and re-render, keeping
 * the composer and the scroll position; when the agent is mid-edit, say so instead (the banner) and keep the
 * version they are editing, so that their save is checked against it and a concurrent change is never overwritten.
 */
async function checkOpen() {
  const id = tk.openId;
  if (!id || !tk.me) return;
  if (!tk.active) { tk.liveAgain = true; return; } // show() looks again
  if (tk.busy || tk.sending || tk.checking) { tk.liveAgain = true; return; }
  tk.checking = true;
  tk.liveAgain = false;
  try {
    if (!tk.ticket || tk.ticket.id !== id) { await loadDetail(id); return; }
    let x;
    try { x = await api(`/api/v1/tickets/${encodeURIComponent(id)}`, { quiet: true }); } catch (_) { return; }
    if (tk.openId !== id || !tk.ticket || tk.busy || tk.sending) { tk.liveAgain = true; return; }
    if (ticketSig(x) === ticketSig(tk.ticket)) return;
    if (midEdit()) {
      if (!tk.stale) { tk.stale = true; renderDetail(); }
      return;
    }
    await loadDetail(id);
  } finally {
    tk.checking = false;
    afterAction();
  }
}

/** After a change of the agent's own (or a check) ends: frames that came meanwhile are looked at now. */
function afterAction() {
  if (tk.liveAgain && !tk.busy && !tk.sending && !tk.checking) {
    tk.liveAgain = false;
    scheduleOpenCheck();
  }
}

/** The banner's 刷新: read the latest version, dropping the unsaved tag and field edits (the composer stays). */
function reloadStale() {
  if (!tk.openId) return;
  tk.stale = false;
  tk.tagDraft = null;
  tk.tagTyped = '';
  tk.cfDraft = {};
  tk.error = '';
  renderDetail();
  loadDetail(tk.openId);
}

function start(me) {
  tk.me = me;
  $('#tk-sla-open').hidden = !canSeeReport();
  loadPeople();
  loadFieldDefs();
}

/** The SLA report: the `view_reports` permission (GET /me), else a supervisor role and above. */
function canSeeReport() {
  if (!tk.me) return false;
  if (Array.isArray(tk.me.permissions)) return tk.me.permissions.includes('view_reports');
  return ['owner', 'admin', 'supervisor'].includes(tk.me.role);
}

/** The tenant's custom field definitions (any member may read them); read-only values if they cannot be read. */
async function loadFieldDefs() {
  if (!tk.me) return;
  try {
    const s = await api('/api/v1/tickets/fields', { quiet: true });
    tk.fieldDefs = s.items || [];
  } catch (e) {
    if (e.status === 401) return;
    if (e.status === 403 || e.status === 404) tk.fieldDefs = null;
  }
  if (tk.ticket) renderDetail();
  if ($('#tk-new-dialog').open) renderFormFields();
}

function stop() {
  tk.me = null;
  tk.active = false;
  tk.items = [];
  tk.total = 0;
  tk.selected.clear();
  tk.bulkResult = null;
  tk.openId = null;
  tk.ticket = null;
  tk.fieldDefs = null;
  tk.learned = [];
  tk.sla.data = null;
  tk.files = [];
  tk.fileErrors = [];
  tk.stale = false;
  tk.tagTyped = '';
  $('#tk-sla-open').hidden = true;
  if ($('#tk-new-dialog').open) $('#tk-new-dialog').close();
  if ($('#tk-sla-dialog').open) $('#tk-sla-dialog').close();
  $('#tk-pane').hidden = true;
  $('#tk-empty').hidden = false;
}

function show() {
  tk.active = true;
  loadPeople();
  renderList();
  refreshList();
  if (tk.openId) {
    tk.liveAgain = false;
    // mid-edit, the version being edited stays (the banner says when there is a newer one)
    if (midEdit() && tk.ticket && tk.ticket.id === tk.openId) checkOpen(); else loadDetail(tk.openId);
  }
}

function hide() { tk.active = false; }

/** Re-render everything (language change). */
function render() {
  renderList();
  renderDetail();
  fillBulkSelects();
  if ($('#tk-new-dialog').open) { fillFormSelects(); renderFormFields(); }
  if ($('#tk-sla-dialog').open) renderSlaReport();
}

async function loadPeople() {
  if (!tk.me) return;
  try {
    const [a, g] = await Promise.all([api('/api/v1/agents', { quiet: true }), api('/api/v1/groups', { quiet: true })]);
    tk.agents = (a.items || []).slice().sort((x, y) => String(x.name).localeCompare(String(y.name)));
    tk.groups = (g.items || []).slice().sort((x, y) => String(x.name).localeCompare(String(y.name)));
  } catch (_) { /* selects offer what we know */ }
  fillBulkSelects();
  if (tk.ticket) renderDetail();
}

// ------------------------------------------------------------------ list

function setListView(v) {
  if (!VIEWS.includes(v)) v = 'mine';
  tk.view = v;
  tk.offset = 0;
  try { sessionStorage.setItem(VIEW_KEY, v); } catch (_) { /* ignore */ }
  renderList();
  refreshList();
}

async function refreshList(quiet = false) {
  if (!tk.me) return;
  const seq = ++tk.listSeq;
  const p = new URLSearchParams({ view: tk.view, limit: String(PAGE), offset: String(tk.offset) });
  if (tk.status) p.set('status', tk.status);
  if (tk.tag) p.set('tag', tk.tag);
  if (tk.q) p.set('q', tk.q);
  tk.loading = true;
  if (!quiet) renderList();
  try {
    const res = await api('/api/v1/tickets?' + p.toString(), { quiet: true });
    if (seq !== tk.listSeq) return;
    tk.items = res.items || [];
    tk.total = res.total || 0;
    tk.listError = '';
    for (const x of tk.items) tk.numbers.set(x.id, x.number);
    if (!tk.items.length && tk.offset > 0 && tk.total > 0) {
      // the page emptied (tickets moved out of the view): go back to the last page that has some
      tk.offset = Math.max(0, Math.floor((tk.total - 1) / PAGE) * PAGE);
      tk.loading = false;
      refreshList(quiet);
      return;
    }
  } catch (e) {
    if (seq !== tk.listSeq) return;
    tk.listError = e.detail;
  } finally {
    if (seq === tk.listSeq) tk.loading = false;
  }
  renderList();
}

function renderList() {
  for (const b of document.querySelectorAll('#tk-views .tab')) {
    const on = b.dataset.tkview === tk.view;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  if ($('#tk-status').value !== tk.status) $('#tk-status').value = tk.status;
  const list = $('#tk-list');
  clear(list);
  if (tk.listError) list.appendChild(h('div', { class: 'list-empty' }, tk.listError));
  else if (!tk.items.length) list.appendChild(h('div', { class: 'list-empty' }, t(tk.loading ? 'tk.list.loading' : 'tk.list.empty')));
  for (const x of tk.items) list.appendChild(ticketRow(x));
  // paging
  const from = tk.total ? tk.offset + 1 : 0;
  const to = tk.offset + tk.items.length;
  $('#tk-range').textContent = tk.total ? t('tk.range', { from, to, total: tk.total }) : t('tk.range.none');
  $('#tk-prev').disabled = tk.offset <= 0;
  $('#tk-next').disabled = to >= tk.total;
  // selection and bulk bar
  const onPage = tk.items.filter((x) => tk.selected.has(x.id)).length;
  const all = $('#tk-all');
  all.checked = tk.items.length > 0 && onPage === tk.items.length;
  all.indeterminate = onPage > 0 && onPage < tk.items.length;
  all.disabled = !tk.items.length;
  $('#tk-selected').textContent = tk.selected.size ? t('tk.bulk.selected', { n: tk.selected.size }) : '';
  $('#tk-bulk').hidden = tk.selected.size === 0;
  renderBulkResult();
}

function ticketRow(x) {
  const check = h('input', { type: 'checkbox', class: 'tk-check', 'aria-label': t('tk.list.select', { n: x.number }) });
  check.checked = tk.selected.has(x.id);
  check.addEventListener('change', () => {
    if (check.checked) tk.selected.add(x.id); else tk.selected.delete(x.id);
    renderList();
  });
  const openIt = () => open(x.id);
  return h('div', { class: 'tk-row' + (x.id === tk.openId ? ' active' : ''), dataset: { id: x.id, number: String(x.number), status: x.status } },
    check,
    h('div', {
      class: 'tk-main', role: 'button', tabindex: '0', onclick: openIt,
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openIt(); } },
    },
    h('div', { class: 'r1' },
      h('span', { class: 'tk-num' }, '#' + x.number),
      h('span', { class: 'tk-title' }, x.title),
      h('span', { class: 'time', title: formatDateTime(x.updated_at) }, formatTime(x.updated_at))),
    h('div', { class: 'r2' },
      statusBadge(x.status),
      priorityChip(x.priority),
      h('span', { class: 'tk-assignee' + (x.assignee_id ? '' : ' none') }, x.assignee_id ? (x.assignee_name || agentName(x.assignee_id)) : t('tk.unassigned')),
      dueChips(x),
      (x.tags || []).slice(0, 3).map((tag) => h('span', { class: 'chip tag' }, tag)))));
}

/** The ticket's SLA deadlines (first response, resolution) as chips; a past one is highlighted. */
function dueChips(x, long = false) {
  const out = [];
  for (const [clock, at] of [['first', x.first_response_due], ['resolution', x.resolution_due]]) {
    if (!at) continue;
    const late = new Date(at).getTime() < Date.now();
    const when = long ? formatDateTime(at) : formatTime(at);
    out.push(h('span', {
      class: 'tk-due' + (late ? ' late' : ''), dataset: { clock, late: late ? '1' : '0' }, title: formatDateTime(at),
    }, t(`tk.due.${clock}${late ? '.late' : ''}`, { at: when })));
  }
  return out;
}

// ------------------------------------------------------------------ bulk actions

function fillBulkSelects() {
  const assign = $('#tk-bulk-assign');
  clear(assign);
  assign.appendChild(h('option', { value: '' }, t('tk.bulk.assign')));
  assign.appendChild(h('option', { value: '__none' }, t('tk.bulk.unassign')));
  for (const a of tk.agents) assign.appendChild(h('option', { value: a.user_id }, a.name));
  const st = $('#tk-bulk-status');
  clear(st);
  st.appendChild(h('option', { value: '' }, t('tk.bulk.status')));
  for (const s of STATUSES) st.appendChild(h('option', { value: s }, statusLabel(s)));
}

/** One change to every selected ticket; each succeeds or fails on its own, and every failure is listed. */
async function bulk(patch) {
  const ids = [...tk.selected];
  if (!ids.length) return false;
  for (const el of document.querySelectorAll('#tk-bulk select, #tk-bulk button, #tk-bulk input')) el.disabled = true;
  try {
    const res = await api('/api/v1/tickets/bulk', { method: 'POST', body: { ids, patch }, quiet: true });
    const items = res.items || [];
    const failed = [];
    let ok = 0;
    for (const r of items) {
      if (r.ok) {
        ok++;
        tk.selected.delete(r.id); // failures stay selected, ready for another try
        if (r.ticket) tk.numbers.set(r.id, r.ticket.number);
      } else {
        const err = r.error || {};
        failed.push({ id: r.id, number: tk.numbers.get(r.id), message: localizeRefusal(err.message || err.code || '') });
      }
    }
    tk.bulkResult = { ok, failed };
    if (tk.openId && ids.includes(tk.openId)) loadDetail(tk.openId);
    refreshList(true);
    if (!failed.length) toast(t('tk.bulk.done', { ok }), 'success', 1800);
    return true;
  } catch (e) {
    if (e.status !== 401) tk.bulkResult = { ok: 0, failed: [], error: e.detail };
    return false;
  } finally {
    for (const el of document.querySelectorAll('#tk-bulk select, #tk-bulk button, #tk-bulk input')) el.disabled = false;
    renderList();
  }
}

function renderBulkResult() {
  const box = $('#tk-bulk-result');
  clear(box);
  const r = tk.bulkResult;
  if (!r) { box.hidden = true; return; }
  box.hidden = false;
  const bad = !!(r.error || r.failed.length);
  box.className = 'tk-bulk-result' + (bad ? ' bad' : '');
  const dismiss = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', onclick: () => { tk.bulkResult = null; renderBulkResult(); } }, t('tk.bulk.close'));
  if (r.error) {
    box.appendChild(h('div', { class: 'sum' }, h('span', null, r.error), dismiss));
    return;
  }
  box.appendChild(h('div', { class: 'sum' },
    h('span', null, r.failed.length ? t('tk.bulk.partial', { ok: r.ok, failed: r.failed.length }) : t('tk.bulk.done', { ok: r.ok })),
    dismiss));
  if (r.failed.length) {
    box.appendChild(h('ul', null, r.failed.map((f) => h('li', { dataset: { id: f.id } },
      h('b', null, f.number ? '#' + f.number : String(f.id).slice(0, 8)), ': ', f.message))));
  }
}

// ------------------------------------------------------------------ detail

/** Opens a ticket in the detail pane; `notice` is shown above it (e.g. it already existed). */
async function open(id, notice = '') {
  if (!id) return;
  if (tk.openId !== id) {
    tk.error = '';
    tk.draft = '';
    tk.tagDraft = null;
    tk.tagTyped = '';
    tk.cfDraft = {};
    tk.files = [];        // uploads belong to the ticket they were made for
    tk.fileErrors = [];
    tk.stale = false;
    tk.ticket = null;
    tk.comments = null;
    tk.history = null;
    tk.cmode = 'public';
  }
  tk.notice = notice;
  tk.openId = id;
  try { history.replaceState(null, '', '#t=' + encodeURIComponent(id)); } catch (_) { /* ignore */ }
  for (const row of document.querySelectorAll('#tk-list .tk-row')) row.classList.toggle('active', row.dataset.id === id);
  renderDetail();
  await loadDetail(id);
}

async function loadDetail(id) {
  const enc = encodeURIComponent(id);
  const seq = ++tk.detailSeq; // a later read wins over an earlier one that answers late
  try {
    const [tkt, comments, hist] = await Promise.all([
      api(`/api/v1/tickets/${enc}`, { quiet: true }),
      api(`/api/v1/tickets/${enc}/comments`, { quiet: true }),
      api(`/api/v1/tickets/${enc}/history`, { quiet: true }),
    ]);
    if (tk.openId !== id || seq !== tk.detailSeq) return;
    tk.ticket = tkt;
    tk.stale = false; // what is shown is the latest now
    tk.numbers.set(tkt.id, tkt.number);
    tk.comments = comments.items || [];
    tk.history = hist.items || [];
    if (tkt.status === 'closed') {
      // nothing can change on a closed ticket: unsaved edits and files have nowhere to go
      tk.tagDraft = null;
      tk.tagTyped = '';
      tk.cfDraft = {};
      tk.files = [];
    }
    if (!tk.tagDraft || tk.tagDraft.id !== id || !tk.tagDraft.dirty) tk.tagDraft = { id, tags: [...(tkt.tags || [])], dirty: false };
    // keep the list row in step with what we just read
    const i = tk.items.findIndex((x) => x.id === id);
    if (i >= 0) { tk.items[i] = tkt; renderList(); }
  } catch (e) {
    if (tk.openId !== id || seq !== tk.detailSeq || e.status === 401) return;
    tk.error = e.detail;
  }
  renderDetail();
}

function renderDetail() {
  const pane = $('#tk-pane');
  const empty = $('#tk-empty');
  if (!tk.openId) { pane.hidden = true; empty.hidden = false; return; }
  pane.hidden = false;
  empty.hidden = true;
  // keep what the agent is typing and where they scrolled
  const scroller = $('#tk-detail');
  const top = scroller.scrollTop;
  const active = document.activeElement && pane.contains(document.activeElement) ? document.activeElement : null;
  const focusId = active ? active.id : null;
  let caret = null;
  if (active && (active.tagName === 'TEXTAREA' || active.tagName === 'INPUT')) {
    try { caret = [active.selectionStart, active.selectionEnd, active.selectionDirection, active.scrollTop]; } catch (_) { caret = null; }
  }
  clear(pane);
  const x = tk.ticket;
  pane.dataset.id = tk.openId;
  if (!x) {
    pane.removeAttribute('data-number');
    pane.appendChild(h('div', { class: 'tk-top' }, tk.error ? h('div', { class: 'form-error', id: 'tk-error' }, tk.error) : h('span', { class: 'muted' }, t('loading'))));
    return;
  }
  pane.dataset.number = String(x.number);
  pane.dataset.status = x.status;
  pane.appendChild(renderTop(x));
  const main = h('div', { class: 'tk-col-main' });
  main.appendChild(h('div', { class: 'tk-card' },
    h('h4', null, t('tk.f.description')),
    h('div', { class: 'tk-desc', id: 'tk-desc' }, x.description || t('tk.f.no_description'))));
  main.appendChild(renderComments(x));
  const side = h('div', { class: 'tk-col-side' });
  side.appendChild(renderFields(x));
  side.appendChild(renderCustomFields(x));
  side.appendChild(renderFacts(x));
  side.appendChild(renderHistory());
  pane.appendChild(main);
  pane.appendChild(side);
  scroller.scrollTop = top;
  if (focusId) {
    const el = document.getElementById(focusId);
    if (el && !el.disabled) {
      el.focus({ preventScroll: true });
      if (caret && caret[0] != null && typeof el.setSelectionRange === 'function') {
        try { el.setSelectionRange(caret[0], caret[1], caret[2] || 'none'); el.scrollTop = caret[3]; } catch (_) { /* not a text field */ }
      }
    }
  }
}

function renderTop(x) {
  return h('div', { class: 'tk-top' },
    tk.notice ? h('div', { class: 'notice-line', id: 'tk-notice' }, tk.notice) : null,
    h('h2', null,
      h('span', { class: 'tk-num', id: 'tk-number' }, '#' + x.number),
      h('span', { class: 'tk-title', id: 'tk-title' }, x.title),
      statusBadge(x.status),
      priorityChip(x.priority)),
    h('div', { class: 'meta' },
      [sourceLabel(x.source), x.requester_name, formatDateTime(x.created_at)].filter(Boolean).join(' · ')),
    tk.error ? h('div', { class: 'form-error', id: 'tk-error', role: 'alert' }, tk.error) : null,
    tk.stale ? h('div', { class: 'notice-line tk-stale', id: 'tk-stale', role: 'status' },
      h('b', null, t('tk.live.changed')),
      h('span', { class: 'small' }, t('tk.live.changed.hint')),
      h('button', { type: 'button', class: 'btn btn-sm', id: 'tk-stale-reload', onclick: reloadStale }, t('tk.live.reload'))) : null);
}

function fieldRow(key, control) {
  return h('label', { class: 'tk-field' }, h('span', null, t(key)), control);
}

function renderFields(x) {
  const closed = x.status === 'closed';
  // status: the current one and the ones the life cycle allows from it
  const st = h('select', { class: 'select', id: 'tk-f-status', disabled: closed || tk.busy });
  for (const s of [x.status, ...(NEXT[x.status] || [])]) st.appendChild(h('option', { value: s }, statusLabel(s)));
  st.value = x.status;
  st.addEventListener('change', () => { if (st.value !== x.status) patch({ status: st.value }); });

  const pr = h('select', { class: 'select', id: 'tk-f-priority', disabled: closed || tk.busy });
  for (const p of PRIORITIES) pr.appendChild(h('option', { value: p }, priorityLabel(p)));
  pr.value = x.priority;
  pr.addEventListener('change', () => { if (pr.value !== x.priority) patch({ priority: pr.value }); });

  const as = h('select', { class: 'select', id: 'tk-f-assignee', disabled: closed || tk.busy });
  as.appendChild(h('option', { value: '' }, t('tk.unassigned')));
  const agents = [...tk.agents];
  if (x.assignee_id && !agents.some((a) => a.user_id === x.assignee_id)) agents.push({ user_id: x.assignee_id, name: x.assignee_name || agentName(x.assignee_id) });
  for (const a of agents) as.appendChild(h('option', { value: a.user_id }, a.name + (tk.me && a.user_id === tk.me.id ? ` (${t('agent.you')})` : '')));
  as.value = x.assignee_id || '';
  as.addEventListener('change', () => { if ((as.value || null) !== (x.assignee_id || null)) patch({ assignee_id: as.value || null }); });

  const gr = h('select', { class: 'select', id: 'tk-f-group', disabled: closed || tk.busy });
  gr.appendChild(h('option', { value: '' }, t('tk.f.no_group')));
  const groups = [...tk.groups];
  if (x.group_id && !groups.some((g) => g.id === x.group_id)) groups.push({ id: x.group_id, name: groupName(x.group_id) });
  for (const g of groups) gr.appendChild(h('option', { value: g.id }, g.name));
  gr.value = x.group_id || '';
  gr.addEventListener('change', () => { if ((gr.value || null) !== (x.group_id || null)) patch({ group_id: gr.value || null }); });

  return h('div', { class: 'tk-card tk-fields' },
    fieldRow('tk.f.status', st),
    fieldRow('tk.f.priority', pr),
    fieldRow('tk.f.assignee', as),
    fieldRow('tk.f.group', gr),
    closed ? h('div', { class: 'muted small' }, t('tk.f.closed_final')) : null,
    renderTags(x, closed));
}

function renderTags(x, closed) {
  const d = tk.tagDraft && tk.tagDraft.id === x.id ? tk.tagDraft : (tk.tagDraft = { id: x.id, tags: [...(x.tags || [])], dirty: false });
  const box = h('div', { class: 'tk-tags-edit' }, h('div', { class: 'tk-sub' }, t('tk.f.tags')));
  const tags = h('div', { class: 'seg-tags', id: 'tk-tags' });
  if (!d.tags.length) tags.appendChild(h('span', { class: 'muted small' }, t('tk.f.tags.none')));
  d.tags.forEach((tag, i) => {
    tags.appendChild(h('span', { class: 'chip tag', dataset: { tag } }, tag,
      closed ? null : h('button', {
        type: 'button', class: 'x', title: t('tk.f.tag.remove', { tag }), 'aria-label': t('tk.f.tag.remove', { tag }),
        onclick: () => { d.tags.splice(i, 1); d.dirty = true; renderDetail(); },
      }, '×')));
  });
  box.appendChild(tags);
  if (closed) return box;
  const input = h('input', { class: 'input', id: 'tk-tag-input', maxlength: '40', placeholder: t('tk.f.tag.ph') });
  input.value = tk.tagTyped;
  input.addEventListener('input', () => { tk.tagTyped = input.value; });
  const add = () => {
    const v = input.value.trim();
    if (!v) return;
    if (!d.tags.some((y) => y.toLowerCase() === v.toLowerCase())) d.tags.push(v);
    d.dirty = true;
    tk.tagTyped = '';
    renderDetail();
    const again = $('#tk-tag-input');
    if (again) again.focus();
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); add(); }
  });
  box.appendChild(h('div', { class: 'seg-add' }, input, h('button', { class: 'btn btn-sm', type: 'button', onclick: add }, t('agent.seg.add'))));
  box.appendChild(h('button', {
    class: 'btn btn-sm btn-primary', type: 'button', id: 'tk-tags-save', disabled: !d.dirty || tk.busy,
    onclick: () => {
      const pending = input.value.trim(); // a tag typed but not added counts too
      if (pending && !d.tags.some((y) => y.toLowerCase() === pending.toLowerCase())) d.tags.push(pending);
      tk.tagTyped = '';
      // the whole list is replaced: send the version we read, so nobody else's tag is dropped unseen
      patch({ tags: d.tags, version: x.version }, true);
    },
  }, t('tk.f.tags.save')));
  return box;
}

function renderFacts(x) {
  const none = t('agent.info.none');
  const row = (k, v, cls) => [h('dt', null, t(k)), h('dd', cls ? { class: cls } : null, v == null || v === '' ? none : v)];
  const conv = x.conversation_id
    ? h('button', { type: 'button', class: 'btn btn-sm tk-conv-link', id: 'tk-conv-link', dataset: { conversation: x.conversation_id }, onclick: () => ctx.openConversation(x.conversation_id) }, t('tk.f.open_conversation'))
    : null;
  return h('div', { class: 'tk-card' },
    h('dl', { class: 'kv tk-facts' },
      row('tk.f.requester', x.requester_name),
      row('tk.f.contact', x.requester_contact),
      row('tk.f.source', sourceLabel(x.source)),
      row('tk.f.conversation', conv),
      x.category ? row('tk.f.category', x.category) : null,
      x.ticket_type ? row('tk.f.type', x.ticket_type) : null,
      x.sla_policy ? row('tk.f.sla_policy', x.sla_policy) : null,
      x.first_response_due || x.resolution_due ? row('tk.f.due', h('span', { class: 'tk-dues', id: 'tk-dues' }, dueChips(x, true))) : null,
      row('tk.f.created', formatDateTime(x.created_at)),
      row('tk.f.updated', formatDateTime(x.updated_at))));
}

function renderComments(x) {
  const card = h('div', { class: 'tk-card' }, h('h4', null, t('tk.comments')));
  const thread = h('div', { class: 'tk-thread', id: 'tk-thread' });
  if (!tk.comments) thread.appendChild(h('div', { class: 'muted small' }, t('loading')));
  else if (!tk.comments.length) thread.appendChild(h('div', { class: 'muted small' }, t('tk.comments.empty')));
  for (const c of tk.comments || []) {
    // a public comment by no user is the customer's own (an e-mail reply): labelled 客户, not 回复客户
    const kind = !c.public ? 'internal' : c.author_id ? 'public' : 'customer';
    const files = Array.isArray(c.attachments) ? c.attachments : [];
    thread.appendChild(h('div', { class: `tk-comment ${kind}`, dataset: { kind, id: c.id } },
      h('div', { class: 'hd' },
        h('span', { class: 'ctag ' + kind, title: kind === 'customer' ? t('tk.comment.customer.title') : null }, t('tk.comment.' + kind)),
        h('b', null, c.author_name || ''),
        h('span', { title: formatDateTime(c.created_at) }, formatTime(c.created_at))),
      c.body || !files.length ? h('div', { class: 'bd' }, c.body) : null,
      files.length ? h('div', { class: 'tk-atts' }, files.map(attachmentEl)) : null));
  }
  card.appendChild(thread);
  if (x.status === 'closed') {
    card.appendChild(h('div', { class: 'muted small tk-closed-note' }, t('tk.comment.closed')));
    return card;
  }
  const modes = h('div', { class: 'composer-modes', id: 'tk-cmodes', role: 'tablist' },
    ['public', 'internal'].map((m) => h('button', {
      type: 'button', class: 'mode' + (tk.cmode === m ? ' active' : ''), role: 'tab', 'aria-selected': tk.cmode === m ? 'true' : 'false',
      dataset: { cmode: m }, onclick: () => { tk.cmode = m; renderDetail(); const ta = $('#tk-comment'); if (ta) ta.focus(); },
    }, t('tk.comment.' + m))));
  const ta = h('textarea', { id: 'tk-comment', class: 'textarea', rows: '3', maxlength: '20000', placeholder: t(`tk.comment.${tk.cmode}.ph`) });
  ta.value = tk.draft;
  ta.addEventListener('input', () => { tk.draft = ta.value; });
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.isComposing) { e.preventDefault(); sendComment(); }
  });
  const uploading = tk.files.some((f) => f.status === 'uploading');
  const send = h('button', {
    type: 'button', class: 'btn btn-primary btn-sm', id: 'tk-comment-send', onclick: sendComment, disabled: tk.sending,
  }, t(tk.sending && uploading ? 'agent.attach.uploading' : `tk.comment.send.${tk.cmode}`));
  const attach = h('button', {
    type: 'button', class: 'tool tk-attach', id: 'tk-attach', title: t('tk.att.title', { n: MAX_FILES }), 'aria-label': t('tk.att.title', { n: MAX_FILES }),
    disabled: tk.sending || tk.files.length >= MAX_FILES, onclick: () => { const i = $('#tk-attach-input'); if (i) i.click(); },
  }, clipIcon(), h('span', null, t('agent.attach')));
  const files = h('div', { class: 'tk-files', id: 'tk-files', hidden: !tk.files.length },
    tk.files.map((f) => h('span', { class: 'chip tk-file ' + f.status, dataset: { name: f.name, status: f.status }, title: f.name },
      h('span', { class: 'nm' }, f.name),
      h('span', { class: 'sz' }, f.status === 'uploading' ? t('agent.attach.uploading') : formatSize(f.size)),
      h('button', {
        type: 'button', class: 'x', disabled: tk.sending, title: t('tk.att.remove', { name: f.name }), 'aria-label': t('tk.att.remove', { name: f.name }),
        onclick: () => removeFile(f.key),
      }, '×'))));
  const fileErrors = tk.fileErrors.length
    ? h('div', { class: 'form-error tk-att-error', id: 'tk-att-error', role: 'alert' }, tk.fileErrors.map((m) => h('div', null, m)))
    : null;
  // a public reply is e-mailed to a requester who left an e-mail address (when the server sends e-mail); the
  // address as the server gives it (the facts above show the same)
  const contact = String(x.requester_contact || '').trim();
  const mailHint = tk.cmode === 'public' && EMAIL_LIKE.test(contact)
    ? h('div', { class: 'muted small tk-email-hint', id: 'tk-email-hint' }, '✉ ', t('tk.comment.email', { to: contact }),
      // the server e-mails the reply's text only (crates/lingxi-service/src/tickets.rs email_reply)
      tk.files.length ? h('span', { class: 'tk-email-files', id: 'tk-email-files' }, ' ', t('tk.comment.email.files')) : null)
    : null;
  card.appendChild(h('div', { class: `tk-composer ${tk.cmode}` }, modes, ta, files, fileErrors,
    h('div', { class: 'tk-composer-actions' }, attach, h('span', { class: 'muted small grow' }, t('tk.comment.hint')), send),
    mailHint));
  return card;
}

// ------------------------------------------------------------------ attachments

function attachmentUrl(a) { return `/api/v1/ticket-attachments/${encodeURIComponent(a.id)}`; }

function formatSize(n) {
  const x = Number(n) || 0;
  if (x < 1024) return t('agent.size.b', { n: x });
  if (x < 1024 * 1024) return t('agent.size.kb', { n: (x / 1024).toFixed(x < 10 * 1024 ? 1 : 0) });
  return t('agent.size.mb', { n: (x / 1024 / 1024).toFixed(1) });
}

function svgIcon(paths, width = '1.6') {
  const NS = 'http://www.w3.org/2000/svg';
  const s = document.createElementNS(NS, 'svg');
  for (const [k, v] of [['viewBox', '0 0 24 24'], ['fill', 'none'], ['stroke', 'currentColor'], ['stroke-width', width], ['stroke-linecap', 'round'], ['stroke-linejoin', 'round'], ['aria-hidden', 'true']]) s.setAttribute(k, v);
  for (const d of paths) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    s.appendChild(p);
  }
  return s;
}
const fileIcon = () => svgIcon(['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6', 'M12 18v-6', 'M9 15l3 3 3-3']);
/** 📎, as the chat composer draws it. */
const clipIcon = () => svgIcon(['M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5'], '2');

/** Saves the file, fetched with the page's session, under its own name. */
async function download(a) {
  try {
    await downloadFile(attachmentUrl(a), String(a.name || 'attachment'));
  } catch (e) {
    if (e.status !== 401) toast(t('tk.att.download_failed', { name: a.name, msg: e.detail }), 'error');
  }
}

/** A comment's file: a picture as a preview (a click opens it) with a download line; any other file as a chip. */
function attachmentEl(a) {
  const url = attachmentUrl(a);
  const name = String(a.name || t('agent.attachment'));
  const size = formatSize(a.size);
  const save = (e) => { e.preventDefault(); download(a); };
  if (RASTER_TYPES.includes(a.content_type)) {
    return h('figure', { class: 'tk-att tk-att-img', dataset: { attachment: a.id, type: a.content_type } },
      h('a', { class: 'att-img', href: url, target: '_blank', rel: 'noopener', title: t('tk.att.open', { name }) },
        h('img', { src: url, alt: name })),
      h('figcaption', null,
        h('a', { class: 'tk-att-dl', href: url, download: name, title: t('tk.att.download', { name }), onclick: save },
          h('span', { class: 'att-name' }, name), h('span', { class: 'att-size' }, size))));
  }
  return h('a', {
    class: 'att att-file tk-att tk-att-dl', href: url, download: name, title: t('tk.att.download', { name }), onclick: save,
    dataset: { attachment: a.id, type: a.content_type },
  }, fileIcon(), h('span', { class: 'att-name' }, name), h('span', { class: 'att-size' }, size));
}

function fileType(file) {
  const ty = String(file.type || '').toLowerCase();
  if (ty === 'image/jpg') return 'image/jpeg';
  if (ty === 'application/x-zip-compressed') return 'application/zip';
  if (ATTACH_TYPES.includes(ty)) return ty;
  const ext = String(file.name || '').toLowerCase().split('.').pop();
  const guessed = ({ png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', pdf: 'application/pdf',
    txt: 'text/plain', csv: 'text/csv', zip: 'application/zip' })[ext];
  return guessed || ty || 'application/octet-stream';
}

let fileSeq = 0;

/** Files picked in the composer: each is uploaded at once (the server checks it), then waits as a chip. */
function addFiles(list) {
  const id = tk.openId;
  if (!id || !tk.ticket || tk.ticket.status === 'closed' || !list.length) return;
  tk.fileErrors = [];
  for (const file of list) {
    if (tk.files.length >= MAX_FILES) { tk.fileErrors.push(t('tk.att.max', { n: MAX_FILES, name: file.name })); continue; }
    if (file.size === 0) { tk.fileErrors.push(t('agent.attach.empty', { name: file.name })); continue; }
    if (file.size > ATTACH_MAX) { tk.fileErrors.push(t('agent.attach.too_big', { name: file.name })); continue; }
    const f = { key: ++fileSeq, ticketId: id, name: file.name, size: file.size, status: 'uploading', id: null };
    f.promise = postFile(`/api/v1/tickets/${encodeURIComponent(id)}/attachments?name=${encodeURIComponent(file.name)}`, file, fileType(file))
      .then((a) => { f.id = a.id; f.status = 'ready'; if (a.name) f.name = a.name; })
      .catch((e) => {
        f.status = 'failed';
        const mine = tk.files.includes(f);
        tk.files = tk.files.filter((x) => x !== f);
        if (mine && e.status !== 401) tk.fileErrors.push(t('tk.att.refused', { name: file.name, msg: e.detail }));
      })
      .finally(() => { if (tk.openId === id && !tk.sending) renderDetail(); });
    tk.files.push(f);
  }
  renderDetail();
}

function removeFile(key) {
  tk.files = tk.files.filter((f) => f.key !== key);
  tk.fileErrors = [];
  renderDetail();
}

function historyValue(field, v, label) {
  if (v == null || v === '') return t('tk.history.none');
  if (label) return label; // the server names agents and groups, even ones since deleted
  if (field === 'status') return statusLabel(v);
  if (field === 'priority') return priorityLabel(v);
  if (field === 'assignee') return agentName(v);
  if (field === 'group') return groupName(v);
  return v;
}

function renderHistory() {
  const card = h('div', { class: 'tk-card' }, h('h4', null, t('tk.history')));
  const list = h('ol', { class: 'tk-history', id: 'tk-history' });
  if (!tk.history) list.appendChild(h('li', { class: 'muted small' }, t('loading')));
  else if (!tk.history.length) list.appendChild(h('li', { class: 'muted small' }, t('tk.history.empty')));
  // newest first
  for (const c of [...(tk.history || [])].reverse()) {
    let what;
    if (c.field === 'created') what = h('span', null, t('tk.history.created', { v: c.new_value || '' }));
    else if (c.field === 'public_reply' && !c.actor_id) what = h('span', null, t('tk.history.customer_reply'));
    else if (c.field === 'public_reply' || c.field === 'internal_note') what = h('span', null, t('tk.history.' + c.field));
    else {
      what = h('span', null,
        h('b', { class: 'fld' }, label('tk.field.', c.field)), ' ',
        h('span', { class: 'old' }, historyValue(c.field, c.old_value, c.old_label)),
        h('span', { class: 'arrow' }, ' → '),
        h('span', { class: 'new' }, historyValue(c.field, c.new_value, c.new_label)));
    }
    list.appendChild(h('li', { class: 'tk-change', dataset: { field: c.field } },
      what,
      h('div', { class: 'by' }, h('span', null, c.actor_name || ''), ' · ', h('span', { title: formatDateTime(c.created_at) }, formatDateTime(c.created_at)))));
  }
  card.appendChild(list);
  return card;
}

// ------------------------------------------------------------------ changes

/** PATCH the open ticket. A refusal (life cycle, stale version) is shown, and the ticket is read again. */
async function patch(body, tags = false) {
  const id = tk.openId;
  if (!id || tk.busy) return;
  tk.busy = true;
  tk.error = '';
  tk.notice = '';
  renderDetail();
  try {
    const x = await api(`/api/v1/tickets/${encodeURIComponent(id)}`, { method: 'PATCH', body, quiet: true });
    if (tk.openId !== id) return;
    tk.ticket = x;
    if (tags) tk.tagDraft = { id, tags: [...(x.tags || [])], dirty: false };
    if (body.custom_fields) for (const k of Object.keys(body.custom_fields)) delete tk.cfDraft[k];
    toast(t('tk.saved'), 'success', 1400);
  } catch (e) {
    if (e.status === 401 || tk.openId !== id) return;
    tk.error = e.status === 409 ? t('tk.refused', { msg: localizeRefusal(e.detail) }) : localizeFieldError(e.detail);
    if (tags && e.status === 409) tk.tagDraft = null; // read the tags again; the agent re-applies their change
  } finally {
    tk.busy = false;
  }
  // read it again (the refusal may come from someone else's change), with its history
  await loadDetail(id);
  refreshList(true);
  afterAction();
}

async function sendComment() {
  const id = tk.openId;
  const ta = $('#tk-comment');
  if (!id || !ta || tk.sending) return;
  const body = ta.value.trim();
  const mine = () => tk.files.filter((f) => f.ticketId === id);
  if (!body && !mine().length) { ta.focus(); return; }
  const isPublic = tk.cmode === 'public';
  tk.sending = true;
  tk.error = '';
  renderDetail();
  let sent = false;
  let signedOut = false;
  try {
    // files still uploading are waited for; when one is refused meanwhile, nothing is sent (the agent decides)
    const waiting = mine().filter((f) => f.status === 'uploading');
    if (waiting.length) await Promise.all(waiting.map((f) => f.promise));
    const files = mine().filter((f) => f.status === 'ready');
    if (tk.openId === id && !waiting.some((f) => f.status !== 'ready') && (body || files.length)) {
      await api(`/api/v1/tickets/${encodeURIComponent(id)}/comments`, {
        method: 'POST', quiet: true,
        body: { body, public: isPublic, attachment_ids: files.map((f) => f.id) },
      });
      sent = true;
      if (tk.openId === id) {
        tk.draft = '';
        tk.files = tk.files.filter((f) => !files.includes(f));
        tk.fileErrors = [];
      }
      toast(t(isPublic ? 'tk.comment.added.public' : 'tk.comment.added.internal'), 'success', 1600);
    }
  } catch (e) {
    if (e.status === 401) signedOut = true;
    else if (tk.openId === id) tk.error = e.status === 409 ? t('tk.refused', { msg: localizeRefusal(e.detail) }) : e.detail;
  } finally {
    tk.sending = false;
  }
  if (signedOut) return;
  if (!sent && !tk.error) {
    // nothing went (a file was refused while waiting): the composer shows why, with the draft
    if (tk.openId === id) renderDetail();
    afterAction();
    return;
  }
  // a public reply to a new ticket opens it: read the ticket, its thread and history again
  await loadDetail(id);
  refreshList(true);
  afterAction();
}

// ------------------------------------------------------------------ new ticket

function fillFormSelects() {
  const pr = $('#tk-n-priority');
  const keepP = pr.value || 'normal';
  clear(pr);
  for (const p of PRIORITIES) pr.appendChild(h('option', { value: p }, priorityLabel(p)));
  pr.value = keepP;
  const as = $('#tk-n-assignee');
  const keepA = as.value;
  clear(as);
  as.appendChild(h('option', { value: '' }, t('tk.unassigned')));
  for (const a of tk.agents) as.appendChild(h('option', { value: a.user_id }, a.name));
  as.value = keepA;
  const gr = $('#tk-n-group');
  const keepG = gr.value;
  clear(gr);
  gr.appendChild(h('option', { value: '' }, t('tk.f.no_group')));
  for (const g of tk.groups) gr.appendChild(h('option', { value: g.id }, g.name));
  gr.value = keepG;
}

function openNewForm() {
  const form = $('#tk-new-form');
  form.reset();
  form.querySelector('.form-error').hidden = true;
  fillFormSelects();
  clear($('#tk-n-fields'));
  renderFormFields();
  $('#tk-n-priority').value = 'normal';
  $('#tk-new-dialog').showModal();
  $('#tk-n-title').focus();
  loadPeople().then(() => { if ($('#tk-new-dialog').open) fillFormSelects(); });
  loadFieldDefs(); // the admin may have changed them since
}

async function submitNewForm() {
  const form = $('#tk-new-form');
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const title = $('#tk-n-title').value.trim();
  if (!title) { err.textContent = t('tk.form.need_title'); err.hidden = false; $('#tk-n-title').focus(); return; }
  const body = { title, description: $('#tk-n-desc').value, priority: $('#tk-n-priority').value || 'normal' };
  const name = $('#tk-n-name').value.trim();
  const contact = $('#tk-n-contact').value.trim();
  if (name) body.requester_name = name;
  if (contact) body.requester_contact = contact;
  if ($('#tk-n-assignee').value) body.assignee_id = $('#tk-n-assignee').value;
  if ($('#tk-n-group').value) body.group_id = $('#tk-n-group').value;
  const tags = $('#tk-n-tags').value.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
  if (tags.length) body.tags = tags;
  const cf = formFieldValues();
  if (cf.error) { err.textContent = cf.error; err.hidden = false; cf.el.focus(); return; }
  if (Object.keys(cf.values).length) body.custom_fields = cf.values;
  const btn = $('#tk-n-submit');
  btn.disabled = true;
  try {
    const x = await api('/api/v1/tickets', { method: 'POST', body, quiet: true });
    $('#tk-new-dialog').close();
    toast(t('tk.form.created', { n: x.number }), 'success', 2400);
    tk.numbers.set(x.id, x.number);
    refreshList(true);
    open(x.id);
  } catch (e) {
    if (e.status === 401) return;
    // a refused custom field: say which, in the agent's language; without the definitions, add it to the form
    if (learnFromRefusal(e.detail)) renderFormFields();
    err.textContent = localizeFieldError(e.detail);
    err.hidden = false;
    const m = /custom field "([^"]+)"/.exec(e.detail);
    const el = m && document.getElementById('tk-n-cf-' + m[1]);
    if (el) el.focus();
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------ custom fields

function defLabel(d) {
  return (lang() === 'zh' ? d.label_zh : d.label_en) || d.label_en || d.label_zh || d.key;
}

/** The definitions the New ticket form offers: the tenant's, or (when they cannot be read) those learned. */
function formDefs() {
  return tk.fieldDefs || tk.learned;
}

function defFor(key) {
  return formDefs().find((d) => d.key === key) || null;
}

function showValue(v) {
  if (v === null || v === undefined || v === '') return t('agent.info.none');
  if (typeof v === 'boolean') return t(v ? 'tk.cf.yes' : 'tk.cf.no');
  return String(v);
}

/** An input for a field of its type; `value` is the current one. */
function cfControl(d, value, id, disabled) {
  const v = value === null || value === undefined ? '' : String(value);
  let el;
  if (d.kind === 'select') {
    el = h('select', { class: 'select', id, disabled }, h('option', { value: '' }, t('tk.cf.choose')),
      (d.options || []).map((o) => h('option', { value: o }, o)));
    if (v && !(d.options || []).includes(v)) el.appendChild(h('option', { value: v }, v));
    el.value = v;
  } else {
    const type = { number: 'number', date: 'date' }[d.kind] || 'text';
    el = h('input', { class: 'input', id, type, disabled, maxlength: type === 'text' ? '2000' : null, step: type === 'number' ? 'any' : null });
    el.value = v;
  }
  return el;
}

/** The control's value for the API: { value } (null clears) or { error }. */
function readControl(d, el) {
  const s = String(el.value || '').trim();
  if (!s) return { value: null };
  if (d.kind === 'number') {
    const n = Number(s);
    return Number.isFinite(n) ? { value: n } : { error: t('tk.cf.err.number', { label: defLabel(d) }) };
  }
  return { value: s };
}

function renderCustomFields(x) {
  const values = x.custom_fields || {};
  const keys = Object.keys(values);
  const card = h('div', { class: 'tk-card tk-cf', id: 'tk-cf' }, h('h4', null, t('tk.cf.title')));
  const defs = tk.fieldDefs;
  if (!defs) {
    // the definitions are the admins': the values are shown as they are
    card.dataset.mode = 'readonly';
    if (!keys.length) card.appendChild(h('div', { class: 'muted small' }, t('tk.cf.none')));
    else {
      card.appendChild(h('dl', { class: 'kv tk-facts tk-cf-ro' }, keys.map((k) => {
        const d = tk.learned.find((y) => y.key === k);
        return [h('dt', { dataset: { key: k } }, d ? defLabel(d) : k), h('dd', { dataset: { key: k } }, showValue(values[k]))];
      })));
    }
    return card;
  }
  card.dataset.mode = 'edit';
  const extra = keys.filter((k) => !defs.some((d) => d.key === k));
  if (!defs.length && !extra.length) {
    card.appendChild(h('div', { class: 'muted small' }, t('tk.cf.none_defined')));
    return card;
  }
  const closed = x.status === 'closed';
  for (const d of defs) {
    const id = 'tk-cf-' + d.key;
    const draft = tk.cfDraft[d.key];
    const control = cfControl(d, draft !== undefined ? draft : values[d.key], id, closed || tk.busy);
    control.dataset.cf = d.key;
    control.addEventListener('input', () => { tk.cfDraft[d.key] = control.value; });
    const commit = () => {
      const r = readControl(d, control);
      if (r.error) { tk.error = r.error; renderDetail(); return; }
      const old = values[d.key] === undefined ? null : values[d.key];
      if (r.value === old) { delete tk.cfDraft[d.key]; return; }
      patch({ custom_fields: { [d.key]: r.value } });
    };
    control.addEventListener('change', commit);
    if (control.tagName === 'INPUT') {
      control.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); control.blur(); }
      });
    }
    card.appendChild(h('label', { class: 'tk-field tk-cf-field', dataset: { key: d.key, kind: d.kind } },
      h('span', { title: d.key }, defLabel(d), d.required ? h('span', { class: 'req', title: t('tk.cf.required') }, ' *') : null),
      control));
  }
  if (extra.length) {
    card.appendChild(h('dl', { class: 'kv tk-facts tk-cf-ro' }, extra.map((k) =>
      [h('dt', { dataset: { key: k } }, k), h('dd', { dataset: { key: k } }, showValue(values[k]))])));
  }
  return card;
}

/** The New ticket form's custom fields (required ones marked), keeping what was typed. */
function renderFormFields() {
  const box = $('#tk-n-fields');
  const keep = {};
  for (const el of box.querySelectorAll('[data-cf]')) keep[el.dataset.cf] = el.value;
  clear(box);
  const defs = formDefs();
  box.hidden = !defs.length;
  if (!defs.length) return;
  box.appendChild(h('div', { class: 'tk-sub' }, t('tk.cf.title')));
  if (!tk.fieldDefs) box.appendChild(h('div', { class: 'muted small tk-cf-learned' }, t('tk.cf.learned')));
  const row = h('div', { class: 'tk-form-row' });
  for (const d of defs) {
    const id = 'tk-n-cf-' + d.key;
    const c = cfControl(d, keep[d.key] ?? '', id, false);
    c.dataset.cf = d.key;
    if (d.required) c.setAttribute('aria-required', 'true');
    row.appendChild(h('div', { class: 'field tk-cf-field', dataset: { key: d.key, kind: d.kind, required: d.required ? '1' : '0' } },
      h('label', { for: id }, defLabel(d), d.required ? h('span', { class: 'req', title: t('tk.cf.required') }, ' *') : null),
      c));
  }
  box.appendChild(row);
}

/** The custom fields typed in the New ticket form: { values } or { error }. */
function formFieldValues() {
  const values = {};
  for (const el of $('#tk-n-fields').querySelectorAll('[data-cf]')) {
    const d = defFor(el.dataset.cf);
    if (!d) continue;
    const r = readControl(d, el);
    if (r.error) return { error: r.error, el };
    if (r.value !== null) values[d.key] = r.value;
  }
  return { values };
}

const CF_REQUIRED = /^custom field "([^"]+)" \((.*)\) is required\.?$/;
const CF_ONE_OF = /^custom field "([^"]+)" must be one of (.*?)\.?$/;
const CF_NUMBER = /^custom field "([^"]+)" must be a number/;
const CF_DATE = /^custom field "([^"]+)" must be a date/;
const CF_UNKNOWN = /^"([^"]+)" is not a custom field of this tenant/;

/**
 * Without the definitions (agents), the server's refusals name the fields it wants: they are added to the form
 * (a required one, then its type and choices). Answers whether the form changed.
 */
function learnFromRefusal(msg) {
  if (tk.fieldDefs) return false;
  const m0 = String(msg || '');
  const upsert = (key, change) => {
    let d = tk.learned.find((y) => y.key === key);
    if (!d) { d = { key, label_zh: key, label_en: key, kind: 'text', options: [], required: false }; tk.learned.push(d); }
    Object.assign(d, change);
    return true;
  };
  let m = CF_REQUIRED.exec(m0);
  if (m) return upsert(m[1], { label_zh: m[2] || m[1], label_en: m[2] || m[1], required: true });
  m = CF_ONE_OF.exec(m0);
  if (m) return upsert(m[1], { kind: 'select', options: m[2].split(', ').filter(Boolean) });
  m = CF_NUMBER.exec(m0);
  if (m) return upsert(m[1], { kind: 'number' });
  m = CF_DATE.exec(m0);
  if (m) return upsert(m[1], { kind: 'date' });
  m = CF_UNKNOWN.exec(m0);
  if (m) {
    const before = tk.learned.length;
    tk.learned = tk.learned.filter((y) => y.key !== m[1]);
    return tk.learned.length !== before;
  }
  return false;
}

/** The server's custom-field refusals in the agent's language; other messages as they are. */
export function localizeFieldError(msg) {
  const m0 = String(msg || '');
  const name = (key, fallback) => { const d = defFor(key); return d ? defLabel(d) : (fallback || key); };
  let m = CF_REQUIRED.exec(m0);
  if (m) return t('tk.cf.err.required', { label: name(m[1], m[2]) });
  m = CF_ONE_OF.exec(m0);
  if (m) return t('tk.cf.err.one_of', { label: name(m[1]), options: m[2] });
  m = CF_NUMBER.exec(m0);
  if (m) return t('tk.cf.err.number', { label: name(m[1]) });
  m = CF_DATE.exec(m0);
  if (m) return t('tk.cf.err.date', { label: name(m[1]) });
  m = CF_UNKNOWN.exec(m0);
  if (m) return t('tk.cf.err.unknown', { key: m[1] });
  return m0;
}

// ------------------------------------------------------------------ SLA compliance report (supervisors and above)

function isoDay(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function openSlaReport() {
  if (!canSeeReport()) return;
  if (!tk.sla.from) {
    const now = new Date();
    tk.sla.from = isoDay(new Date(now.getTime() - 29 * 86_400_000));
    tk.sla.to = isoDay(now);
  }
  $('#tk-sla-by').value = tk.sla.by;
  $('#tk-sla-from').value = tk.sla.from;
  $('#tk-sla-to').value = tk.sla.to;
  renderSlaReport();
  $('#tk-sla-dialog').showModal();
  loadSlaReport();
}

async function loadSlaReport() {
  tk.sla.by = $('#tk-sla-by').value || 'group';
  tk.sla.from = $('#tk-sla-from').value;
  tk.sla.to = $('#tk-sla-to').value;
  if (tk.sla.from && tk.sla.to && tk.sla.from > tk.sla.to) {
    tk.sla.error = t('tk.sla.err.range');
    renderSlaReport();
    return;
  }
  const p = new URLSearchParams({ by: tk.sla.by });
  if (tk.sla.from) p.set('from', tk.sla.from);
  if (tk.sla.to) p.set('to', tk.sla.to);
  tk.sla.loading = true;
  tk.sla.error = '';
  renderSlaReport();
  try {
    tk.sla.data = await api('/api/v1/sla/report?' + p.toString(), { quiet: true });
  } catch (e) {
    if (e.status === 401) return;
    tk.sla.data = null;
    tk.sla.error = e.detail;
  } finally {
    tk.sla.loading = false;
  }
  renderSlaReport();
}

/** A duration in seconds, short: 45 秒 / 12 分钟 / 3.5 小时 / 1.2 天. */
export function formatDuration(secs) {
  if (secs == null || !Number.isFinite(secs)) return '—';
  const round1 = (n) => String(Math.round(n * 10) / 10);
  if (secs < 60) return t('tk.dur.s', { n: Math.round(secs) });
  if (secs < 3600) return t('tk.dur.m', { n: Math.round(secs / 60) });
  if (secs < 86_400) return t('tk.dur.h', { n: round1(secs / 3600) });
  return t('tk.dur.d', { n: round1(secs / 86_400) });
}

function pctCell(c) {
  if (!c || c.met_pct == null) return h('td', { class: 'num muted' }, '—');
  const p = c.met_pct;
  return h('td', { class: 'num pct ' + (p >= 90 ? 'good' : p >= 70 ? 'warn' : 'bad'), title: t('tk.sla.met_of', { met: c.met, n: c.met + c.breached, pending: c.pending }) }, `${p}%`);
}

function slaLine(line, overall) {
  const fr = line.first_response || {};
  const rs = line.resolution || {};
  const name = overall ? t('tk.sla.overall') : (line.key ? line.name : t('tk.sla.unset.' + tk.sla.by));
  return h('tr', { class: overall ? 'overall' : 'line', dataset: { key: overall ? '__all' : (line.key || '') } },
    h('td', { class: 'name' }, name),
    h('td', { class: 'num' }, String(line.tickets ?? 0)),
    pctCell(fr),
    h('td', { class: 'num' + (fr.breached ? ' breached' : '') }, String(fr.breached ?? 0)),
    h('td', { class: 'num' }, formatDuration(fr.avg_secs)),
    pctCell(rs),
    h('td', { class: 'num' + (rs.breached ? ' breached' : '') }, String(rs.breached ?? 0)),
    h('td', { class: 'num' }, formatDuration(rs.avg_secs)));
}

function renderSlaReport() {
  const s = tk.sla;
  const err = $('#tk-sla-error');
  err.textContent = s.error;
  err.hidden = !s.error;
  $('#tk-sla-run').disabled = s.loading;
  const body = $('#tk-sla-body');
  const foot = $('#tk-sla-foot');
  clear(body);
  clear(foot);
  const d = s.data;
  $('#tk-sla-period').textContent = d ? t('tk.sla.period', { from: formatDateTime(d.from), to: formatDateTime(d.to) }) : '';
  if (!d || !(d.items || []).length) {
    body.appendChild(h('tr', null, h('td', { colspan: '8', class: 'empty-row' }, t(s.loading ? 'loading' : d ? 'tk.sla.empty' : 'tk.sla.none'))));
    if (d) foot.appendChild(slaLine(d.overall || {}, true));
    return;
  }
  for (const line of d.items) body.appendChild(slaLine(line, false));
  foot.appendChild(slaLine(d.overall || {}, true));
}
