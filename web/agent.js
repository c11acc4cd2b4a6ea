// Lingxi agent workspace: conversation list (views, search, filters, unread), chat pane (typing, receipts,
// attachments, canned replies), visitor card (identity, value, browsing track, orders, history), routing (status,
// transfer, takeover, internal notes, assignment explanations, visitor segments), the bot (智能推荐 assist panel, the
// handoff summary, give back to the bot, the page's business context, the bot's decisions); for those who may
// (manage_customer_data), a visitor's personal data exported or erased from the card. All visitor, agent, bot and
// knowledge-base text is rendered as text.
import {
  api, t, h, $, clear, initLang, onLangChange, initAuth, LiveSocket, wsUrl, getToken, toast, ApiError,
  formatTime, formatDateTime, roleLabel, initials, hueOf, uuid, lang, initPasswordChange, downloadFile, postFile, PASSWORD_MIN,
} from '/common.js';
import { initTickets } from '/tickets.js';

const SCOPES = ['mine', 'queue', 'all'];
const SCOPE_KEY = 'lingxi:agent:scope';
const VIEW_KEY = 'lingxi:agent:view';
const DEFAULT_FILTERS = { status: 'open', channel: '', tag: '', agent: '', from: '', to: '' };
const TYPING_EVERY_MS = 3000; // send `typing: true` at most this often while typing
const TYPING_IDLE_MS = 4000;  // no keystroke for this long: `typing: false`
const TYPING_TTL_MS = 6000;   // a received `typing: true` expires after this long without a repeat
const ATTACH_MAX = 10 * 1024 * 1024;
const ATTACH_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'text/csv', 'application/zip'];
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

const state = {
  me: null,
  convs: new Map(),     // id -> conversation (every one we know of; the list shows those of the current query)
  unread: new Map(),    // id -> visitor messages the caller has not read (from the server, then counted live)
  readSent: new Map(),  // id -> highest seq we told the server we read
  receipts: new Map(),  // id -> { delivered, read }: how far the visitor's widget got
  typing: new Map(),    // id -> time until which the visitor counts as typing
  scope: 'mine',        // mine | queue | all
  q: '',                // search words (server-side)
  filters: { ...DEFAULT_FILTERS },
  listIds: new Set(),   // ids the server answered for the current query
  matched: new Map(),   // id -> the newest message matching q (or null: the visitor's name matched)
  listError: '',
  listLoading: false,
  listSeq: 0,
  selectedId: null,
  socket: null,
  everConnected: false,
  chat: null,           // { id, maxSeq, seqEls: Map, pending: Map(client_id -> row), loading, syncing, again, lastRow }
  agents: [],           // AgentProfile[] from GET /agents (status, connected, load, capacity)
  groups: new Map(),    // group id -> SkillGroup
  myStatus: null,       // online | busy | away | offline
  composeMode: 'reply', // reply | note
  visitor: null,        // the open conversation's visitor record (tags, vip)
  segDraft: null,       // { visitorId, tags, vip, dirty } being edited
  card: null,           // { visitorId, data, error } : GET /visitors/{id}/card
  cardEdit: null,       // { name, email, phone, attrs: [[k, v, removed]], add: [[k, v]] } while editing the profile
  why: null,            // { convId, key, items, error }: the open conversation's assignment explanations
  canned: null,         // { convId, items, error }: canned replies with previews for the open conversation
  assist: null,         // { convId, text, items, error, loading }: GET /conversations/{id}/assist
  decisions: null,      // { convId, items, error }: GET /conversations/{id}/decisions (loaded when opened)
  erase: null,          // { visitorId, name, convId }: the visitor the erase dialog is open for
  view: 'chats',        // chats | tickets
};
const ASSIST_KEY = 'lingxi:agent:assist'; // '0': the assist panel is folded
const STATUSES = ['online', 'busy', 'away', 'offline'];

// ------------------------------------------------------------------ bootstrap

initLang();
const tickets = initTickets({ openConversation });
// A password-reset link (/agent#reset=lxr_…): the 设置新密码 form first; the sign-in starts once it is done or left.
let auth = null;
function startAuth(resume = true) {
  if (!auth) auth = initAuth({ onReady: start, onLogout: stop, resume });
}
const resetToken = resetTokenOf(location.hash);
if (resetToken) showPasswordReset(resetToken); else startAuth();
$('#logout').addEventListener('click', () => auth && auth.logout());
initPasswordChange($('#change-password'), { getEmail: () => state.me && state.me.email });
onLangChange(() => {
  renderMe(); renderList(); renderChatHead(); renderInfo(); renderComposer(); rerenderMessages();
  renderMyStatus(); renderSegments(); renderWhy(); renderCard(); renderTyping(); renderAgentFilter();
  renderAssist(); renderDecisions(); renderContext();
  if ($('#transfer-dialog').open) renderTransferLists();
  if ($('#canned-dialog').open) renderCannedManager();
  if ($('#erase-dialog').open) renderErase();
  if (!$('#canned-pop').hidden) renderCannedPop();
  setConn(state.connState || 'connecting');
  tickets.render();
});
for (const b of document.querySelectorAll('#views .vs')) b.addEventListener('click', () => setView(b.dataset.view));
$('#btn-ticket').addEventListener('click', createTicket);

for (const btn of document.querySelectorAll('#tabs .tab')) {
  btn.addEventListener('click', () => setScope(btn.dataset.tab));
}
let searchTimer = null;
$('#search').addEventListener('input', (e) => {
  const v = e.target.value.trim().slice(0, 200);
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { if (v !== state.q) { state.q = v; refreshList(true); } }, 300);
});
$('#search').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') { clearTimeout(searchTimer); state.q = e.target.value.trim().slice(0, 200); refreshList(true); }
});
$('#filter-toggle').addEventListener('click', () => {
  const box = $('#filters');
  box.hidden = !box.hidden;
  $('#filter-toggle').setAttribute('aria-expanded', box.hidden ? 'false' : 'true');
});
let filterTimer = null;
for (const [id, key] of [['#f-status', 'status'], ['#f-channel', 'channel'], ['#f-tag', 'tag'], ['#f-agent', 'agent'], ['#f-from', 'from'], ['#f-to', 'to']]) {
  const el = $(id);
  const apply = () => {
    const v = el.value.trim();
    if (state.filters[key] === v) return;
    state.filters[key] = v;
    renderFilterCount();
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => refreshList(true), key === 'tag' ? 350 : 0);
  };
  el.addEventListener(el.tagName === 'SELECT' || el.type === 'date' ? 'change' : 'input', apply);
}
$('#f-clear').addEventListener('click', () => {
  state.filters = { ...DEFAULT_FILTERS };
  syncFilterInputs();
  renderFilterCount();
  refreshList(true);
});
$('#btn-claim').addEventListener('click', claim);
$('#btn-close').addEventListener('click', closeConv);
$('#btn-transfer').addEventListener('click', openTransfer);
$('#btn-takeover').addEventListener('click', takeOver);
$('#btn-takeback').addEventListener('click', takeBack);
$('#my-status').addEventListener('change', (e) => setMyStatus(e.target.value));
for (const b of document.querySelectorAll('#composer-modes .mode')) {
  b.addEventListener('click', () => { setComposeMode(b.dataset.mode); reply.focus(); });
}
$('#transfer-form').addEventListener('submit', (e) => { e.preventDefault(); submitTransfer(); });
$('#transfer-cancel').addEventListener('click', () => $('#transfer-dialog').close());
$('#erase-form').addEventListener('submit', (e) => { e.preventDefault(); submitErase(); });
$('#erase-cancel').addEventListener('click', () => $('#erase-dialog').close());
$('#erase-dialog').addEventListener('close', () => { state.erase = null; });
$('#reply-form').addEventListener('submit', (e) => { e.preventDefault(); sendReply(); });
const reply = $('#reply');
reply.addEventListener('keydown', (e) => {
  if (cannedKeydown(e)) return;
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    sendReply();
  }
});
reply.addEventListener('input', () => { autosizeReply(); onComposerInput(); });
reply.addEventListener('blur', () => { setTimeout(() => { if (document.activeElement !== reply) typingStop(); }, 150); });
reply.addEventListener('click', slashSuggest);
function autosizeReply() {
  reply.style.height = 'auto';
  reply.style.height = Math.min(160, Math.max(42, reply.scrollHeight)) + 'px';
}
$('#btn-attach').addEventListener('click', () => $('#attach-input').click());
$('#attach-input').addEventListener('change', (e) => {
  const files = [...(e.target.files || [])];
  e.target.value = '';
  for (const f of files) sendAttachment(f);
});
$('#btn-canned').addEventListener('click', () => { if ($('#canned-pop').hidden) openCannedMenu(); else closeCannedPop(); });
$('#canned-filter').addEventListener('input', renderCannedPop);
$('#canned-filter').addEventListener('keydown', (e) => {
  if (e.key === 'Escape') { e.preventDefault(); closeCannedPop(); reply.focus(); return; }
  cannedKeydown(e);
});
$('#canned-manage').addEventListener('click', () => { closeCannedPop(); openCannedManager(); });
document.addEventListener('mousedown', (e) => {
  const pop = $('#canned-pop');
  if (!pop.hidden && !pop.contains(e.target) && e.target !== reply && !$('#btn-canned').contains(e.target)) closeCannedPop();
});
$('#canned-close').addEventListener('click', () => $('#canned-dialog').close());
$('#canned-form').addEventListener('submit', (e) => { e.preventDefault(); saveCanned(); });
$('#cr-reset').addEventListener('click', () => editCanned(null));
$('#cr-new').addEventListener('click', () => { editCanned(null); $('#cr-shortcut').focus(); });
for (const v of ['visitor.name', 'agent.name', 'tenant.name', 'visitor.email', 'visitor.phone']) {
  $('#cr-vars').appendChild(h('button', {
    type: 'button', class: 'chip var', dataset: { var: v },
    onclick: () => insertAtCursor($('#cr-text'), `{{${v}}}`),
  }, `{{${v}}}`));
}

async function start(user) {
  state.me = user;
  renderMe();
  state.convs.clear();
  state.unread.clear();
  state.readSent.clear();
  state.receipts.clear();
  state.typing.clear();
  state.q = '';
  $('#search').value = '';
  state.filters = { ...DEFAULT_FILTERS };
  syncFilterInputs();
  renderFilterCount();
  $('#tabs .tab[data-tab="all"]').hidden = !isSupervisor();
  let saved = null;
  try { saved = sessionStorage.getItem(SCOPE_KEY); } catch (_) { /* ignore */ }
  if (!SCOPES.includes(saved) || (saved === 'all' && !isSupervisor())) saved = null;
  state.scope = saved || 'mine';
  renderScopeTabs();
  await refreshList(true);
  // nothing of mine yet but people waiting: start on the queue
  if (!saved && countFor('mine') === 0 && countFor('queue') > 0) setScope('queue');
  loadGroups();
  connectSocket();
  tickets.start(user);
  loadAgents();
  const hash = new URLSearchParams(location.hash.slice(1));
  const wanted = hash.get('c');
  const wantedTicket = hash.get('t');
  let view = null;
  try { view = sessionStorage.getItem(VIEW_KEY); } catch (_) { /* ignore */ }
  if (wantedTicket) view = 'tickets';
  else if (wanted) view = 'chats';
  setView(view === 'tickets' ? 'tickets' : 'chats');
  if (wantedTicket) tickets.open(wantedTicket);
  if (wanted) openById(wanted);
}

// ------------------------------------------------------------------ password reset (a link an administrator issued)

/** The token of a reset link's fragment (`#reset=lxr_…`), else null. It is only ever sent in the reset POST's body. */
function resetTokenOf(hash) {
  if (!hash.startsWith('#reset=')) return null;
  let token = hash.slice('#reset='.length).split('&')[0];
  try { token = decodeURIComponent(token); } catch (_) { /* kept as is: the server refuses it */ }
  return token.trim() || null;
}

/** Drops the fragment from the address bar (and this history entry) without reloading. */
function clearHash() {
  history.replaceState(null, '', location.pathname + location.search);
}

/**
 * The 设置新密码 / Set a new password form in place of the login form: new password + repeat, checked in the page
 * (length, match), then POST /api/v1/auth/password-reset. The server's refusal (a dead link, a weak password: the link
 * still works then) is shown in the form; on success the fragment goes, the login form comes back with the account's
 * e-mail filled in and a notice (every session of that user was signed out, so nobody is signed in to resume).
 */
function showPasswordReset(token) {
  const form = $('#reset-form');
  const loginForm = $('#login-form');
  const err = $('[data-testid="reset-error"]', form);
  const next = $('#reset-new');
  const again = $('#reset-confirm');
  const submit = $('[data-testid="reset-submit"]', form);
  let busy = false;
  const showForm = (resetting) => {
    form.hidden = !resetting;
    loginForm.hidden = resetting;
    $('#login-title').hidden = resetting;
    $('#login-lead').hidden = resetting;
  };
  const fail = (message, input) => {
    err.textContent = message;
    err.hidden = false;
    if (input) { input.focus(); input.select(); }
  };
  const leave = () => {
    token = null;
    form.reset();
    err.hidden = true;
    showForm(false);
  };
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
  showForm(true);
  setTimeout(() => next.focus(), 0);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy || !token) return;
    err.hidden = true;
    if (next.value.length < PASSWORD_MIN) return fail(t('password.too_short', { n: PASSWORD_MIN }), next);
    if (next.value !== again.value) return fail(t('password.mismatch'), again);
    busy = true;
    submit.disabled = true;
    submit.textContent = t('reset.busy');
    try {
      const res = await api('/api/v1/auth/password-reset', {
        method: 'POST', auth: false, quiet: true, body: { token, new_password: next.value },
      });
      clearHash();
      leave();
      const notice = $('[data-testid="login-notice"]', loginForm);
      notice.textContent = t('reset.done');
      notice.hidden = false;
      $('#login-email').value = (res && res.email) || '';
      startAuth(false);
    } catch (e) {
      // 400: the link is dead (unknown, used, expired) or the password is refused (the link still works); 429
      fail(e.message || e.detail || t('error.generic'), e.status === 400 && !/link/i.test(e.detail) ? next : null);
    } finally {
      busy = false;
      submit.disabled = false;
      submit.textContent = t('reset.submit');
    }
  });
  $('[data-testid="reset-back"]', form).addEventListener('click', () => {
    clearHash();
    leave();
    startAuth();
  });
}

/** Open a conversation by id, fetching it first when the list does not hold it (deep links, other views). */
async function openById(id) {
  if (!state.convs.has(id)) {
    try { upsert(await api(`/api/v1/conversations/${encodeURIComponent(id)}`, { quiet: true })); } catch (e) {
      if (e.status !== 401) toast(e.detail, 'error');
      return;
    }
  }
  select(id);
}

// ------------------------------------------------------------------ view switch: conversations | tickets

function setView(view) {
  if (view !== 'tickets') view = 'chats';
  state.view = view;
  try { sessionStorage.setItem(VIEW_KEY, view); } catch (_) { /* ignore */ }
  $('#chats-view').hidden = view !== 'chats';
  $('#tickets-view').hidden = view !== 'tickets';
  for (const b of document.querySelectorAll('#views .vs')) {
    const on = b.dataset.view === view;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  if (view === 'tickets') tickets.show(); else tickets.hide();
}

/** From a ticket or the visitor card: back to the conversations, with this one open. */
async function openConversation(id) {
  setView('chats');
  if (!state.convs.has(id)) {
    try { upsert(await api(`/api/v1/conversations/${encodeURIComponent(id)}`, { quiet: true })); } catch (e) { toast(e.detail, 'error'); return; }
  }
  const c = state.convs.get(id);
  if (c && !listed(c)) {
    // show it where it lives: my view, the queue, or (supervisors) everything; any status
    const scope = assignedToMe(c) ? 'mine' : (c.status === 'queued' && inMyGroups(c)) ? 'queue' : isSupervisor() ? 'all' : state.scope;
    if (!matchesFilters(c) || state.q) {
      state.q = ''; $('#search').value = '';
      state.filters = { ...DEFAULT_FILTERS, status: '' };
      syncFilterInputs(); renderFilterCount();
    }
    if (scope !== state.scope) setScope(scope); else refreshList(true);
  }
  select(id);
}

/** 创建工单: one click from the open conversation; says so when the conversation already had one. */
async function createTicket() {
  const id = state.selectedId;
  if (!id) return;
  const btn = $('#btn-ticket');
  btn.disabled = true;
  try {
    const res = await api(`/api/v1/conversations/${encodeURIComponent(id)}/ticket`, { method: 'POST', body: {}, quiet: true, full: true });
    const tkt = res.data;
    const existed = res.status === 200;
    const msg = t(existed ? 'agent.ticket.existed' : 'agent.ticket.created', { n: tkt.number });
    toast(msg, existed ? 'info' : 'success', 3600);
    setView('tickets');
    tickets.open(tkt.id, existed ? msg : '');
    scheduleCardRefresh();
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error');
  } finally {
    btn.disabled = false;
  }
}

function stop() {
  tickets.stop();
  typingStop();
  if (state.socket) state.socket.stop();
  if ($('#transfer-dialog').open) $('#transfer-dialog').close();
  if ($('#canned-dialog').open) $('#canned-dialog').close();
  if ($('#erase-dialog').open) $('#erase-dialog').close();
  closeCannedPop();
  state.myStatus = null;
  state.agents = [];
  renderMyStatus();
  state.socket = null;
  state.selectedId = null;
  state.chat = null;
  state.card = null;
  state.cardEdit = null;
  state.canned = null;
  state.assist = null;
  state.decisions = null;
  state.convs.clear();
  state.unread.clear();
  state.typing.clear();
  showChat(false);
  updateTitle();
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

// ------------------------------------------------------------------ data

function listParams(scope, filters, q) {
  const p = new URLSearchParams();
  p.set('view', scope);
  if (filters.status) p.set('status', filters.status);
  if (q) p.set('q', q);
  if (filters.channel) p.set('channel', filters.channel);
  if (filters.tag) p.set('tag', filters.tag);
  if (filters.agent) p.set('agent', filters.agent);
  if (filters.from) p.set('from', filters.from);
  if (filters.to) p.set('to', filters.to);
  p.set('limit', '200');
  return p.toString();
}

/**
 * Reload the list: the current view with its search and filters, plus my open conversations and the queue
 * (unfiltered) for the tab counters. The newest call wins when several overlap.
 */
async function refreshList(quiet = false) {
  if (!state.me) return;
  const seq = ++state.listSeq;
  state.listLoading = true;
  const main = `/api/v1/conversations?${listParams(state.scope, state.filters, state.q)}`;
  const counters = [
    `/api/v1/conversations?${listParams('mine', { ...DEFAULT_FILTERS }, '')}`,
    `/api/v1/conversations?view=queue&status=queued&limit=200`,
  ].filter((u) => u !== main);
  const answers = await Promise.allSettled([main, ...counters].map((u) => api(u, { quiet: true })));
  if (seq !== state.listSeq) return; // a newer query is on its way
  state.listLoading = false;
  const seen = new Set();
  const take = (items) => {
    for (const c of items || []) {
      seen.add(c.id);
      if (typeof c.unread === 'number') {
        const open = c.id === state.selectedId && !document.hidden && state.view === 'chats';
        if (open && c.unread > 0) markRead(c.id, c.last_seq || 0); else setUnread(c.id, c.unread);
      }
      noteReceipt(c.id, c.visitor_delivered_seq, c.visitor_read_seq);
      upsert(c, false);
    }
  };
  const [first, ...rest] = answers;
  if (first.status === 'fulfilled') {
    const items = first.value.items || [];
    state.listIds = new Set(items.map((c) => c.id));
    state.matched = new Map(state.q ? items.map((c) => [c.id, c.matched || null]) : []);
    state.listError = '';
    take(items);
  } else {
    const e = first.reason;
    if (e && e.status === 401) return;
    state.listIds = new Set();
    state.matched = new Map();
    state.listError = (e && e.detail) || t('error.generic');
    if (!quiet) toast(state.listError, 'error');
  }
  for (const r of rest) if (r.status === 'fulfilled') take(r.value.items);
  // forget what no answer holds any more (the open conversation stays)
  if (first.status === 'fulfilled') {
    for (const id of [...state.convs.keys()]) {
      if (!seen.has(id) && id !== state.selectedId) { state.convs.delete(id); state.unread.delete(id); }
    }
  }
  renderList();
  if (state.selectedId) { renderChatHead(); renderInfo(); renderComposer(); }
}

function upsert(c, render = true) {
  if (!c || !c.id) return;
  const prev = state.convs.get(c.id);
  // `conversation` frames and the claim/close/get answers carry no last_message: keep the one we know, and keep
  // the freshest one if frames arrive out of order
  if (prev && prev.last_message && (!c.last_message || prev.last_message.seq > c.last_message.seq)) {
    c = { ...c, last_message: prev.last_message, last_seq: Math.max(prev.last_seq || 0, c.last_seq || 0) };
  }
  state.convs.set(c.id, c);
  noteReceipt(c.id, c.visitor_delivered_seq, c.visitor_read_seq);
  if (render && c.status === 'queued' && (!prev || prev.status !== 'queued') && inMyGroups(c)) {
    toast(t('agent.new_queued', { name: visitorName(c) }), 'info', 4000);
  }
  if (render) {
    renderList();
    if (c.id === state.selectedId) {
      renderChatHead(); renderInfo(); renderComposer();
      if (state.why && state.why.key !== whyKey(c)) loadWhy(c);
      scheduleCardRefresh();
    }
    // only the server can say whether a search or a tag filter matches a conversation it has not listed
    if ((state.q || state.filters.tag) && !state.listIds.has(c.id)) scheduleListRefresh();
  }
  if (c.group_id && !state.groups.has(c.group_id)) loadGroups();
}

function setUnread(id, n) {
  if (n > 0) state.unread.set(id, n); else state.unread.delete(id);
}

/** POST /read up to `seq` (never backwards) and clear the badge. */
function markRead(id, seq) {
  setUnread(id, 0);
  if (!seq || seq <= (state.readSent.get(id) || 0)) return;
  state.readSent.set(id, seq);
  api(`/api/v1/conversations/${encodeURIComponent(id)}/read`, { method: 'POST', body: { seq }, quiet: true })
    .catch(() => { if ((state.readSent.get(id) || 0) === seq) state.readSent.delete(id); });
}

function noteReceipt(id, delivered, read) {
  if (typeof delivered !== 'number' && typeof read !== 'number') return;
  const r = state.receipts.get(id) || { delivered: 0, read: 0 };
  const next = { delivered: Math.max(r.delivered, delivered || 0, read || 0), read: Math.max(r.read, read || 0) };
  if (next.delivered === r.delivered && next.read === r.read && state.receipts.has(id)) return;
  state.receipts.set(id, next);
  if (state.chat && state.chat.id === id) renderReceipts();
}

/** Serving it now. */
function isMine(c) { return c.status === 'assigned' && assignedToMe(c); }
function assignedToMe(c) { return !!(c && c.assigned_agent && state.me && c.assigned_agent.id === state.me.id); }

/** Queued in one of my groups, or in no group (what the server's `queue` view holds). */
function inMyGroups(c) {
  if (!c.group_id) return true;
  const me = state.agents.find((a) => state.me && a.user_id === state.me.id);
  if (!me) return true; // not known yet: the server's answer decides
  return (me.groups || []).includes(c.group_id);
}

function inScope(c, scope) {
  switch (scope) {
    case 'mine': return assignedToMe(c);
    case 'queue': return c.status === 'queued' && inMyGroups(c);
    case 'all': return isSupervisor();
    default: return false;
  }
}

function dayOf(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The filters the page can check itself (status, channel, agent, dates); search words and tags only the server can. */
function matchesFilters(c) {
  const f = state.filters;
  if (f.status === 'open' && c.status === 'closed') return false;
  if (f.status && f.status !== 'open' && c.status !== f.status) return false;
  if (f.channel && c.channel !== f.channel) return false;
  if (f.agent && (!c.assigned_agent || c.assigned_agent.id !== f.agent)) return false;
  const day = dayOf(c.created_at);
  if (f.from && day && day < f.from) return false;
  if (f.to && day && day > f.to) return false;
  return true;
}

/** Is the conversation in the list as it stands (server answer, kept current by live frames)? */
function listed(c) {
  if (!inScope(c, state.scope) || !matchesFilters(c)) return false;
  if (state.listIds.has(c.id)) return true;
  return !state.q && !state.filters.tag;
}

function countFor(scope) {
  let n = 0;
  for (const c of state.convs.values()) if (inScope(c, scope) && c.status !== 'closed') n++;
  return n;
}

function activity(c) {
  return (c.last_message && c.last_message.created_at) || c.updated_at || c.created_at || '';
}

function visitorName(c) {
  return (c && c.visitor && c.visitor.name) || t('agent.visitor.anon');
}

let listTimer = null;
function scheduleListRefresh(ms = 1200) {
  if (listTimer) return;
  listTimer = setTimeout(() => { listTimer = null; refreshList(true); }, ms);
}

// ------------------------------------------------------------------ list

function setScope(scope) {
  if (!SCOPES.includes(scope) || (scope === 'all' && !isSupervisor())) scope = 'mine';
  const changed = scope !== state.scope;
  state.scope = scope;
  try { sessionStorage.setItem(SCOPE_KEY, scope); } catch (_) { /* ignore */ }
  renderScopeTabs();
  if (changed) { state.listIds = new Set(); state.matched = new Map(); }
  renderList();
  refreshList(true);
}

function renderScopeTabs() {
  for (const b of document.querySelectorAll('#tabs .tab')) {
    const on = b.dataset.tab === state.scope;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
}

function syncFilterInputs() {
  const f = state.filters;
  $('#f-status').value = f.status;
  $('#f-channel').value = f.channel;
  $('#f-tag').value = f.tag;
  renderAgentFilter();
  $('#f-from').value = f.from;
  $('#f-to').value = f.to;
}

function renderFilterCount() {
  let n = 0;
  for (const k of Object.keys(DEFAULT_FILTERS)) if ((state.filters[k] || '') !== DEFAULT_FILTERS[k]) n++;
  const el = $('#filter-n');
  el.hidden = n === 0;
  el.textContent = String(n);
  $('#filter-toggle').classList.toggle('on', n > 0);
}

/** The agent filter's choices come from GET /agents. */
let agentFilterKey = '';
function renderAgentFilter() {
  const sel = $('#f-agent');
  const keep = state.filters.agent;
  // rebuilt only when the choices change (GET /agents comes back often)
  const key = [lang(), keep, ...state.agents.map((a) => `${a.user_id}:${a.name}`)].join('|');
  if (key === agentFilterKey && sel.options.length) { sel.value = keep; return; }
  agentFilterKey = key;
  clear(sel);
  sel.appendChild(h('option', { value: '' }, t('agent.filter.any')));
  const agents = [...state.agents].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  if (keep && !agents.some((a) => a.user_id === keep)) sel.appendChild(h('option', { value: keep }, keep));
  for (const a of agents) {
    sel.appendChild(h('option', { value: a.user_id }, a.name + (state.me && a.user_id === state.me.id ? ` (${t('agent.you')})` : '')));
  }
  sel.value = keep;
}

function renderList() {
  if (!state.me) return;
  for (const scope of ['mine', 'queue']) {
    const el = document.querySelector(`[data-count="${scope}"]`);
    const n = countFor(scope);
    el.hidden = n === 0;
    el.textContent = n > 99 ? '99+' : String(n);
  }
  const list = $('#conv-list');
  const items = [...state.convs.values()]
    .filter(listed)
    .sort(state.scope === 'queue' ? queueOrder : (a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : 0));
  clear(list);
  list.dataset.scope = state.scope;
  list.dataset.q = state.q;
  if (state.listError) {
    list.appendChild(h('div', { class: 'list-error', role: 'alert' }, state.listError));
  } else if (!items.length) {
    const key = state.q ? 'agent.list.empty.search' : (hasFilters() ? 'agent.list.empty.filtered' : 'agent.list.empty.' + state.scope);
    list.appendChild(h('div', { class: 'list-empty' },
      svgIcon(['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z']),
      t(key, { q: state.q })));
  }
  for (const c of items) list.appendChild(convItem(c));
  updateTitle();
}

function hasFilters() {
  return Object.keys(DEFAULT_FILTERS).some((k) => (state.filters[k] || '') !== DEFAULT_FILTERS[k]);
}

/** The order the dispatcher serves the queue in: higher priority first, then who has waited longest. */
function queueOrder(a, b) {
  const pa = a.priority || 0;
  const pb = b.priority || 0;
  if (pa !== pb) return pb - pa;
  const qa = a.queued_at || a.updated_at || '';
  const qb = b.queued_at || b.updated_at || '';
  return qa < qb ? -1 : qa > qb ? 1 : 0;
}

function isVip(c) {
  if (!c) return false;
  if ((c.priority || 0) >= 100) return true;
  return !!(state.visitor && c.visitor && state.visitor.id === c.visitor.id && state.visitor.vip);
}

function isTyping(id) {
  const until = state.typing.get(id);
  return !!until && until > Date.now();
}

/** The search words: whitespace-separated, as the server splits them. */
function qWords() {
  return state.q.split(/\s+/).map((w) => w.trim()).filter(Boolean);
}

/** A short piece of `text` around the first search word, the words marked (text nodes and <mark>, never HTML). */
function snippet(text, words) {
  const s = String(text || '').replace(/\s+/g, ' ').trim();
  const lower = s.toLowerCase();
  let at = -1;
  for (const w of words) { const i = lower.indexOf(w.toLowerCase()); if (i >= 0 && (at < 0 || i < at)) at = i; }
  let from = 0;
  if (at > 24) from = at - 20;
  let piece = s.slice(from, from + 90);
  if (from > 0) piece = '…' + piece;
  if (from + 90 < s.length) piece += '…';
  const parts = [];
  const lw = words.map((w) => w.toLowerCase()).filter(Boolean);
  let i = 0;
  const pl = piece.toLowerCase();
  while (i < piece.length) {
    let hit = null;
    for (const w of lw) if (pl.startsWith(w, i) && (!hit || w.length > hit.length)) hit = w;
    if (hit) { parts.push(h('mark', null, piece.slice(i, i + hit.length))); i += hit.length; continue; }
    let j = i + 1;
    while (j < piece.length && !lw.some((w) => pl.startsWith(w, j))) j++;
    parts.push(piece.slice(i, j));
    i = j;
  }
  return parts;
}

function convItem(c) {
  const unread = state.unread.get(c.id) || 0;
  const lm = c.last_message;
  const matched = state.q ? state.matched.get(c.id) : undefined;
  let preview;
  if (isTyping(c.id)) {
    preview = h('span', { class: 'preview typing' }, t('agent.typing.short'));
  } else if (matched) {
    const who = matched.author === 'visitor' ? '' : (matched.author === 'note' ? t('author.note') : (matched.author_name || t('author.' + matched.author))) + ': ';
    preview = h('span', { class: 'preview matched', title: matched.text, dataset: { seq: String(matched.seq) } },
      who ? h('span', { class: 'who' }, who) : null, snippet(matched.text, qWords()));
  } else if (lm) {
    const who = lm.author === 'visitor' ? '' : (lm.author === 'agent' ? (lm.author_name || t('author.agent')) : t('author.' + lm.author)) + ': ';
    const text = lm.author === 'system' ? localizeSystem(lm.text) : (lm.text || (lm.attachment ? `[${t('agent.attachment')}] ${lm.attachment.name}` : ''));
    // an internal note is previewed with its label, never mistaken for a reply
    preview = h('span', { class: 'preview' }, who ? h('span', { class: 'who' }, who) : null, oneLine(text));
  } else {
    preview = h('span', { class: 'preview' }, h('span', { class: 'who' }, t('agent.nomsg')));
  }
  const name = visitorName(c);
  const agentName = c.assigned_agent ? (assignedToMe(c) ? `${c.assigned_agent.name} (${t('agent.you')})` : c.assigned_agent.name) : null;
  const item = h('div', {
    class: 'conv' + (c.id === state.selectedId ? ' active' : '') + (unread ? ' unread' : ''),
    role: 'button',
    tabindex: '0',
    dataset: { id: c.id, status: c.status, unread: String(unread) },
    onclick: () => select(c.id),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(c.id); } },
  },
  avatar(name, c.visitor && c.visitor.id),
  h('div', { class: 'body' },
    h('div', { class: 'row1' }, h('span', { class: 'name' }, name), h('span', { class: 'time' }, formatTime(activity(c)))),
    h('div', { class: 'row2' }, preview, unread ? h('span', { class: 'count unread-badge', title: t('agent.unread', { n: unread }) }, unread > 99 ? '99+' : String(unread)) : null),
    h('div', { class: 'row3' }, statusBadge(c.status),
      isVip(c) ? h('span', { class: 'chip vip' }, t('agent.vip')) : null,
      agentName ? h('span', { class: 'agent-tag' }, agentName) : null,
      c.status === 'queued' ? h('span', { class: 'agent-tag wait' }, waited(c.queued_at || c.updated_at)) : null),
  ));
  return item;
}

// System messages may be written "中文 / English": show the half in the UI language.
function localizeSystem(text) {
  const s = String(text || '');
  const i = s.lastIndexOf(' / ');
  if (i > 0) {
    const left = s.slice(0, i).trim();
    const right = s.slice(i + 3).trim();
    // the left half is mostly Chinese, the right half mostly Latin (names may be mixed: "李娜 Li Na has joined")
    const zl = (left.match(/[\u3400-\u9fff]/g) || []).length;
    const zr = (right.match(/[\u3400-\u9fff]/g) || []).length;
    if (left && right && zl >= 2 && /[A-Za-z]{3,}/.test(right) && zr * 3 <= zl) return lang() === 'zh' ? left : right;
  }
  return s;
}

function waited(iso) {
  const mins = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  return mins < 1 ? t('agent.wait.now') : t('agent.wait.min', { n: mins });
}
// keep relative times ("waiting 3 min") fresh
setInterval(() => { if (state.me && !document.hidden) renderList(); }, 30000);

function oneLine(s) {
  const str = String(s || '').replace(/\s+/g, ' ').trim();
  return str.length > 80 ? str.slice(0, 80) + '…' : str;
}

function statusBadge(status) {
  return h('span', { class: `badge badge-${status}` }, t('status.' + status));
}

function avatar(name, seed, extraClass = '') {
  const a = h('span', { class: 'avatar ' + extraClass }, initials(name));
  a.style.setProperty('--hue', hueOf(seed || name));
  return a;
}

function svgIcon(paths) {
  const NS = 'http://www.w3.org/2000/svg';
  const s = document.createElementNS(NS, 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('fill', 'none');
  s.setAttribute('stroke', 'currentColor');
  s.setAttribute('stroke-width', '1.6');
  s.setAttribute('stroke-linecap', 'round');
  s.setAttribute('stroke-linejoin', 'round');
  for (const d of paths) { const p = document.createElementNS(NS, 'path'); p.setAttribute('d', d); s.appendChild(p); }
  return s;
}

function updateTitle() {
  let total = 0;
  for (const [id, n] of state.unread) {
    const c = state.convs.get(id);
    if (c && (inScope(c, 'mine') || inScope(c, 'queue'))) total += n;
  }
  const base = t('agent.title');
  document.title = total ? `(${total}) ${base}` : base;
}

// ------------------------------------------------------------------ chat pane

function showChat(on) {
  $('#chat').hidden = !on;
  $('#chat-empty').hidden = on;
  $('#info').hidden = !on;
  $('#info-empty').hidden = on;
}

async function select(id) {
  if (!state.convs.has(id)) return;
  const prevId = state.selectedId;
  if (prevId && prevId !== id) typingStop();
  state.selectedId = id;
  history.replaceState(null, '', '#c=' + encodeURIComponent(id));
  state.chat = { id, maxSeq: 0, seqEls: new Map(), pending: new Map(), loading: true, syncing: false, again: false, lastRow: null, messages: [] };
  state.composeMode = 'reply';
  const conv = state.convs.get(id);
  if (!state.visitor || !conv.visitor || state.visitor.id !== conv.visitor.id) { state.visitor = null; state.segDraft = null; }
  if (!state.card || !conv.visitor || state.card.visitorId !== conv.visitor.id) { state.card = null; state.cardEdit = null; }
  state.why = null;
  if (!state.canned || state.canned.convId !== id) state.canned = null;
  if (!state.assist || state.assist.convId !== id) state.assist = null;
  if (!state.decisions || state.decisions.convId !== id) state.decisions = null;
  closeCannedPop();
  showChat(true);
  renderList();
  renderChatHead();
  renderInfo();
  renderComposer();
  renderSegments();
  renderCard();
  renderWhy();
  renderTyping();
  renderAssist();
  renderDecisions();
  loadCard(conv);
  loadWhy(conv);
  loadCanned(id);
  loadAssist(id);
  if ($('#info-decisions').dataset.open === '1') loadDecisions(id);
  const box = $('#messages');
  clear(box);
  box.appendChild(h('div', { class: 'history-loading' }, t('agent.history.loading')));
  reply.value = '';
  autosizeReply();
  await syncMessages(true);
  if (state.chat && state.chat.id === id && !document.hidden) markRead(id, state.chat.maxSeq);
  const c = state.convs.get(id);
  if (c && c.status !== 'closed' && state.selectedId === id) reply.focus();
  renderList();
}

function renderChatHead() {
  const c = state.convs.get(state.selectedId);
  if (!c) return;
  const name = visitorName(c);
  $('#chat-name').textContent = name;
  const av = $('#chat-avatar');
  av.textContent = initials(name);
  av.style.setProperty('--hue', hueOf((c.visitor && c.visitor.id) || name));
  const st = $('#chat-status');
  st.className = `badge badge-${c.status}`;
  st.textContent = t('status.' + c.status);
  const metaBits = [t('agent.channel.' + c.channel) !== 'agent.channel.' + c.channel ? t('agent.channel.' + c.channel) : c.channel];
  metaBits.push(c.assigned_agent ? `${t('agent.assigned_to')}: ${c.assigned_agent.name}` : t('agent.unassigned'));
  metaBits.push(formatDateTime(c.created_at));
  $('#chat-meta').textContent = metaBits.filter(Boolean).join(' · ');
  renderChatTags(c);
  $('#btn-claim').hidden = !(c.status === 'queued' || c.status === 'bot');
  $('#btn-close').hidden = c.status === 'closed';
  $('#btn-ticket').hidden = false;
  $('#btn-transfer').hidden = !canTransfer(c);
  $('#btn-takeover').hidden = !(isSupervisor() && c.status !== 'closed' && !isMine(c));
  $('#btn-takeback').hidden = !canTakeBack(c);
}

/** 交还机器人: the serving agent, or a supervisor and above (also for a queued conversation). */
function canTakeBack(c) {
  if (c.status === 'assigned') return isMine(c) || isSupervisor();
  return c.status === 'queued' && isSupervisor();
}

/** Supervises every conversation (all-conversations view, takeover, team canned replies): GET /me's
 * `supervise_conversations` permission, else (an older answer without permissions) a supervisor role and above. */
function isSupervisor() {
  if (!state.me) return false;
  if (Array.isArray(state.me.permissions)) return state.me.permissions.includes('supervise_conversations');
  return ['owner', 'admin', 'supervisor'].includes(state.me.role);
}

/** Exports and erases visitors' personal data: GET /me's `manage_customer_data` permission (admins and owners),
 * else (an older answer without permissions) the admin role and above. */
function canManageCustomerData() {
  if (!state.me) return false;
  if (Array.isArray(state.me.permissions)) return state.me.permissions.includes('manage_customer_data');
  return ['owner', 'admin'].includes(state.me.role);
}

function canTransfer(c) {
  if (c.status === 'assigned') return isMine(c) || isSupervisor();
  return c.status === 'queued' && isSupervisor();
}

function languageLabel(code) {
  if (!code) return '';
  const k = 'agent.lang.' + code;
  return t(k) === k ? code : t(k);
}

function groupName(id) {
  if (!id) return '';
  const g = state.groups.get(id);
  if (!g) { loadGroups(); return '…'; }
  return g.name;
}

/** A short form of the entry page for chips: path and query of a URL, else the text itself. */
function shortPage(page) {
  const s = String(page || '');
  try {
    const u = new URL(s);
    return (u.pathname + u.search) || s;
  } catch (_) { return s; }
}

// VIP, priority, language, routing group, entry page and category: the facts routing used.
function renderChatTags(c) {
  const box = $('#chat-tags');
  clear(box);
  const chips = [];
  if (isVip(c)) chips.push(h('span', { class: 'chip vip', dataset: { tag: 'vip' } }, t('agent.vip')));
  if (c.priority) chips.push(h('span', { class: 'chip prio', dataset: { tag: 'priority' } }, t('agent.priority', { n: c.priority })));
  if (c.language) chips.push(h('span', { class: 'chip', dataset: { tag: 'language' } }, languageLabel(c.language)));
  if (c.group_id) chips.push(h('span', { class: 'chip group', dataset: { tag: 'group' } }, t('agent.group', { name: groupName(c.group_id) })));
  if (c.category) chips.push(h('span', { class: 'chip', dataset: { tag: 'category' } }, t('agent.category', { name: c.category })));
  if (c.entry_page) chips.push(h('span', { class: 'chip page', title: c.entry_page, dataset: { tag: 'entry' } }, t('agent.entry', { page: shortPage(c.entry_page) })));
  for (const x of chips) box.appendChild(x);
  box.hidden = chips.length === 0;
}

function renderComposer() {
  const c = state.convs.get(state.selectedId);
  if (!c) return;
  const notice = $('#composer-notice');
  const form = $('#reply-form');
  notice.className = 'notice';
  let text = '';
  if (c.status === 'closed') { text = t('agent.reply.closed'); notice.classList.add('closed'); }
  else if (c.status === 'bot') { text = t('agent.reply.bot'); notice.classList.add('info'); }
  else if (c.status === 'queued') { text = t('agent.reply.queued'); }
  else if (c.status === 'assigned' && !isMine(c)) { text = t('agent.reply.other', { name: c.assigned_agent ? c.assigned_agent.name : '' }); notice.classList.add('info'); }
  const noting = state.composeMode === 'note' && c.status !== 'closed';
  if (noting) { text = t('agent.note.notice'); notice.className = 'notice note'; }
  notice.textContent = text;
  notice.hidden = !text;
  form.hidden = c.status === 'closed';
  $('#composer-modes').hidden = c.status === 'closed';
  $('#composer-tools').hidden = c.status === 'closed';
  if (c.status === 'closed') closeCannedPop();
  // internal notes are text only: files always go to the visitor
  $('#btn-attach').disabled = noting;
  $('#btn-attach').title = t(noting ? 'agent.attach.note' : 'agent.attach.title');
  $('#composer').classList.toggle('note-mode', noting);
  for (const b of document.querySelectorAll('#composer-modes .mode')) {
    const on = b.dataset.mode === state.composeMode;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  reply.placeholder = t(noting ? 'agent.note.placeholder' : 'agent.reply.placeholder');
  $('#reply-send').textContent = t(noting ? 'agent.note.send' : 'agent.reply.send');
}

function setComposeMode(mode) {
  const next = mode === 'note' ? 'note' : 'reply';
  if (next === 'note') typingStop(); // notes are not typed to the visitor
  state.composeMode = next;
  renderComposer();
}

function renderInfo() {
  const c = state.convs.get(state.selectedId);
  const box = $('#info-main');
  if (!c) return;
  clear(box);
  const none = t('agent.info.none');
  const handoff = c.handoff_reason ? (t('handoff.' + c.handoff_reason) !== 'handoff.' + c.handoff_reason ? t('handoff.' + c.handoff_reason) : c.handoff_reason) : none;
  const channel = t('agent.channel.' + c.channel) !== 'agent.channel.' + c.channel ? t('agent.channel.' + c.channel) : (c.channel || none);
  const row = (k, v, cls) => [h('dt', null, t(k)), h('dd', cls ? { class: cls } : null, v == null || v === '' ? none : v)];
  box.appendChild(h('div', { class: 'info-sec' },
    h('h4', null, t('agent.info.conversation')),
    h('dl', { class: 'kv' },
      row('agent.info.status', t('status.' + c.status)),
      row('agent.info.channel', channel),
      row('agent.info.visitor_id', c.visitor && c.visitor.id, 'mono'),
      row('agent.info.agent', c.assigned_agent ? c.assigned_agent.name : t('agent.unassigned')),
      row('agent.info.handoff', handoff),
      row('agent.info.messages', String(c.last_seq || 0)),
    )));
  box.appendChild(h('div', { class: 'info-sec' },
    h('h4', null, t('agent.info.routing')),
    h('dl', { class: 'kv' },
      row('agent.info.group', c.group_id ? groupName(c.group_id) : t('agent.info.any_agent')),
      row('agent.info.priority', String(c.priority || 0) + (isVip(c) ? ` · ${t('agent.vip')}` : '')),
      row('agent.info.language', languageLabel(c.language)),
      row('agent.info.category', c.category),
      row('agent.info.entry_page', c.entry_page, 'mono'),
    )));
  const times = $('#info-times');
  clear(times);
  times.appendChild(h('div', { class: 'info-sec' },
    h('h4', null, t('agent.info.times')),
    h('dl', { class: 'kv' },
      row('agent.info.created', formatDateTime(c.created_at)),
      row('agent.info.updated', formatDateTime(c.updated_at)),
      row('agent.info.closed', c.closed_at ? formatDateTime(c.closed_at) : none),
      row('agent.info.conversation_id', c.id, 'mono'),
    )));
  renderContext();
  renderAssist();
}

// Fetch every message after what we have (first call: the whole history), then render them.
async function syncMessages(initial = false) {
  const chat = state.chat;
  if (!chat) return;
  if (chat.syncing) { chat.again = true; return; }
  chat.syncing = true;
  try {
    do {
      chat.again = false;
      for (;;) {
        const res = await api(`/api/v1/conversations/${encodeURIComponent(chat.id)}/messages?after_seq=${chat.maxSeq}&limit=200`, { quiet: !initial });
        if (state.chat !== chat) return;
        if (chat.loading) { clear($('#messages')); chat.loading = false; }
        const items = res.items || [];
        for (const m of items) addMessage(m);
        if (items.length < 200) break;
      }
    } while (chat.again);
  } catch (e) {
    if (state.chat === chat && chat.loading) {
      clear($('#messages'));
      $('#messages').appendChild(h('div', { class: 'history-loading' }, e.message));
    }
  } finally {
    chat.syncing = false;
  }
  scrollToBottom(true);
}

// Follow new messages while the agent is at the bottom (flag taken from scroll events, before new content
// changes the geometry); leave the view alone when they scrolled up to read history.
let stick = true;
$('#messages').addEventListener('scroll', (e) => {
  const box = e.currentTarget;
  stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}, { passive: true });
function scrollToBottom(force) {
  const box = $('#messages');
  if (force) stick = true;
  if (!stick) return;
  box.scrollTop = box.scrollHeight;
  requestAnimationFrame(() => { if (stick) box.scrollTop = box.scrollHeight; });
}

function authorLabel(m) {
  if (m.author === 'agent') return m.author_name || t('author.agent');
  if (m.author === 'note') return m.author_name || t('author.agent');
  if (m.author === 'visitor') {
    const c = state.convs.get(m.conversation_id);
    return m.author_name || visitorName(c);
  }
  return t('author.' + m.author);
}

function dayKey(iso) { const d = new Date(iso); return Number.isNaN(d.getTime()) ? '' : d.toDateString(); }

/** Render one server message in the open chat, exactly once (by seq), merging with our own pending row. */
function addMessage(m) {
  const chat = state.chat;
  if (!chat || m.conversation_id !== chat.id || typeof m.seq !== 'number') return;
  if (m.seq <= chat.maxSeq || chat.seqEls.has(m.seq)) return;
  chat.maxSeq = m.seq;
  chat.messages.push(m);
  const box = $('#messages');
  const pendingRow = m.client_id ? chat.pending.get(m.client_id) : null;
  const row = buildMessageRow(m, chat.lastMsg);
  if (chat.lastMsg === undefined || dayKey(chat.lastMsg ? chat.lastMsg.created_at : '') !== dayKey(m.created_at)) {
    insertBeforePending(box, h('div', { class: 'day-sep' }, new Date(m.created_at).toLocaleDateString(lang() === 'zh' ? 'zh-CN' : 'en-GB', { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' })));
  }
  if (pendingRow) {
    chat.pending.delete(m.client_id);
    pendingRow.replaceWith(row);
    // keep sequenced rows ahead of anything still pending
    insertBeforePending(box, row);
  } else {
    insertBeforePending(box, row);
  }
  chat.seqEls.set(m.seq, row);
  chat.lastMsg = m;
  scrollToBottom(m.author === 'agent' && m.author_name === (state.me && state.me.name));
}

function insertBeforePending(box, node) {
  const firstPending = box.querySelector(':scope > [data-pending]');
  if (firstPending === node) return;
  box.insertBefore(node, firstPending);
}

function sameGroup(prev, m) {
  // every internal note keeps its label, so none is mistaken for a reply
  if (!prev || prev.author !== m.author || prev.author === 'system' || m.author === 'note') return false;
  if ((prev.author_name || '') !== (m.author_name || '')) return false;
  return Math.abs(new Date(m.created_at) - new Date(prev.created_at)) < 3 * 60 * 1000;
}

function buildMessageRow(m, prev) {
  if (m.author === 'system') {
    return h('div', { class: 'msg system', dataset: { seq: String(m.seq) } }, h('span', { class: 'sys', title: m.text }, localizeSystem(m.text)));
  }
  const cont = sameGroup(prev, m);
  const label = authorLabel(m);
  if (m.author === 'note' && m.bot && m.bot.outcome === 'summary') return summaryCard(m);
  if (m.author === 'note') {
    return h('div', { class: 'msg note', dataset: { seq: String(m.seq), author: 'note' } },
      avatar(label, label),
      h('div', { class: 'col' },
        h('div', { class: 'who' }, h('span', { class: 'note-tag' }, t('author.note')), h('span', null, label), h('span', null, formatTime(m.created_at))),
        bubble(m.text, m.attachment)));
  }
  const av = m.author === 'bot'
    ? h('span', { class: 'avatar bot' }, svgIcon(['M12 8V4H8', 'M4 12a8 8 0 0 1 8-8', 'M5 10h14a1 1 0 0 1 1 1v7a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2v-7a1 1 0 0 1 1-1z', 'M9 15h.01', 'M15 15h.01']))
    : avatar(label, m.author === 'visitor' ? (state.convs.get(m.conversation_id) || {}).visitor?.id : label);
  const toVisitor = m.author === 'agent' || m.author === 'bot';
  return h('div', { class: `msg ${m.author}` + (cont ? ' cont' : ''), dataset: { seq: String(m.seq), author: m.author } },
    av,
    h('div', { class: 'col' },
      h('div', { class: 'who' }, h('span', null, label), h('span', null, formatTime(m.created_at))),
      bubble(m.text, m.attachment),
      toVisitor ? h('div', { class: 'rcpt', dataset: { state: receiptState(m.conversation_id, m.seq) } }, receiptText(m.conversation_id, m.seq)) : null));
}

/** 转人工摘要: the internal note the bot writes at a handoff (what the visitor wanted, what the bot tried). */
function summaryCard(m) {
  return h('div', { class: 'msg note summary', 'data-testid': 'handoff-summary', dataset: { seq: String(m.seq), author: 'note' } },
    h('div', { class: 'summary-card', title: t('agent.summary.hint') },
      h('div', { class: 'summary-head' },
        svgIcon(['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6', 'M8 13h8', 'M8 17h5']),
        h('b', null, t('agent.summary.title')),
        h('span', { class: 'note-tag' }, t('author.note')),
        h('span', { class: 'muted small' }, formatTime(m.created_at))),
      h('div', { class: 'summary-text' }, m.text || '')));
}

/** A message bubble: its text, and its attachment (an image thumbnail or a download link). */
function bubble(text, att) {
  const b = h('div', { class: 'bubble' + (att ? ' has-att' : '') + (att && !text ? ' att-only' : '') });
  if (text) b.appendChild(h('span', { class: 'txt' }, text));
  if (att) b.appendChild(attachmentEl(att));
  return b;
}

function attachmentUrl(att) { return `/api/v1/attachments/${encodeURIComponent(att.id)}`; }

function formatSize(n) {
  const x = Number(n) || 0;
  if (x < 1024) return t('agent.size.b', { n: x });
  if (x < 1024 * 1024) return t('agent.size.kb', { n: (x / 1024).toFixed(x < 10 * 1024 ? 1 : 0) });
  return t('agent.size.mb', { n: (x / 1024 / 1024).toFixed(1) });
}

function attachmentEl(att) {
  const url = attachmentUrl(att);
  const name = String(att.name || t('agent.attachment'));
  if (IMAGE_TYPES.includes(att.content_type)) {
    return h('a', { class: 'att att-img', href: url, target: '_blank', rel: 'noopener', title: `${name} · ${formatSize(att.size)}`, dataset: { attachment: att.id } },
      h('img', { src: url, alt: name, loading: 'lazy' }));
  }
  return h('a', { class: 'att att-file', href: url, download: name, title: name, dataset: { attachment: att.id } },
    svgIcon(['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6', 'M12 18v-6', 'M9 15l3 3 3-3']),
    h('span', { class: 'att-name' }, name),
    h('span', { class: 'att-size' }, formatSize(att.size)));
}

/** read | delivered | sent: how far the visitor's widget got with the message at `seq`. */
function receiptState(convId, seq) {
  const r = state.receipts.get(convId);
  if (r && r.read >= seq) return 'read';
  if (r && r.delivered >= seq) return 'delivered';
  return 'sent';
}

function receiptText(convId, seq) {
  return t('agent.rcpt.' + receiptState(convId, seq));
}

function renderReceipts() {
  const chat = state.chat;
  if (!chat) return;
  for (const [seq, row] of chat.seqEls) {
    const el = row.querySelector(':scope .rcpt');
    if (!el) continue;
    const st = receiptState(chat.id, seq);
    if (el.dataset.state !== st) { el.dataset.state = st; el.textContent = t('agent.rcpt.' + st); }
  }
}

function rerenderMessages() {
  const chat = state.chat;
  if (!chat || chat.loading) return;
  const box = $('#messages');
  const pendings = [...box.querySelectorAll(':scope > [data-pending]')];
  const msgs = chat.messages;
  clear(box);
  chat.seqEls = new Map();
  chat.maxSeq = 0;
  chat.messages = [];
  chat.lastMsg = undefined;
  for (const m of msgs) addMessage(m);
  for (const p of pendings) box.appendChild(p);
}

// ------------------------------------------------------------------ actions

async function sendReply(retryRow) {
  if (!retryRow && state.composeMode === 'note') { sendNote(); return; }
  closeCannedPop();
  const chat = state.chat;
  const c = chat && state.convs.get(chat.id);
  if (!c || c.status === 'closed') return;
  let row;
  if (retryRow) {
    row = retryRow;
  } else {
    const text = reply.value;
    if (!text.trim()) return;
    reply.value = '';
    autosizeReply();
    typingStop();
    row = pendingRow(chat, text, null);
  }
  await deliver(chat, c, row);
}

/** Our own message on screen until the server has stored it (then addMessage replaces it). */
function pendingRow(chat, text, file) {
  const clientId = uuid();
  const att = file ? h('span', { class: 'att att-file pending-file' },
    svgIcon(['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6']),
    h('span', { class: 'att-name' }, file.name), h('span', { class: 'att-size' }, formatSize(file.size))) : null;
  const row = h('div', { class: 'msg agent mine pending', dataset: { pending: '1', clientId, text } },
    avatar(state.me.name, state.me.name),
    h('div', { class: 'col' },
      h('div', { class: 'who' }, h('span', null, state.me.name)),
      h('div', { class: 'bubble' + (file ? ' has-att' : '') }, text ? h('span', { class: 'txt' }, text) : null, att),
      h('div', { class: 'state' }, t(file ? 'agent.attach.uploading' : 'agent.sending'))));
  $('#messages').appendChild(row);
  chat.pending.set(clientId, row);
  if (file) { chat.files = chat.files || new Map(); chat.files.set(clientId, file); }
  scrollToBottom(true);
  return row;
}

/** Upload the row's file when it has one and is not uploaded yet, then POST the message; a failure offers a retry. */
async function deliver(chat, c, row) {
  const clientId = row.dataset.clientId;
  const text = row.dataset.text || '';
  const st = row.querySelector('.state');
  row.classList.remove('failed'); row.classList.add('pending');
  st.onclick = null;
  try {
    const file = chat.files && chat.files.get(clientId);
    if (file && !row.dataset.attachmentId) {
      st.textContent = t('agent.attach.uploading');
      const att = await uploadFile(`/api/v1/conversations/${encodeURIComponent(c.id)}/attachments?name=${encodeURIComponent(file.name)}`, file);
      row.dataset.attachmentId = att.id;
    }
    st.textContent = t('agent.sending');
    const body = { text, client_id: clientId };
    if (row.dataset.attachmentId) body.attachment_id = row.dataset.attachmentId;
    const m = await api(`/api/v1/conversations/${encodeURIComponent(c.id)}/messages`, { method: 'POST', body, quiet: true });
    if (chat.files) chat.files.delete(clientId);
    if (m && typeof m.seq === 'number') {
      if (state.chat === chat) {
        if (!chat.loading && m.seq === chat.maxSeq + 1) addMessage(m);
        else if (m.seq > chat.maxSeq) syncMessages();
        else if (chat.pending.has(clientId)) { chat.pending.get(clientId).remove(); chat.pending.delete(clientId); }
      }
      bumpConversation(m);
      renderList();
    }
    // replying to a queued/bot conversation assigns it to us: refresh our view of it
    if (c.status !== 'assigned') {
      api(`/api/v1/conversations/${encodeURIComponent(c.id)}`, { quiet: true }).then((fresh) => upsert(fresh)).catch(() => {});
    }
  } catch (e) {
    if (e.status === 401) return;
    if (state.chat === chat && chat.pending.has(clientId)) {
      row.classList.remove('pending'); row.classList.add('failed');
      st.textContent = `${e.detail || e.message} · ${t('agent.failed')}`;
      st.onclick = () => deliver(chat, state.convs.get(chat.id) || c, row);
    } else {
      toast(e.detail || e.message, 'error');
    }
  }
}

function guessType(name) {
  const ext = String(name || '').toLowerCase().split('.').pop();
  return ({ png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', pdf: 'application/pdf',
    txt: 'text/plain', csv: 'text/csv', zip: 'application/zip' })[ext] || '';
}

function fileType(file) {
  const ty = String(file.type || '').toLowerCase();
  if (ty === 'image/jpg') return 'image/jpeg';
  if (ty === 'application/x-zip-compressed') return 'application/zip';
  return ATTACH_TYPES.includes(ty) ? ty : (guessType(file.name) || ty);
}

/** POST raw bytes (the attachment routes take the file as the body, its type as Content-Type); a refused size or
 *  type is said with the file's name. */
async function uploadFile(url, file) {
  try {
    return await postFile(url, file, fileType(file));
  } catch (e) {
    if (e.status === 413) throw new ApiError(413, e.code, t('agent.attach.too_big', { name: file.name }), '');
    if (e.status === 415) throw new ApiError(415, e.code, t('agent.attach.bad_type', { name: file.name }), '');
    throw e;
  }
}

/** The attach button: check size and type here (the server checks again, by signature), then upload and send. */
function sendAttachment(file) {
  const chat = state.chat;
  const c = chat && state.convs.get(chat.id);
  if (!c || c.status === 'closed') return;
  if (state.composeMode === 'note') { toast(t('agent.attach.note'), 'info'); return; }
  if (file.size > ATTACH_MAX) { toast(t('agent.attach.too_big', { name: file.name }), 'error'); return; }
  if (!ATTACH_TYPES.includes(fileType(file))) { toast(t('agent.attach.bad_type', { name: file.name }), 'error'); return; }
  if (file.size === 0) { toast(t('agent.attach.empty', { name: file.name }), 'error'); return; }
  const row = pendingRow(chat, '', file);
  deliver(chat, c, row);
}

// An internal note: stored in the conversation for agents, never delivered to the visitor.
async function sendNote() {
  const chat = state.chat;
  const c = chat && state.convs.get(chat.id);
  if (!c || c.status === 'closed') return;
  const text = reply.value;
  if (!text.trim()) return;
  reply.value = '';
  autosizeReply();
  const btn = $('#reply-send');
  btn.disabled = true;
  try {
    const m = await api(`/api/v1/conversations/${encodeURIComponent(c.id)}/notes`, { method: 'POST', body: { text } });
    if (m && typeof m.seq === 'number') {
      if (state.chat === chat) {
        if (!chat.loading && m.seq === chat.maxSeq + 1) addMessage(m);
        else if (m.seq > chat.maxSeq) syncMessages();
      }
      bumpConversation(m);
      renderList();
    }
    toast(t('agent.note.added'), 'success', 1600);
  } catch (_) {
    // the toast says why; give the text back so nothing typed is lost
    if (state.chat === chat && !reply.value) { reply.value = text; autosizeReply(); }
  } finally {
    btn.disabled = false;
  }
}

async function claim() {
  const id = state.selectedId;
  if (!id) return;
  const btn = $('#btn-claim');
  btn.disabled = true;
  try {
    const c = await api(`/api/v1/conversations/${encodeURIComponent(id)}/claim`, { method: 'POST' });
    upsert(c);
    toast(t('agent.claimed'), 'success', 2000);
    if (state.scope !== 'mine' && state.scope !== 'all') setScope('mine');
    reply.focus();
  } catch (_) { /* toast shown */ } finally { btn.disabled = false; }
}

async function closeConv() {
  const id = state.selectedId;
  if (!id) return;
  if (!window.confirm(t('agent.close.confirm'))) return;
  const btn = $('#btn-close');
  btn.disabled = true;
  try {
    const c = await api(`/api/v1/conversations/${encodeURIComponent(id)}/close`, { method: 'POST' });
    upsert(c);
    toast(t('agent.closed.toast'), 'success', 2000);
    syncMessages();
  } catch (_) { /* toast shown */ } finally { btn.disabled = false; }
}

// ------------------------------------------------------------------ routing: my status, agents, groups

function renderMyStatus() {
  const pick = $('#status-pick');
  const sel = $('#my-status');
  const s = state.myStatus;
  pick.dataset.status = s || '';
  if (s && sel.value !== s) sel.value = s;
  sel.disabled = !s;
  const me = state.agents.find((a) => state.me && a.user_id === state.me.id);
  const conn = me ? t(me.connected ? 'agent.status.connected' : 'agent.status.disconnected') : '';
  pick.title = [t('agent.status.title'), conn].filter(Boolean).join(' · ');
}

let agentsInFlight = null;
let agentsAgain = false;
/** GET /agents: everyone's status, load and capacity; "me" gives the status selector its value. */
async function loadAgents() {
  if (!state.me) return;
  if (agentsInFlight) { agentsAgain = true; return agentsInFlight; }
  agentsInFlight = (async () => {
    do {
      agentsAgain = false;
      try {
        const statusSeq = state.statusSeq;
        const res = await api('/api/v1/agents', { quiet: true });
        state.agents = res.items || [];
        const me = state.agents.find((a) => a.user_id === state.me.id);
        // a list read before (or while) our own status change must not undo it on screen
        if (me && !state.statusBusy && statusSeq === state.statusSeq) state.myStatus = me.status;
        renderMyStatus();
        renderAgentFilter();
        renderList(); // the queue view depends on my groups
        if ($('#transfer-dialog').open) renderTransferLists();
      } catch (_) { /* a later pong or frame retries */ }
    } while (agentsAgain);
  })();
  try { await agentsInFlight; } finally { agentsInFlight = null; }
}

async function setMyStatus(next) {
  if (!STATUSES.includes(next) || !state.me) return;
  const prev = state.myStatus;
  if (next === prev) return;
  if (next === 'offline') {
    const n = countFor('mine');
    if (n > 0 && !window.confirm(t('agent.status.offline.confirm', { n }))) { renderMyStatus(); return; }
  }
  state.myStatus = next;
  state.statusSeq = (state.statusSeq || 0) + 1;
  state.statusBusy = true;
  renderMyStatus();
  const sel = $('#my-status');
  sel.disabled = true;
  try {
    const me = await api('/api/v1/me/status', { method: 'PUT', body: { status: next } });
    state.myStatus = me.status;
    const i = state.agents.findIndex((a) => a.user_id === me.user_id);
    if (i >= 0) state.agents[i] = me; else state.agents.push(me);
    toast(t('agent.status.set', { status: t('agent.status.' + me.status) }), 'success', 1600);
  } catch (_) {
    state.myStatus = prev; // the toast says why
  } finally {
    state.statusBusy = false;
    renderMyStatus();
  }
}

let groupsLoading = null;
async function loadGroups() {
  if (groupsLoading || !state.me) return groupsLoading;
  groupsLoading = (async () => {
    try {
      const res = await api('/api/v1/groups', { quiet: true });
      state.groups = new Map((res.items || []).map((g) => [g.id, g]));
    } catch (_) { /* names show as "…" until the next try */ }
  })();
  try { await groupsLoading; } finally { groupsLoading = null; }
  renderList();
  if (state.selectedId) { renderChatHead(); renderInfo(); }
  if ($('#transfer-dialog').open) renderTransferLists();
}

// `queue_changed`: someone queued, assigned, transferred or went offline. Refresh the lists (once per burst).
let queueTimer = null;
function scheduleQueueRefresh() {
  if (queueTimer) return;
  queueTimer = setTimeout(() => {
    queueTimer = null;
    refreshList();
    loadAgents();
  }, 250);
}

// ------------------------------------------------------------------ visitor card (identity, value, track, orders, history)

const TIERS = ['none', 'new', 'regular', 'valued', 'top'];
let cardSeq = 0;

/** GET /visitors/{id}/card; the tags/VIP editor reads the same visitor. Falls back to GET /visitors/{id}. */
async function loadCard(c) {
  if (!c || !c.visitor || !c.visitor.id) return;
  const vid = c.visitor.id;
  const seq = ++cardSeq;
  try {
    const data = await api(`/api/v1/visitors/${encodeURIComponent(vid)}/card`, { quiet: true });
    const open = state.convs.get(state.selectedId);
    if (seq !== cardSeq || !open || !open.visitor || open.visitor.id !== vid) return;
    state.card = { visitorId: vid, data, error: null };
    applyVisitor(vid, data.visitor);
  } catch (e) {
    if (seq !== cardSeq || e.status === 401) return;
    state.card = { visitorId: vid, data: state.card && state.card.visitorId === vid ? state.card.data : null, error: e.detail };
    renderCard();
    if (!state.visitor) loadVisitor(c);
  }
}

/** A fresh visitor record (card, PATCH or segments answer): the editor, the head, the list and the card follow it. */
function applyVisitor(vid, v) {
  if (!v) return;
  state.visitor = v;
  if (state.card && state.card.data && state.card.visitorId === vid) state.card.data.visitor = { ...state.card.data.visitor, ...v };
  if (!state.segDraft || state.segDraft.visitorId !== vid || !state.segDraft.dirty) {
    state.segDraft = { visitorId: vid, tags: [...(v.tags || [])], vip: !!v.vip, dirty: false };
  }
  // the name shown for this visitor's conversations
  if (v.name) {
    for (const [id, c] of state.convs) {
      if (c.visitor && (c.visitor.id === vid || c.visitor.id === v.id) && c.visitor.name !== v.name) state.convs.set(id, { ...c, visitor: { ...c.visitor, name: v.name } });
    }
  }
  renderSegments();
  renderCard();
  renderChatHead();
  renderInfo();
  renderList();
}

let cardTimer = null;
/** Conversation changes (and time) bring new track events, orders and tickets: reload the card, once per burst. */
function scheduleCardRefresh(ms = 1500) {
  clearTimeout(cardTimer);
  cardTimer = setTimeout(() => {
    const c = state.convs.get(state.selectedId);
    if (c && !state.cardEdit && !document.hidden) loadCard(c);
  }, ms);
}
setInterval(() => { if (state.selectedId && state.view === 'chats') scheduleCardRefresh(0); }, 60000);

function tierLabel(tier) { return t('agent.card.tier.' + (TIERS.includes(tier) ? tier : 'none')); }

function money(amount, currency) {
  if (amount === null || amount === undefined || amount === '') return '';
  const n = Number(amount);
  if (!Number.isFinite(n)) return `${currency || ''} ${amount}`.trim();
  try {
    return new Intl.NumberFormat(lang() === 'zh' ? 'zh-CN' : 'en-GB', { style: 'currency', currency: currency || 'CNY' }).format(n);
  } catch (_) {
    return `${currency || ''} ${n.toFixed(2)}`.trim();
  }
}

function trackKindLabel(ev) {
  const k = 'agent.track.kind.' + ev.kind;
  if (ev.kind === 'custom') return ev.name || t('agent.track.kind.custom');
  return t(k) === k ? String(ev.kind || '') : t(k);
}

/** A link only for http(s) URLs (visitor-supplied text otherwise stays text). */
function safeLink(url, text, cls) {
  const s = String(url || '');
  let ok = false;
  try { ok = ['http:', 'https:'].includes(new URL(s).protocol); } catch (_) { ok = false; }
  return ok
    ? h('a', { class: cls, href: s, target: '_blank', rel: 'noopener noreferrer nofollow', title: s }, text)
    : h('span', { class: cls, title: s }, text);
}

function renderCard() {
  const main = $('#card-main');
  const mid = $('#card-track');
  const more = $('#card-more');
  if (!main || !more) return;
  clear(main);
  clear(mid);
  clear(more);
  const c = state.convs.get(state.selectedId);
  if (!c) return;
  const card = state.card && c.visitor && state.card.visitorId === c.visitor.id ? state.card : null;
  const data = card && card.data;
  const v = (data && data.visitor) || state.visitor || { name: c.visitor && c.visitor.name, id: c.visitor && c.visitor.id };
  const name = v.name || visitorName(c);
  const value = (data && data.value) || null;
  const tier = value ? value.tier : null;
  $('#info-card').dataset.visitor = v.id || '';
  $('#info-card').dataset.tier = tier || '';

  // head: avatar, name, value tier, VIP, refresh
  main.appendChild(h('div', { class: 'info-head vcard-head' },
    avatar(name, c.visitor && c.visitor.id, 'lg'),
    h('h3', { class: 'vc-name' }, name),
    h('div', { class: 'vc-badges' },
      tier ? h('span', { class: 'tier', dataset: { tier } }, tierLabel(tier)) : null,
      v.vip ? h('span', { class: 'chip vip' }, t('agent.vip')) : null,
      statusBadge(c.status)),
    value ? h('div', { class: 'vc-value muted small', title: t('agent.card.value.title') },
      value.orders ? t('agent.card.value', { n: value.orders, amount: money(value.spent, value.currency) }) : t('agent.card.value.none')) : null,
    h('button', { class: 'btn btn-ghost btn-sm vc-refresh', type: 'button', title: t('agent.card.refresh'), onclick: () => loadCard(c) }, t('agent.card.refresh'))));
  if (card && card.error && !data) {
    main.appendChild(h('div', { class: 'info-sec' }, h('div', { class: 'muted small' }, card.error)));
  }

  // identity and attributes (editable)
  main.appendChild(state.cardEdit ? profileEditor(v) : profileView(v, !!data));
  if (!data) {
    if (!card) mid.appendChild(h('div', { class: 'info-sec muted small' }, t('loading')));
    return;
  }

  // browsing track (访客轨迹): oldest first, as the server orders it
  const track = data.track || [];
  const trackSec = h('div', { class: 'info-sec vc-track-sec' },
    h('h4', null, t('agent.card.track'), track.length ? h('span', { class: 'muted small n' }, ` · ${track.length}`) : null));
  if (!track.length) trackSec.appendChild(h('div', { class: 'muted small' }, t('agent.card.track.none')));
  const ol = h('ol', { class: 'track', 'data-testid': 'visitor-track' });
  for (const ev of track) {
    const what = ev.product_name || ev.title || ev.name || '';
    const amount = ev.amount !== null && ev.amount !== undefined && ev.amount !== '' ? money(ev.amount, ev.currency) : '';
    ol.appendChild(h('li', { class: 'track-item', dataset: { kind: ev.kind || '', product: ev.product_id || '' } },
      h('div', { class: 't-line' },
        h('span', { class: 't-kind' }, trackKindLabel(ev)),
        h('time', { class: 't-time', datetime: ev.at, title: formatDateTime(ev.at) }, formatTime(ev.at))),
      what || amount ? h('div', { class: 't-what' }, what ? h('span', { class: 't-title' }, what) : null, amount ? h('span', { class: 't-amount' }, amount) : null) : null,
      ev.url ? h('div', { class: 't-url' }, safeLink(ev.url, shortPage(ev.url), 't-link')) : null));
  }
  if (track.length) trackSec.appendChild(ol);
  mid.appendChild(trackSec);
  // newest at the bottom, in view
  requestAnimationFrame(() => { ol.scrollTop = ol.scrollHeight; });

  // orders
  const orders = data.orders || [];
  const ordSec = h('div', { class: 'info-sec vc-orders' }, h('h4', null, t('agent.card.orders'), orders.length ? h('span', { class: 'muted small n' }, ` · ${orders.length}`) : null));
  if (!orders.length) ordSec.appendChild(h('div', { class: 'muted small' }, t('agent.card.orders.none')));
  for (const o of orders) {
    const items = (o.items || []).map((it) => `${it.name}${it.quantity && it.quantity !== 1 ? ` ×${it.quantity}` : ''}`).join('，');
    ordSec.appendChild(h('div', { class: 'vc-order', dataset: { id: o.id, status: o.status || '' } },
      h('div', { class: 'o-line' },
        h('span', { class: 'mono o-no' }, '#' + (o.external_id || o.id)),
        h('span', { class: 'badge plain o-status', dataset: { status: o.status || '' } }, orderStatus(o.status)),
        h('b', { class: 'o-amount' }, money(o.amount, o.currency))),
      items ? h('div', { class: 'o-items' }, items) : null,
      h('div', { class: 'muted small' }, formatDateTime(o.placed_at || o.created_at))));
  }
  mid.appendChild(ordSec);

  // previous conversations
  const convs = (data.conversations || []).filter((x) => x.id !== c.id);
  const cSec = h('div', { class: 'info-sec vc-convs' }, h('h4', null, t('agent.card.conversations'), convs.length ? h('span', { class: 'muted small n' }, ` · ${convs.length}`) : null));
  if (!convs.length) cSec.appendChild(h('div', { class: 'muted small' }, t('agent.card.conversations.none')));
  for (const x of convs) {
    const lm = x.last_message;
    cSec.appendChild(h('button', {
      type: 'button', class: 'vc-conv', dataset: { id: x.id },
      onclick: () => openConversation(x.id),
    },
    h('span', { class: 'vc-conv-top' }, statusBadge(x.status), h('span', { class: 'muted small' }, formatDateTime(x.created_at))),
    lm ? h('span', { class: 'vc-conv-last' }, oneLine(lm.author === 'system' ? localizeSystem(lm.text) : lm.text)) : null));
  }
  more.appendChild(cSec);

  // tickets
  const tks = data.tickets || [];
  const tSec = h('div', { class: 'info-sec vc-tickets' }, h('h4', null, t('agent.card.tickets'), tks.length ? h('span', { class: 'muted small n' }, ` · ${tks.length}`) : null));
  if (!tks.length) tSec.appendChild(h('div', { class: 'muted small' }, t('agent.card.tickets.none')));
  for (const k of tks) {
    tSec.appendChild(h('button', {
      type: 'button', class: 'vc-ticket', dataset: { id: k.id, number: String(k.number) },
      onclick: () => { setView('tickets'); tickets.open(k.id); },
    },
    h('span', { class: 'mono' }, '#' + k.number),
    h('span', { class: 'vc-ticket-subj' }, k.subject || ''),
    h('span', { class: 'badge plain' }, t('tk.status.' + k.status) === 'tk.status.' + k.status ? k.status : t('tk.status.' + k.status))));
  }
  more.appendChild(tSec);

  // personal data: export, erase (only for those who may)
  if (canManageCustomerData()) more.appendChild(personalDataSection(c.visitor.id, name));
}

// ------------------------------------------------------------------ personal data (export, erasure)

function personalDataSection(vid, name) {
  const exportBtn = h('button', { class: 'btn btn-sm', type: 'button', 'data-testid': 'pdata-export' }, t('agent.pdata.export'));
  exportBtn.addEventListener('click', () => exportVisitor(vid, exportBtn));
  const eraseBtn = h('button', { class: 'btn btn-sm btn-danger', type: 'button', 'data-testid': 'pdata-erase' }, t('agent.pdata.erase'));
  eraseBtn.addEventListener('click', () => openErase(vid, name));
  return h('div', { class: 'info-sec vc-pdata', 'data-testid': 'personal-data' },
    h('h4', null, t('agent.pdata.title')),
    h('div', { class: 'muted small pd-hint' }, t('agent.pdata.hint')),
    h('div', { class: 'pd-actions' }, exportBtn, eraseBtn));
}

/** GET /visitors/{id}/export: everything stored about the visitor, saved as a JSON file (the server audits it). */
async function exportVisitor(vid, btn) {
  btn.disabled = true;
  try {
    const name = await downloadFile(`/api/v1/visitors/${encodeURIComponent(vid)}/export`, `visitor-${vid}.json`);
    toast(t('agent.pdata.exported', { name }), 'success', 2400);
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error', 6000);
  } finally {
    btn.disabled = false;
  }
}

function openErase(vid, name) {
  state.erase = { visitorId: vid, name, convId: state.selectedId };
  $('#erase-reason').value = '';
  $('#erase-form .form-error').hidden = true;
  $('#erase-submit').disabled = false;
  renderErase();
  $('#erase-dialog').showModal();
  $('#erase-reason').focus();
}

function renderErase() {
  if (state.erase) $('#erase-warning').textContent = t('agent.erase.warning', { name: state.erase.name });
}

const ERASED_KINDS = ['conversations', 'messages', 'tickets', 'events', 'identities', 'attachments'];

/** POST /visitors/{id}/erase with the reason; the counts in a toast, then the conversation and the card afresh. */
async function submitErase() {
  const e = state.erase;
  if (!e) return;
  const err = $('#erase-form .form-error');
  err.hidden = true;
  const reason = $('#erase-reason').value.trim();
  if (!reason) {
    err.textContent = t('agent.erase.reason.required');
    err.hidden = false;
    $('#erase-reason').focus();
    return;
  }
  const btn = $('#erase-submit');
  btn.disabled = true;
  try {
    const r = await api(`/api/v1/visitors/${encodeURIComponent(e.visitorId)}/erase`, { method: 'POST', body: { reason }, quiet: true });
    const erased = (r && r.erased) || {};
    const counts = Object.fromEntries(ERASED_KINDS.map((k) => [k, Number(erased[k] || 0)]));
    $('#erase-dialog').close();
    toast(t('agent.erase.done', counts), 'success', 8000);
    await reloadErased(e);
  } catch (x) {
    if (x.status === 401) return;
    // 400: no reason or one too long; 403: the permission is gone; 404: no such visitor
    err.textContent = x.detail;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

/** After an erasure: the open conversation (its messages now wiped), the card and the list read from the server again. */
async function reloadErased(e) {
  const id = e.convId;
  // the list's previews of this visitor's conversations are wiped too: forget them, the server's answers follow
  for (const [cid, c] of state.convs) {
    if (c.visitor && c.visitor.id === e.visitorId) state.convs.set(cid, { ...c, last_message: null });
  }
  if (id && state.selectedId === id) {
    try { upsert(await api(`/api/v1/conversations/${encodeURIComponent(id)}`, { quiet: true })); } catch (_) { /* the list still has it */ }
    if (state.selectedId === id) await select(id);
  }
  refreshList();
}

function orderStatus(s) {
  const k = 'agent.order.status.' + s;
  return t(k) === k ? String(s || '') : t(k);
}

function profileView(v, loaded) {
  const none = t('agent.info.none');
  const row = (k, val, cls, key) => [h('dt', null, t(k)), h('dd', { class: cls || null, dataset: key ? { field: key } : null }, val == null || val === '' ? none : val)];
  const attrs = v.attributes && typeof v.attributes === 'object' ? Object.entries(v.attributes) : [];
  const sec = h('div', { class: 'info-sec vc-profile' },
    h('div', { class: 'sec-head' }, h('h4', null, t('agent.info.title')),
      loaded ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', id: 'card-edit', onclick: startProfileEdit }, t('agent.card.edit')) : null),
    h('dl', { class: 'kv' },
      row('agent.info.name', v.name, null, 'name'),
      row('agent.info.external_id', v.external_id, 'mono', 'external_id'),
      row('agent.card.email', v.email, null, 'email'),
      row('agent.card.phone', v.phone, null, 'phone'),
      v.last_seen_at ? row('agent.card.last_seen', formatDateTime(v.last_seen_at)) : null));
  if (attrs.length) {
    sec.appendChild(h('div', { class: 'vc-attrs-title muted small' }, t('agent.card.attributes')));
    sec.appendChild(h('dl', { class: 'kv vc-attrs' }, attrs.map(([k, val]) => [h('dt', { title: k }, k), h('dd', { dataset: { attr: k } }, String(val))])));
  }
  return sec;
}

function startProfileEdit() {
  const v = (state.card && state.card.data && state.card.data.visitor) || state.visitor;
  if (!v) return;
  const attrs = v.attributes && typeof v.attributes === 'object' ? Object.entries(v.attributes) : [];
  state.cardEdit = { name: v.name || '', email: '', phone: '', attrs: attrs.map(([k, val]) => ({ key: k, value: String(val), orig: String(val), removed: false })), add: [{ key: '', value: '' }], error: '' };
  renderCard();
  const first = $('#pe-name');
  if (first) first.focus();
}

function profileEditor(v) {
  const e = state.cardEdit;
  const field = (id, label, value, attrs, on) => {
    const input = h('input', { class: 'input', id, value, ...attrs });
    input.addEventListener('input', () => on(input.value));
    return h('div', { class: 'field' }, h('label', { for: id }, t(label)), input);
  };
  const form = h('form', { class: 'info-sec vc-edit', id: 'card-form', novalidate: true });
  form.appendChild(h('h4', null, t('agent.card.edit.title')));
  if (e.error) form.appendChild(h('div', { class: 'form-error', role: 'alert' }, e.error));
  form.appendChild(field('pe-name', 'agent.info.name', e.name, { maxlength: '100' }, (x) => { e.name = x; }));
  form.appendChild(field('pe-email', 'agent.card.email', e.email, { type: 'email', maxlength: '200', placeholder: v.email || '' }, (x) => { e.email = x; }));
  form.appendChild(field('pe-phone', 'agent.card.phone', e.phone, { maxlength: '40', placeholder: v.phone || '' }, (x) => { e.phone = x; }));
  if (v.email || v.phone) form.appendChild(h('div', { class: 'muted small hint' }, t('agent.card.edit.masked')));
  form.appendChild(h('div', { class: 'vc-attrs-title muted small' }, t('agent.card.attributes')));
  const list = h('div', { class: 'pe-attrs' });
  e.attrs.forEach((a) => {
    const val = h('input', { class: 'input', value: a.value, maxlength: '500', disabled: a.removed, 'aria-label': a.key, dataset: { attr: a.key } });
    val.addEventListener('input', () => { a.value = val.value; });
    list.appendChild(h('div', { class: 'pe-attr' + (a.removed ? ' removed' : '') },
      h('span', { class: 'pe-key', title: a.key }, a.key), val,
      h('button', {
        type: 'button', class: 'btn btn-ghost btn-sm', title: t(a.removed ? 'agent.card.attr.restore' : 'agent.card.attr.remove'),
        onclick: () => { a.removed = !a.removed; renderCard(); },
      }, a.removed ? '↺' : '×')));
  });
  e.add.forEach((a, i) => {
    const key = h('input', { class: 'input pe-new-key', value: a.key, maxlength: '64', placeholder: t('agent.card.attr.key') });
    const val = h('input', { class: 'input pe-new-value', value: a.value, maxlength: '500', placeholder: t('agent.card.attr.value') });
    key.addEventListener('input', () => { a.key = key.value; });
    val.addEventListener('input', () => { a.value = val.value; });
    list.appendChild(h('div', { class: 'pe-attr new' }, key, val,
      i === e.add.length - 1
        ? h('button', { type: 'button', class: 'btn btn-ghost btn-sm', title: t('agent.card.attr.add'), onclick: () => { e.add.push({ key: '', value: '' }); renderCard(); } }, '+')
        : h('button', { type: 'button', class: 'btn btn-ghost btn-sm', title: t('agent.card.attr.remove'), onclick: () => { e.add.splice(i, 1); renderCard(); } }, '×')));
  });
  form.appendChild(list);
  form.appendChild(h('div', { class: 'seg-actions pe-actions' },
    h('button', { class: 'btn btn-sm', type: 'button', onclick: () => { state.cardEdit = null; renderCard(); } }, t('agent.card.edit.cancel')),
    h('button', { class: 'btn btn-sm btn-primary', type: 'submit', id: 'card-save' }, t('agent.card.edit.save'))));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); saveProfile(); });
  return form;
}

/** PATCH /visitors/{id} with what changed: name, e-mail, phone, attributes (null removes one). */
async function saveProfile() {
  const e = state.cardEdit;
  const c = state.convs.get(state.selectedId);
  const v = (state.card && state.card.data && state.card.data.visitor) || state.visitor;
  if (!e || !c || !v) return;
  const body = {};
  if (e.name.trim() && e.name.trim() !== (v.name || '')) body.name = e.name.trim();
  if (e.email.trim()) body.email = e.email.trim();
  if (e.phone.trim()) body.phone = e.phone.trim();
  const attributes = {};
  for (const a of e.attrs) {
    if (a.removed) attributes[a.key] = null;
    else if (a.value !== a.orig) attributes[a.key] = a.value;
  }
  for (const a of e.add) {
    const k = a.key.trim();
    if (!k) continue;
    attributes[k] = a.value;
  }
  if (Object.keys(attributes).length) body.attributes = attributes;
  if (!Object.keys(body).length) { state.cardEdit = null; renderCard(); return; }
  const btn = $('#card-save');
  if (btn) btn.disabled = true;
  try {
    const updated = await api(`/api/v1/visitors/${encodeURIComponent(v.id || c.visitor.id)}`, { method: 'PATCH', body, quiet: true });
    state.cardEdit = null;
    applyVisitor(c.visitor.id, updated);
    toast(t('agent.card.saved'), 'success', 1600);
    loadCard(c);
  } catch (err) {
    if (err.status === 401) return;
    e.error = err.detail;
    renderCard();
  }
}

// ------------------------------------------------------------------ visitor tags and VIP

async function loadVisitor(c) {
  if (!c || !c.visitor || !c.visitor.id) return;
  const vid = c.visitor.id;
  try {
    const v = await api(`/api/v1/visitors/${encodeURIComponent(vid)}`, { quiet: true });
    const open = state.convs.get(state.selectedId);
    if (!open || !open.visitor || open.visitor.id !== vid) return;
    state.visitor = v;
    if (!state.segDraft || state.segDraft.visitorId !== vid || !state.segDraft.dirty) {
      state.segDraft = { visitorId: vid, tags: [...(v.tags || [])], vip: !!v.vip, dirty: false };
    }
    renderSegments();
    renderChatHead();
    renderInfo();
    renderList();
  } catch (_) { /* the editor stays empty */ }
}

function renderSegments() {
  const box = $('#info-segments');
  clear(box);
  const c = state.convs.get(state.selectedId);
  const d = state.segDraft;
  box.appendChild(h('h4', null, t('agent.seg.title')));
  if (!c || !d || !c.visitor || d.visitorId !== c.visitor.id) {
    box.appendChild(h('div', { class: 'muted small' }, t('loading')));
    return;
  }
  const tags = h('div', { class: 'seg-tags', id: 'seg-tags' });
  if (!d.tags.length) tags.appendChild(h('span', { class: 'muted small' }, t('agent.seg.none')));
  d.tags.forEach((tag, i) => {
    tags.appendChild(h('span', { class: 'chip tag', dataset: { tag } }, tag,
      h('button', {
        type: 'button', class: 'x', title: t('agent.seg.remove', { tag }), 'aria-label': t('agent.seg.remove', { tag }),
        onclick: () => { d.tags.splice(i, 1); d.dirty = true; renderSegments(); },
      }, '×')));
  });
  box.appendChild(tags);
  const input = h('input', { class: 'input', id: 'seg-tag-input', maxlength: '40', placeholder: t('agent.seg.tag.ph') });
  const addTag = () => {
    const v = input.value.trim();
    if (!v) return;
    if (!d.tags.some((x) => x.toLowerCase() === v.toLowerCase())) d.tags.push(v);
    d.dirty = true;
    renderSegments();
    const again = $('#seg-tag-input');
    if (again) again.focus();
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); addTag(); }
  });
  box.appendChild(h('div', { class: 'seg-add' }, input, h('button', { class: 'btn btn-sm', type: 'button', onclick: addTag }, t('agent.seg.add'))));
  const vip = h('input', { type: 'checkbox', id: 'seg-vip' });
  vip.checked = d.vip;
  vip.addEventListener('change', () => { d.vip = vip.checked; d.dirty = true; renderSegments(); });
  box.appendChild(h('label', { class: 'check' }, vip, h('span', null, t('agent.seg.vip'))));
  box.appendChild(h('div', { class: 'seg-actions' },
    h('button', { class: 'btn btn-sm btn-primary', type: 'button', id: 'seg-save', disabled: !d.dirty, onclick: saveSegments }, t('agent.seg.save'))));
}

async function saveSegments() {
  const d = state.segDraft;
  if (!d) return;
  const pending = $('#seg-tag-input');
  if (pending && pending.value.trim()) { // a tag typed but not yet added counts too
    const v = pending.value.trim();
    if (!d.tags.some((x) => x.toLowerCase() === v.toLowerCase())) d.tags.push(v);
  }
  const btn = $('#seg-save');
  if (btn) btn.disabled = true;
  try {
    const v = await api(`/api/v1/visitors/${encodeURIComponent(d.visitorId)}/segments`, { method: 'PUT', body: { tags: d.tags, vip: d.vip }, quiet: true });
    state.segDraft = { visitorId: d.visitorId, tags: [...(v.tags || [])], vip: !!v.vip, dirty: false };
    applyVisitor(d.visitorId, v);
    toast(t('agent.seg.saved'), 'success', 1600);
  } catch (e) {
    toast(e.detail, 'error');
  }
  renderSegments();
  renderChatHead();
  renderInfo();
  renderList();
}

// ------------------------------------------------------------------ "why this agent?"

function whyKey(c) { return `${c.status}:${c.assigned_agent ? c.assigned_agent.id : ''}`; }

async function loadWhy(c) {
  if (!c) return;
  const key = whyKey(c);
  state.why = { convId: c.id, key, items: state.why && state.why.convId === c.id ? state.why.items : null, error: null };
  try {
    const res = await api(`/api/v1/conversations/${encodeURIComponent(c.id)}/assignments`, { quiet: true });
    if (!state.why || state.why.convId !== c.id) return;
    state.why.items = res.items || [];
  } catch (e) {
    if (!state.why || state.why.convId !== c.id) return;
    state.why.error = e.detail;
  }
  renderWhy();
}

function renderWhy() {
  const box = $('#info-why');
  clear(box);
  const w = state.why;
  const wasOpen = box.dataset.open !== '0';
  const details = h('details', { class: 'why', open: wasOpen });
  details.addEventListener('toggle', () => { box.dataset.open = details.open ? '1' : '0'; });
  details.appendChild(h('summary', null, t('agent.why.title')));
  box.appendChild(details);
  if (!w || (!w.items && !w.error)) { details.appendChild(h('div', { class: 'muted small' }, t('loading'))); return; }
  if (w.error) { details.appendChild(h('div', { class: 'muted small' }, w.error)); return; }
  if (!w.items.length) { details.appendChild(h('div', { class: 'muted small' }, t('agent.why.empty'))); return; }
  // newest decision first: it explains who serves now
  for (const a of [...w.items].reverse()) details.appendChild(whyItem(a));
}

function whyItem(a) {
  const e = a.explanation || {};
  const kindKey = 'agent.why.kind.' + e.kind;
  const kind = t(kindKey) === kindKey ? (e.kind || '') : t(kindKey);
  const rows = [];
  const kv = (k, v) => { if (v !== null && v !== undefined && v !== '') rows.push(h('dt', null, t(k)), h('dd', null, v)); };
  // a routed decision without a rule and without a group: no rule matched (any online agent)
  kv('agent.why.rule', e.rule || ((e.kind === 'route' || e.kind === 'sticky') && !e.group ? t('agent.why.no_rule') : null));
  kv('agent.why.group', e.group);
  if (e.strategy) kv('agent.why.strategy', t('strategy.' + e.strategy) === 'strategy.' + e.strategy ? e.strategy : t('strategy.' + e.strategy));
  if (e.needs && e.needs.length) kv('agent.why.needs', e.needs.join(', '));
  if (e.kind === 'route' || e.kind === 'sticky') kv('agent.why.considered', String(e.considered || 0));
  kv('agent.why.note', e.note);
  const cands = e.candidates || [];
  const scored = cands.some((c) => c.score !== null && c.score !== undefined);
  return h('div', { class: 'why-item', dataset: { kind: e.kind || '' } },
    h('div', { class: 'why-head' },
      h('span', { class: 'badge plain why-kind' }, kind),
      h('b', null, a.agent_name || ''),
      h('span', { class: 'muted small' }, formatTime(a.created_at))),
    e.reason ? h('div', { class: 'why-reason' }, e.reason) : null,
    rows.length ? h('dl', { class: 'kv' }, rows) : null,
    cands.length ? h('table', { class: 'why-cands' },
      h('thead', null, h('tr', null,
        h('th', null, t('agent.why.cand.name')), h('th', null, t('agent.why.cand.load')), scored ? h('th', null, t('agent.why.cand.score')) : null)),
      h('tbody', null, cands.map((c) => h('tr', { class: c.agent === a.agent_id ? 'chosen' : '' },
        h('td', null, c.name || ''),
        h('td', null, `${c.load}/${c.capacity}`),
        scored ? h('td', null, c.score == null ? '' : String(c.score)) : null)))) : null);
}

// ------------------------------------------------------------------ transfer and takeover

function agentAvailable(a) { return a.status === 'online' && a.connected && a.load < a.capacity; }

async function openTransfer() {
  const c = state.convs.get(state.selectedId);
  if (!c) return;
  const dlg = $('#transfer-dialog');
  const form = $('#transfer-form');
  form.querySelector('.form-error').hidden = true;
  $('#transfer-note').value = '';
  state.transferPick = null;
  renderTransferLists();
  dlg.showModal();
  await Promise.all([loadAgents(), loadGroups()]);
}

function renderTransferLists() {
  const c = state.convs.get(state.selectedId);
  if (!c) return;
  const agentsBox = $('#transfer-agents');
  const groupsBox = $('#transfer-groups');
  clear(agentsBox);
  clear(groupsBox);
  const current = c.assigned_agent && c.assigned_agent.id;
  const others = state.agents.filter((a) => a.user_id !== current);
  // available agents first, then by name
  others.sort((a, b) => (agentAvailable(b) - agentAvailable(a)) || String(a.name).localeCompare(String(b.name)));
  if (!others.length) agentsBox.appendChild(h('div', { class: 'muted small' }, t('agent.transfer.none_agents')));
  for (const a of others) {
    const value = 'agent:' + a.user_id;
    const ok = agentAvailable(a);
    const radio = h('input', { type: 'radio', name: 'transfer-target', value, disabled: !ok });
    radio.checked = state.transferPick === value && ok;
    radio.addEventListener('change', () => { state.transferPick = value; });
    const full = a.load >= a.capacity;
    agentsBox.appendChild(h('label', { class: 'pick' + (ok ? '' : ' off'), dataset: { agent: a.user_id, name: a.name } },
      radio,
      avatar(a.name, a.user_id),
      h('span', { class: 'pname' }, a.name, a.user_id === (state.me && state.me.id) ? ` (${t('agent.you')})` : ''),
      h('span', { class: 'st st-' + a.status + (a.connected ? '' : ' disc'), title: t(a.connected ? 'agent.status.connected' : 'agent.status.disconnected') },
        t('agent.status.' + a.status)),
      h('span', { class: 'load' + (full ? ' full' : '') }, t('agent.transfer.load', { load: a.load, capacity: a.capacity }) + (full ? ` · ${t('agent.transfer.full')}` : ''))));
  }
  const groups = [...state.groups.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  if (!groups.length) groupsBox.appendChild(h('div', { class: 'muted small' }, t('agent.transfer.none_groups')));
  for (const g of groups) {
    const value = 'group:' + g.id;
    const radio = h('input', { type: 'radio', name: 'transfer-target', value });
    radio.checked = state.transferPick === value;
    radio.addEventListener('change', () => { state.transferPick = value; });
    const online = state.agents.filter((a) => (a.groups || []).includes(g.id) && agentAvailable(a)).length;
    groupsBox.appendChild(h('label', { class: 'pick', dataset: { group: g.id, name: g.name } },
      radio,
      h('span', { class: 'pname' }, g.name),
      h('span', { class: 'muted small' }, t('strategy.' + g.strategy)),
      h('span', { class: 'load' }, `${t('agent.transfer.members', { n: (g.members || []).length })} · ${t('agent.status.online')} ${online}`)));
  }
}

async function submitTransfer() {
  const c = state.convs.get(state.selectedId);
  const form = $('#transfer-form');
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const pick = state.transferPick;
  if (!c || !pick) { err.textContent = t('agent.transfer.pick'); err.hidden = false; return; }
  const [kind, id] = pick.split(':');
  const body = kind === 'agent' ? { to_agent: id } : { to_group: id };
  const note = $('#transfer-note').value.trim();
  if (note) body.note = note;
  const btn = $('#transfer-submit');
  btn.disabled = true;
  try {
    const updated = await api(`/api/v1/conversations/${encodeURIComponent(c.id)}/transfer`, { method: 'POST', body, quiet: true });
    upsert(updated);
    $('#transfer-dialog').close();
    const target = kind === 'agent'
      ? (state.agents.find((a) => a.user_id === id) || {}).name
      : (state.groups.get(id) || {}).name;
    toast(t('agent.transfer.done', { name: target || '' }), 'success', 2400);
    syncMessages();
    loadAgents();
  } catch (e) {
    if (e.status === 401) return;
    err.textContent = e.detail;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

async function takeOver() {
  const id = state.selectedId;
  if (!id) return;
  if (!window.confirm(t('agent.takeover.confirm'))) return;
  const btn = $('#btn-takeover');
  btn.disabled = true;
  try {
    const c = await api(`/api/v1/conversations/${encodeURIComponent(id)}/takeover`, { method: 'POST', quiet: true });
    upsert(c);
    toast(t('agent.takeover.done'), 'success', 2000);
    if (state.scope !== 'mine' && state.scope !== 'all') setScope('mine');
    syncMessages();
    reply.focus();
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error');
  } finally { btn.disabled = false; }
}

/** 交还机器人: POST /conversations/{id}/bot; the bot serves the visitor again (they are told). */
async function takeBack() {
  const id = state.selectedId;
  if (!id) return;
  if (!window.confirm(t('agent.takeback.confirm'))) return;
  const btn = $('#btn-takeback');
  btn.disabled = true;
  try {
    const c = await api(`/api/v1/conversations/${encodeURIComponent(id)}/bot`, { method: 'POST', quiet: true });
    upsert(c);
    toast(t('agent.takeback.done'), 'success', 2400);
    syncMessages();
    loadAgents();
  } catch (e) {
    // the server says why (not the serving agent, already closed, …)
    if (e.status !== 401) toast(e.detail, 'error', 6000);
  } finally { btn.disabled = false; }
}

// ------------------------------------------------------------------ the bot: assist panel (智能推荐), business context, decisions

let assistSeq = 0;
let assistTimer = null;

/** GET /conversations/{id}/assist: the best knowledge-base answers for the visitor's last message. */
async function loadAssist(id) {
  if (!id) return;
  const seq = ++assistSeq;
  if (!state.assist || state.assist.convId !== id) state.assist = { convId: id, text: null, items: null, error: null, loading: true };
  else state.assist.loading = true;
  renderAssist();
  try {
    const res = await api(`/api/v1/conversations/${encodeURIComponent(id)}/assist`, { quiet: true });
    if (seq !== assistSeq || !state.assist || state.assist.convId !== id) return;
    state.assist = {
      convId: id,
      text: res && typeof res.text === 'string' ? res.text : null,
      items: res && Array.isArray(res.suggestions) ? res.suggestions : [],
      error: null,
      loading: false,
    };
  } catch (e) {
    if (seq !== assistSeq || !state.assist || state.assist.convId !== id || e.status === 401) return;
    state.assist = { ...state.assist, error: e.detail, loading: false };
  }
  renderAssist();
}

function scheduleAssist(id, ms = 300) {
  clearTimeout(assistTimer);
  assistTimer = setTimeout(() => { if (state.selectedId === id) loadAssist(id); }, ms);
}

function assistFolded() {
  try { return localStorage.getItem(ASSIST_KEY) === '0'; } catch (_) { return false; }
}

function confidencePct(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) return '';
  return `${Math.round(Math.max(0, Math.min(1, n)) * 100)}%`;
}

function renderAssist() {
  const box = $('#assist');
  if (!box) return;
  const c = state.convs.get(state.selectedId);
  clear(box);
  if (!c || c.status === 'closed') { box.hidden = true; return; }
  box.hidden = false;
  const a = state.assist && state.assist.convId === c.id ? state.assist : null;
  const folded = assistFolded();
  box.classList.toggle('folded', folded);
  const items = (a && a.items) || [];
  box.appendChild(h('div', { class: 'assist-head' },
    h('button', {
      class: 'assist-toggle', type: 'button', 'aria-expanded': folded ? 'false' : 'true',
      title: t(folded ? 'agent.assist.expand' : 'agent.assist.collapse'),
      onclick: () => {
        try { localStorage.setItem(ASSIST_KEY, folded ? '1' : '0'); } catch (_) { /* ignore */ }
        renderAssist();
      },
    },
    h('span', { class: 'chev' }, folded ? '▸' : '▾'),
    h('b', null, t('agent.assist.title')),
    items.length ? h('span', { class: 'assist-n' }, String(items.length)) : null),
    a && a.text ? h('span', { class: 'assist-for muted small', title: a.text }, t('agent.assist.for', { text: oneLine(a.text) })) : h('span', { class: 'assist-for' }),
    h('button', {
      class: 'btn btn-ghost btn-sm assist-refresh', type: 'button', title: t('agent.assist.refresh'), 'aria-label': t('agent.assist.refresh'),
      disabled: !!(a && a.loading), onclick: () => loadAssist(c.id),
    }, '↻')));
  if (folded) return;
  const list = h('div', { class: 'assist-items' });
  if (!a || (a.loading && !a.items)) list.appendChild(h('div', { class: 'muted small assist-empty' }, t('loading')));
  else if (a.error) list.appendChild(h('div', { class: 'muted small assist-empty' }, a.error));
  else if (!items.length) list.appendChild(h('div', { class: 'muted small assist-empty' }, t('agent.assist.empty')));
  for (const x of items) {
    const answer = typeof x.answer_text === 'string' ? x.answer_text : '';
    list.appendChild(h('div', { class: 'assist-item', 'data-testid': 'assist-item', dataset: { entryId: x.entry_id || '' } },
      h('div', { class: 'as-top' },
        h('b', { class: 'as-q' }, x.question || ''),
        x.confidence != null ? h('span', { class: 'as-conf', title: t('agent.assist.confidence.title') }, confidencePct(x.confidence)) : null,
        h('button', {
          class: 'btn btn-sm as-insert', type: 'button', 'data-testid': 'assist-insert', title: t('agent.assist.insert.title'),
          disabled: !answer, onclick: () => insertAssist(answer),
        }, t('agent.assist.insert'))),
      h('div', { class: 'as-a' }, answer)));
  }
  box.appendChild(list);
}

/** Puts a suggested answer into the reply box (not sent): the agent reads, edits and sends it. */
function insertAssist(text) {
  const c = state.convs.get(state.selectedId);
  if (!text || !c || c.status === 'closed') return;
  closeCannedPop();
  if (!reply.value.trim()) {
    reply.value = text;
    reply.selectionStart = reply.selectionEnd = text.length;
    reply.focus();
  } else {
    insertAtCursor(reply, text);
  }
  autosizeReply();
  onComposerInput();
}

/** The page's business context (widget `data-context` / `window.lingxiContext`), as key/value rows on the card. */
function renderContext() {
  const box = $('#card-context');
  if (!box) return;
  clear(box);
  const c = state.convs.get(state.selectedId);
  const ctx = c && c.context && typeof c.context === 'object' && !Array.isArray(c.context) ? c.context : null;
  const keys = ctx ? Object.keys(ctx) : [];
  box.hidden = keys.length === 0;
  if (!keys.length) return;
  const value = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  box.appendChild(h('div', { class: 'info-sec ctx-sec', 'data-testid': 'conversation-context' },
    h('h4', null, t('agent.context.title')),
    h('dl', { class: 'kv ctx' }, keys.map((k) => [h('dt', { class: 'mono', title: k }, k), h('dd', { dataset: { key: k } }, value(ctx[k]))]))));
}

let decisionsSeq = 0;
let decisionsTimer = null;

async function loadDecisions(id) {
  if (!id) return;
  const seq = ++decisionsSeq;
  if (!state.decisions || state.decisions.convId !== id) state.decisions = { convId: id, items: null, error: null };
  renderDecisions();
  try {
    const res = await api(`/api/v1/conversations/${encodeURIComponent(id)}/decisions`, { quiet: true });
    if (seq !== decisionsSeq || !state.decisions || state.decisions.convId !== id) return;
    state.decisions = { convId: id, items: (res && res.items) || [], error: null };
  } catch (e) {
    if (seq !== decisionsSeq || !state.decisions || state.decisions.convId !== id || e.status === 401) return;
    state.decisions = { ...state.decisions, error: e.detail };
  }
  renderDecisions();
}

function scheduleDecisions(id, ms = 800) {
  clearTimeout(decisionsTimer);
  decisionsTimer = setTimeout(() => { if (state.selectedId === id) loadDecisions(id); }, ms);
}

/** 机器人决策: a disclosure (closed at first, loaded when opened), newest decision first. */
function renderDecisions() {
  const box = $('#info-decisions');
  if (!box) return;
  clear(box);
  const id = state.selectedId;
  const d = state.decisions && state.decisions.convId === id ? state.decisions : null;
  const details = h('details', { class: 'why decisions', 'data-testid': 'bot-decisions', open: box.dataset.open === '1' });
  details.addEventListener('toggle', () => {
    box.dataset.open = details.open ? '1' : '0';
    // (a re-render creates it open too: load only what is not there yet)
    if (details.open && id && (!state.decisions || state.decisions.convId !== id)) loadDecisions(id);
  });
  details.appendChild(h('summary', null, t('agent.decisions.title'),
    d && d.items ? h('span', { class: 'n' }, ` · ${d.items.length}`) : null));
  box.appendChild(details);
  if (!d) return;
  details.appendChild(h('div', { class: 'dec-tools' },
    h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => loadDecisions(id) }, t('agent.decisions.refresh'))));
  if (!d.items && !d.error) { details.appendChild(h('div', { class: 'muted small' }, t('loading'))); return; }
  if (d.error) { details.appendChild(h('div', { class: 'muted small' }, d.error)); return; }
  if (!d.items.length) { details.appendChild(h('div', { class: 'muted small' }, t('agent.decisions.empty'))); return; }
  for (const x of [...d.items].reverse()) details.appendChild(decisionItem(x));
}

function decisionItem(x) {
  const key = 'agent.decisions.outcome.' + x.outcome;
  const outcome = t(key) === key ? String(x.outcome || '') : t(key);
  const cands = Array.isArray(x.candidates) ? x.candidates : [];
  const entry = x.entry_id ? (cands.find((c) => c.entry_id === x.entry_id) || null) : null;
  const rows = [];
  const kv = (k, v, cls) => { if (v !== null && v !== undefined && v !== '') rows.push(h('dt', null, t(k)), h('dd', cls ? { class: cls } : null, v)); };
  kv('agent.decisions.text', x.text);
  kv('agent.decisions.resolved', x.resolved_text);
  kv('agent.decisions.entry', entry ? entry.question : (x.entry_id || null), entry ? null : 'mono');
  kv('agent.decisions.confidence', x.confidence != null ? confidencePct(x.confidence) : null);
  kv('agent.decisions.flow', x.flow);
  kv('agent.decisions.reason', x.reason);
  kv('agent.decisions.feedback', x.feedback === true ? t('agent.decisions.feedback.up') : x.feedback === false ? t('agent.decisions.feedback.down') : null);
  const others = cands.filter((c) => c !== entry);
  return h('div', { class: 'why-item dec-item', dataset: { outcome: x.outcome || '', followUp: x.follow_up ? '1' : '0' } },
    h('div', { class: 'why-head' },
      h('span', { class: 'badge plain dec-outcome', dataset: { outcome: x.outcome || '' } }, outcome),
      x.follow_up ? h('span', { class: 'chip' }, t('agent.decisions.follow_up')) : null,
      h('span', { class: 'muted small' }, formatTime(x.created_at))),
    rows.length ? h('dl', { class: 'kv' }, rows) : null,
    others.length ? h('div', { class: 'dec-cands muted small' }, `${t('agent.decisions.candidates')}: `,
      others.map((c, i) => [i ? '；' : '', `${c.question || c.entry_id || ''}${c.confidence != null ? ` (${confidencePct(c.confidence)})` : ''}`])) : null);
}

// ------------------------------------------------------------------ live updates

function setConn(s) {
  state.connState = s;
  const el = $('#conn');
  el.className = 'conn ' + (s === 'open' ? 'open' : s === 'closed' ? 'closed' : '');
  $('#conn-text').textContent = t(s === 'open' ? 'ws.online' : s === 'closed' ? 'ws.offline' : 'ws.connecting');
}

function connectSocket() {
  if (state.socket) state.socket.stop();
  state.everConnected = false;
  state.socket = new LiveSocket(() => {
    const tok = getToken();
    return wsUrl('/api/v1/agent/ws' + (tok ? '?token=' + encodeURIComponent(tok) : ''));
  }, {
    onState: (s) => setConn(s),
    // the server answers a ping only once it has registered this workspace (and set us online when we were
    // offline): the status read after the pong is the one routing uses
    onPong: () => loadAgents(),
    onOpen: () => {
      state.socket.send({ type: 'ping' });
      typingSent = { convId: null, at: 0, on: false };
      if (state.everConnected) {
        // we may have missed frames while disconnected
        refreshList();
        if (state.chat) syncMessages();
        tickets.resync();
      }
      state.everConnected = true;
    },
    onFrame: (f) => {
      if (f.type === 'conversation' && f.conversation) upsert(f.conversation);
      else if (f.type === 'message' && f.message) onLiveMessage(f.message);
      else if (f.type === 'queue_changed') scheduleQueueRefresh();
      else if (f.type === 'resync') {
        // the server may have missed events from other nodes: re-read what is shown
        refreshList();
        if (state.chat) syncMessages();
        tickets.resync();
      }
      else if (f.type === 'typing') onTypingFrame(f);
      // a ticket was created or changed (fields, comments, SLA): the Tickets view reads it again
      else if (f.type === 'ticket') tickets.live(f);
      else if (f.type === 'receipt') noteReceipt(f.conversation_id, f.delivered_seq, f.read_seq);
    },
  });
  state.socket.start();
}

function bumpConversation(m) {
  const c = state.convs.get(m.conversation_id);
  if (!c) return false;
  if (!c.last_message || m.seq >= c.last_message.seq) {
    state.convs.set(c.id, { ...c, last_message: m, last_seq: Math.max(c.last_seq || 0, m.seq), updated_at: m.created_at > (c.updated_at || '') ? m.created_at : c.updated_at });
  }
  return true;
}

/** The open conversation is on screen: chats view, page visible. */
function chatVisible(id) {
  return !!state.chat && state.chat.id === id && state.view === 'chats' && !document.hidden;
}

const fetching = new Set();
function onLiveMessage(m) {
  const known = bumpConversation(m);
  if (!known && !fetching.has(m.conversation_id)) {
    fetching.add(m.conversation_id);
    api(`/api/v1/conversations/${encodeURIComponent(m.conversation_id)}`, { quiet: true })
      .then((c) => upsert(c)).catch(() => {}).finally(() => fetching.delete(m.conversation_id));
  }
  const chat = state.chat;
  const viewing = chat && chat.id === m.conversation_id;
  if (viewing) {
    if (!chat.loading && m.seq === chat.maxSeq + 1) addMessage(m);
    else if (m.seq > chat.maxSeq) syncMessages();
  }
  if (m.author === 'visitor') {
    // a visitor who sent a message has stopped typing it
    if (state.typing.delete(m.conversation_id) && viewing) renderTyping();
    if (chatVisible(m.conversation_id)) markReadSoon(m.conversation_id, m.seq);
    else setUnread(m.conversation_id, (state.unread.get(m.conversation_id) || 0) + 1);
  }
  if (state.q && !state.listIds.has(m.conversation_id)) scheduleListRefresh();
  renderList();
  if (viewing) {
    renderInfo();
    if (m.attachment || m.author === 'system') scheduleCardRefresh();
    // a new question: new suggested answers; the bot's decisions grow with every visitor and bot message
    if (m.author === 'visitor') scheduleAssist(m.conversation_id);
    if ((m.author === 'visitor' || m.author === 'bot') && $('#info-decisions').dataset.open === '1') scheduleDecisions(m.conversation_id);
  }
}

let readTimer = null;
function markReadSoon(id, seq) {
  clearTimeout(readTimer);
  setUnread(id, 0);
  readTimer = setTimeout(() => markRead(id, Math.max(seq, state.chat && state.chat.id === id ? state.chat.maxSeq : 0)), 300);
}

// deep link: /agent#c=<conversation id>
window.addEventListener('hashchange', () => {
  // a reset link pasted into the address bar of an open page: the page starts again with its form
  if (resetTokenOf(location.hash)) { location.reload(); return; }
  const wantedTicket = new URLSearchParams(location.hash.slice(1)).get('t');
  if (wantedTicket && state.me) { setView('tickets'); tickets.open(wantedTicket); return; }
  const wanted = new URLSearchParams(location.hash.slice(1)).get('c');
  if (wanted && wanted !== state.selectedId && state.me) { setView('chats'); openById(wanted); }
});

function readOpenChat() {
  const id = state.selectedId;
  if (id && state.chat && chatVisible(id) && !state.chat.loading) {
    markRead(id, state.chat.maxSeq);
    renderList();
  }
}
document.addEventListener('visibilitychange', () => {
  if (document.hidden) typingStop();
  else readOpenChat();
});
for (const b of document.querySelectorAll('#views .vs')) b.addEventListener('click', () => { if (b.dataset.view === 'chats') readOpenChat(); });

// ------------------------------------------------------------------ typing, both ways

let typingSent = { convId: null, at: 0, on: false };
let typingIdle = null;

function sendTyping(convId, on) {
  if (!state.socket || !convId) return;
  if (state.socket.send({ type: 'typing', conversation_id: convId, typing: on })) {
    typingSent = { convId, at: on ? Date.now() : 0, on };
  }
}

/** Keystrokes in the reply box: `typing: true` at most every 3 s, `false` after a pause, on send and on leaving. */
function onComposerInput() {
  slashSuggest();
  const c = state.convs.get(state.selectedId);
  if (!c || c.status === 'closed' || state.composeMode !== 'reply') return;
  if (!reply.value.trim()) { typingStop(); return; }
  if (typingSent.convId !== c.id || !typingSent.on || Date.now() - typingSent.at >= TYPING_EVERY_MS) sendTyping(c.id, true);
  clearTimeout(typingIdle);
  typingIdle = setTimeout(typingStop, TYPING_IDLE_MS);
}

function typingStop() {
  clearTimeout(typingIdle);
  if (typingSent.on && typingSent.convId) sendTyping(typingSent.convId, false);
}

function onTypingFrame(f) {
  if (!f.conversation_id || (f.author && f.author !== 'visitor')) return;
  if (f.typing) state.typing.set(f.conversation_id, Date.now() + TYPING_TTL_MS);
  else state.typing.delete(f.conversation_id);
  if (f.conversation_id === state.selectedId) renderTyping();
  renderList();
  scheduleTypingExpiry();
}

let typingExpiry = null;
function scheduleTypingExpiry() {
  clearTimeout(typingExpiry);
  let next = Infinity;
  for (const until of state.typing.values()) next = Math.min(next, until);
  if (next === Infinity) return;
  typingExpiry = setTimeout(() => {
    const now = Date.now();
    let changed = false;
    for (const [id, until] of state.typing) if (until <= now) { state.typing.delete(id); changed = true; }
    if (changed) { renderTyping(); renderList(); }
    scheduleTypingExpiry();
  }, Math.max(50, next - Date.now() + 20));
}

function renderTyping() {
  const el = $('#typing');
  const c = state.convs.get(state.selectedId);
  const on = !!c && isTyping(c.id) && c.status !== 'closed';
  el.hidden = !on;
  if (on) $('#typing-text').textContent = t('agent.typing', { name: visitorName(c) });
}

// ------------------------------------------------------------------ canned replies (快捷回复)

/** GET /canned-replies?conversation_id=…: the caller's and the team's, with variables filled in for this chat. */
async function loadCanned(convId) {
  try {
    const res = await api(`/api/v1/canned-replies?conversation_id=${encodeURIComponent(convId)}`, { quiet: true });
    if (state.selectedId !== convId) return;
    state.canned = { convId, items: res.items || [], error: null };
  } catch (e) {
    if (e.status === 401 || state.selectedId !== convId) return;
    state.canned = { convId, items: state.canned && state.canned.convId === convId ? state.canned.items : [], error: e.detail };
  }
  if (!$('#canned-pop').hidden) renderCannedPop();
}

const pop = { mode: null, token: null, active: 0, shown: [] }; // mode: menu | slash

function openCannedMenu() {
  pop.mode = 'menu';
  pop.active = 0;
  $('#canned-filter').value = '';
  $('#canned-pop').hidden = false;
  $('#canned-pop').dataset.mode = 'menu';
  $('#btn-canned').setAttribute('aria-expanded', 'true');
  renderCannedPop();
  $('#canned-filter').focus();
  if (state.selectedId) loadCanned(state.selectedId);
}

function closeCannedPop() {
  pop.mode = null;
  pop.token = null;
  const el = $('#canned-pop');
  if (el) el.hidden = true;
  const b = $('#btn-canned');
  if (b) b.setAttribute('aria-expanded', 'false');
}

/** "/" + shortcut typed at the cursor (after a space or at the start): suggest the matching canned replies. */
function slashSuggest() {
  const upto = reply.value.slice(0, reply.selectionStart || 0);
  const m = /(?:^|\s)\/([A-Za-z0-9_-]{0,32})$/.exec(upto);
  if (!m) { if (pop.mode === 'slash') closeCannedPop(); return; }
  const token = m[1];
  if (pop.mode !== 'slash' || pop.token !== token) pop.active = 0;
  pop.mode = 'slash';
  pop.token = token;
  $('#canned-pop').dataset.mode = 'slash';
  renderCannedPop();
  $('#canned-pop').hidden = pop.shown.length === 0 && !!state.canned;
}

function cannedMatches() {
  const items = (state.canned && state.canned.items) || [];
  if (pop.mode === 'slash') {
    const tok = (pop.token || '').toLowerCase();
    const starts = items.filter((x) => String(x.shortcut).toLowerCase().startsWith(tok));
    const rest = tok ? items.filter((x) => !starts.includes(x) && String(x.title).toLowerCase().includes(tok)) : [];
    return [...starts, ...rest];
  }
  const f = $('#canned-filter').value.trim().toLowerCase();
  if (!f) return items;
  return items.filter((x) => [x.shortcut, x.title, x.text, x.preview].some((s) => String(s || '').toLowerCase().includes(f)));
}

function renderCannedPop() {
  const box = $('#canned-items');
  clear(box);
  $('#canned-pop').querySelector('.canned-pop-head').hidden = pop.mode === 'slash';
  pop.shown = cannedMatches();
  if (pop.active >= pop.shown.length) pop.active = Math.max(0, pop.shown.length - 1);
  if (!state.canned) { box.appendChild(h('div', { class: 'muted small canned-empty' }, t('loading'))); return; }
  if (state.canned.error) box.appendChild(h('div', { class: 'muted small canned-empty' }, state.canned.error));
  if (!pop.shown.length && !state.canned.error) {
    box.appendChild(h('div', { class: 'muted small canned-empty' }, t(state.canned.items.length ? 'agent.canned.nomatch' : 'agent.canned.none')));
  }
  pop.shown.forEach((x, i) => {
    box.appendChild(h('button', {
      type: 'button', role: 'option', class: 'canned-item' + (i === pop.active ? ' active' : ''),
      'aria-selected': i === pop.active ? 'true' : 'false',
      dataset: { id: x.id, shortcut: x.shortcut, scope: x.scope },
      onmousedown: (e) => e.preventDefault(), // keep the focus (and the cursor) in the reply box
      onclick: () => pickCanned(x),
      onmouseenter: () => { pop.active = i; for (const [j, el] of [...box.querySelectorAll('.canned-item')].entries()) el.classList.toggle('active', j === i); },
    },
    h('span', { class: 'ci-top' },
      h('span', { class: 'ci-short mono' }, '/' + x.shortcut),
      h('b', { class: 'ci-title' }, x.title),
      h('span', { class: 'chip ci-scope', dataset: { scope: x.scope } }, t('agent.canned.scope.' + x.scope))),
    h('span', { class: 'ci-text' }, oneLine(x.preview || x.text))));
  });
  if (pop.mode === 'menu' && !(state.canned.items || []).length) {
    box.appendChild(h('button', { type: 'button', class: 'btn btn-sm canned-create', onclick: () => { closeCannedPop(); openCannedManager(); } }, t('agent.canned.create')));
  }
}

/** Arrow keys, Enter/Tab and Escape while the suggestions are open. Returns true when it took the key. */
function cannedKeydown(e) {
  if (!pop.mode || $('#canned-pop').hidden || e.isComposing) return false;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    if (!pop.shown.length) return false;
    e.preventDefault();
    pop.active = (pop.active + (e.key === 'ArrowDown' ? 1 : pop.shown.length - 1)) % pop.shown.length;
    renderCannedPop();
    const act = $('#canned-items .canned-item.active');
    if (act) act.scrollIntoView({ block: 'nearest' });
    return true;
  }
  if ((e.key === 'Enter' || e.key === 'Tab') && pop.shown.length) {
    e.preventDefault();
    pickCanned(pop.shown[pop.active]);
    return true;
  }
  if (e.key === 'Escape') {
    e.preventDefault();
    closeCannedPop();
    reply.focus();
    return true;
  }
  return false;
}

/** Put the reply's text (variables filled in) into the composer: in place of "/shortcut", or at the cursor. */
function pickCanned(x) {
  if (!x) return;
  const text = x.preview || x.text || '';
  if (pop.mode === 'slash') {
    const end = reply.selectionStart || 0;
    const upto = reply.value.slice(0, end);
    const m = /(?:^|\s)(\/[A-Za-z0-9_-]{0,32})$/.exec(upto);
    const start = m ? end - m[1].length : end;
    reply.value = reply.value.slice(0, start) + text + reply.value.slice(end);
    reply.selectionStart = reply.selectionEnd = start + text.length;
  } else {
    insertAtCursor(reply, text);
  }
  closeCannedPop();
  autosizeReply();
  reply.focus();
  onComposerInput();
}

function insertAtCursor(el, text) {
  const s = el.selectionStart ?? el.value.length;
  const e = el.selectionEnd ?? el.value.length;
  el.value = el.value.slice(0, s) + text + el.value.slice(e);
  el.selectionStart = el.selectionEnd = s + text.length;
  el.focus();
}

// the manager: create, edit and delete (personal ones; team ones for supervisors and above)

const manager = { items: [], editing: null };

async function openCannedManager() {
  const dlg = $('#canned-dialog');
  $('#cr-scope').querySelector('option[value="team"]').disabled = !isSupervisor();
  editCanned(null);
  renderCannedManager();
  if (!dlg.open) dlg.showModal();
  await loadManager();
}

async function loadManager() {
  try {
    const res = await api('/api/v1/canned-replies', { quiet: true });
    manager.items = res.items || [];
    manager.error = '';
  } catch (e) {
    if (e.status === 401) return;
    manager.error = e.detail;
  }
  renderCannedManager();
}

function canEditCanned(x) { return x.scope === 'personal' || isSupervisor(); }

function renderCannedManager() {
  const list = $('#canned-list');
  clear(list);
  if (manager.error) list.appendChild(h('div', { class: 'form-error' }, manager.error));
  if (!manager.items.length) list.appendChild(h('div', { class: 'muted small canned-empty' }, t('agent.canned.none')));
  const sorted = [...manager.items].sort((a, b) => (a.scope === b.scope ? String(a.shortcut).localeCompare(String(b.shortcut)) : a.scope === 'personal' ? -1 : 1));
  for (const x of sorted) {
    const editable = canEditCanned(x);
    list.appendChild(h('div', { class: 'cm-item' + (manager.editing === x.id ? ' editing' : ''), dataset: { id: x.id, shortcut: x.shortcut, scope: x.scope } },
      h('div', { class: 'ci-top' },
        h('span', { class: 'ci-short mono' }, '/' + x.shortcut),
        h('b', { class: 'ci-title' }, x.title),
        h('span', { class: 'chip ci-scope', dataset: { scope: x.scope } }, t('agent.canned.scope.' + x.scope))),
      h('div', { class: 'ci-text' }, x.text),
      editable ? h('div', { class: 'cm-actions' },
        h('button', { type: 'button', class: 'btn btn-ghost btn-sm cm-edit', onclick: () => editCanned(x) }, t('agent.canned.edit')),
        h('button', { type: 'button', class: 'btn btn-ghost btn-sm btn-danger cm-delete', onclick: () => deleteCanned(x) }, t('agent.canned.delete'))) : null));
  }
  $('#cr-form-title').textContent = t(manager.editing ? 'agent.canned.editing' : 'agent.canned.new');
}

function editCanned(x) {
  manager.editing = x ? x.id : null;
  const form = $('#canned-form');
  form.querySelector('.form-error').hidden = true;
  $('#cr-scope').value = x ? x.scope : 'personal';
  $('#cr-scope').disabled = !!x; // the scope of an existing reply stays
  $('#cr-shortcut').value = x ? x.shortcut : '';
  $('#cr-title').value = x ? x.title : '';
  $('#cr-text').value = x ? x.text : '';
  renderCannedManager();
}

async function saveCanned() {
  const form = $('#canned-form');
  const err = form.querySelector('.form-error');
  err.hidden = true;
  const body = {
    scope: $('#cr-scope').value,
    shortcut: $('#cr-shortcut').value.trim().replace(/^\//, ''),
    title: $('#cr-title').value.trim(),
    text: $('#cr-text').value,
  };
  const fail = (msg) => { err.textContent = msg; err.hidden = false; };
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(body.shortcut)) { fail(t('agent.canned.err.shortcut')); $('#cr-shortcut').focus(); return; }
  if (!body.title) { fail(t('agent.canned.err.title')); $('#cr-title').focus(); return; }
  if (!body.text.trim()) { fail(t('agent.canned.err.text')); $('#cr-text').focus(); return; }
  const btn = $('#cr-save');
  btn.disabled = true;
  try {
    if (manager.editing) {
      await api(`/api/v1/canned-replies/${encodeURIComponent(manager.editing)}`, { method: 'PUT', body, quiet: true });
    } else {
      await api('/api/v1/canned-replies', { method: 'POST', body, quiet: true });
    }
    toast(t('agent.canned.saved'), 'success', 1600);
    editCanned(null);
    await loadManager();
    if (state.selectedId) loadCanned(state.selectedId);
  } catch (e) {
    if (e.status === 401) return;
    fail(e.code === 'already_exists' ? t('agent.canned.err.taken', { shortcut: body.shortcut }) : e.detail);
  } finally {
    btn.disabled = false;
  }
}

async function deleteCanned(x) {
  if (!window.confirm(t('agent.canned.delete.confirm', { shortcut: x.shortcut }))) return;
  try {
    await api(`/api/v1/canned-replies/${encodeURIComponent(x.id)}`, { method: 'DELETE', quiet: true });
    if (manager.editing === x.id) editCanned(null);
    toast(t('agent.canned.deleted'), 'success', 1600);
    await loadManager();
    if (state.selectedId) loadCanned(state.selectedId);
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error');
  }
}
