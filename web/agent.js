// Lingxi agent workspace: conversation list, chat pane, visitor card, routing (status, transfer, takeover,
// internal notes, assignment explanations, visitor segments). All visitor and agent text is rendered as text.
import {
  api, t, h, $, clear, initLang, onLangChange, initAuth, LiveSocket, wsUrl, getToken, toast,
  formatTime, formatDateTime, roleLabel, initials, hueOf, uuid, lang,
} from '/common.js';
import { initTickets } from '/tickets.js';

const TABS = ['queued', 'mine', 'assigned', 'bot', 'closed'];
const TAB_KEY = 'lingxi:agent:tab';
const VIEW_KEY = 'lingxi:agent:view';

const state = {
  me: null,
  convs: new Map(),     // id -> conversation
  unread: new Map(),    // id -> count of visitor messages not yet seen
  tab: null,
  search: '',
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
  why: null,            // { convId, key, items, error }: the open conversation's assignment explanations
  view: 'chats',        // chats | tickets
};
const STATUSES = ['online', 'busy', 'away', 'offline'];

// ------------------------------------------------------------------ bootstrap

initLang();
const tickets = initTickets({ openConversation });
const auth = initAuth({ onReady: start, onLogout: stop });
$('#logout').addEventListener('click', () => auth.logout());
onLangChange(() => {
  renderMe(); renderList(); renderChatHead(); renderInfo(); renderComposer(); rerenderMessages();
  renderMyStatus(); renderSegments(); renderWhy();
  if ($('#transfer-dialog').open) renderTransferLists();
  setConn(state.connState || 'connecting');
  tickets.render();
});
for (const b of document.querySelectorAll('#views .vs')) b.addEventListener('click', () => setView(b.dataset.view));
$('#btn-ticket').addEventListener('click', createTicket);

for (const btn of document.querySelectorAll('#tabs .tab')) {
  btn.addEventListener('click', () => setTab(btn.dataset.tab));
}
$('#search').addEventListener('input', (e) => { state.search = e.target.value.trim().toLowerCase(); renderList(); });
$('#btn-claim').addEventListener('click', claim);
$('#btn-close').addEventListener('click', closeConv);
$('#btn-transfer').addEventListener('click', openTransfer);
$('#btn-takeover').addEventListener('click', takeOver);
$('#my-status').addEventListener('change', (e) => setMyStatus(e.target.value));
for (const b of document.querySelectorAll('#composer-modes .mode')) {
  b.addEventListener('click', () => { setComposeMode(b.dataset.mode); reply.focus(); });
}
$('#transfer-form').addEventListener('submit', (e) => { e.preventDefault(); submitTransfer(); });
$('#transfer-cancel').addEventListener('click', () => $('#transfer-dialog').close());
$('#reply-form').addEventListener('submit', (e) => { e.preventDefault(); sendReply(); });
const reply = $('#reply');
reply.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    sendReply();
  }
});
reply.addEventListener('input', autosizeReply);
function autosizeReply() {
  reply.style.height = 'auto';
  reply.style.height = Math.min(160, Math.max(42, reply.scrollHeight)) + 'px';
}

async function start(user) {
  state.me = user;
  renderMe();
  state.convs.clear();
  state.unread.clear();
  await refreshList(true);
  loadGroups();
  let saved = null;
  try { saved = sessionStorage.getItem(TAB_KEY); } catch (_) { /* ignore */ }
  if (!TABS.includes(saved)) saved = countFor('queued') > 0 ? 'queued' : 'mine';
  setTab(saved);
  connectSocket();
  tickets.start(user);
  const hash = new URLSearchParams(location.hash.slice(1));
  const wanted = hash.get('c');
  const wantedTicket = hash.get('t');
  let view = null;
  try { view = sessionStorage.getItem(VIEW_KEY); } catch (_) { /* ignore */ }
  if (wantedTicket) view = 'tickets';
  else if (wanted) view = 'chats';
  setView(view === 'tickets' ? 'tickets' : 'chats');
  if (wantedTicket) tickets.open(wantedTicket);
  if (wanted && state.convs.has(wanted)) select(wanted);
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

/** From a ticket: back to the conversations, with this one open. */
async function openConversation(id) {
  setView('chats');
  if (!state.convs.has(id)) {
    try { upsert(await api(`/api/v1/conversations/${encodeURIComponent(id)}`, { quiet: true })); } catch (e) { toast(e.detail, 'error'); return; }
  }
  const c = state.convs.get(id);
  if (c && !inTab(c, state.tab)) setTab(c.status === 'assigned' ? (isMine(c) ? 'mine' : 'assigned') : c.status);
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
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error');
  } finally {
    btn.disabled = false;
  }
}

function stop() {
  tickets.stop();
  if (state.socket) state.socket.stop();
  if ($('#transfer-dialog').open) $('#transfer-dialog').close();
  state.myStatus = null;
  state.agents = [];
  renderMyStatus();
  state.socket = null;
  state.selectedId = null;
  state.chat = null;
  state.convs.clear();
  state.unread.clear();
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

async function refreshList(quiet = false) {
  try {
    const [open, closed] = await Promise.all([
      api('/api/v1/conversations?status=open&limit=200', { quiet }),
      api('/api/v1/conversations?status=closed&limit=100', { quiet }),
    ]);
    const seen = new Set();
    for (const c of [...(open.items || []), ...(closed.items || [])]) {
      seen.add(c.id);
      upsert(c, false);
    }
    for (const id of [...state.convs.keys()]) {
      if (!seen.has(id) && id !== state.selectedId) state.convs.delete(id);
    }
    renderList();
  } catch (e) {
    if (e.status !== 401 && quiet) toast(e.message, 'error');
  }
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
  if (render && c.status === 'queued' && (!prev || prev.status !== 'queued')) {
    toast(t('agent.new_queued', { name: visitorName(c) }), 'info', 4000);
  }
  if (render) {
    renderList();
    if (c.id === state.selectedId) {
      renderChatHead(); renderInfo(); renderComposer();
      if (state.why && state.why.key !== whyKey(c)) loadWhy(c);
    }
  }
  if (c.group_id && !state.groups.has(c.group_id)) loadGroups();
}

function isMine(c) { return c.status === 'assigned' && c.assigned_agent && state.me && c.assigned_agent.id === state.me.id; }

function inTab(c, tab) {
  switch (tab) {
    case 'queued': return c.status === 'queued';
    case 'mine': return isMine(c);
    case 'assigned': return c.status === 'assigned';
    case 'bot': return c.status === 'bot';
    case 'closed': return c.status === 'closed';
    default: return false;
  }
}

function countFor(tab) {
  let n = 0;
  for (const c of state.convs.values()) if (inTab(c, tab)) n++;
  return n;
}

function activity(c) {
  return (c.last_message && c.last_message.created_at) || c.updated_at || c.created_at || '';
}

function visitorName(c) {
  return (c && c.visitor && c.visitor.name) || t('agent.visitor.anon');
}

// ------------------------------------------------------------------ list

function setTab(tab) {
  if (!TABS.includes(tab)) tab = 'queued';
  state.tab = tab;
  try { sessionStorage.setItem(TAB_KEY, tab); } catch (_) { /* ignore */ }
  for (const b of document.querySelectorAll('#tabs .tab')) {
    const on = b.dataset.tab === tab;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  renderList();
}

function renderList() {
  if (!state.me) return;
  // tab counters
  for (const tab of ['queued', 'mine', 'assigned', 'bot']) {
    const el = document.querySelector(`[data-count="${tab}"]`);
    const n = countFor(tab);
    el.hidden = n === 0;
    el.textContent = n > 99 ? '99+' : String(n);
  }
  const list = $('#conv-list');
  const items = [...state.convs.values()]
    .filter((c) => inTab(c, state.tab))
    .filter((c) => {
      if (!state.search) return true;
      const hay = [visitorName(c), c.visitor && c.visitor.id, c.last_message && c.last_message.text, c.id].join(' ').toLowerCase();
      return hay.includes(state.search);
    })
    .sort(state.tab === 'queued' ? queueOrder : (a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : 0));
  clear(list);
  if (!items.length) {
    list.appendChild(h('div', { class: 'list-empty' },
      svgIcon(['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z']),
      t('agent.list.empty.' + state.tab)));
  }
  for (const c of items) list.appendChild(convItem(c));
  updateTitle();
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

function convItem(c) {
  const unread = state.unread.get(c.id) || 0;
  const lm = c.last_message;
  let preview;
  if (lm) {
    const who = lm.author === 'visitor' ? '' : (lm.author === 'agent' ? (lm.author_name || t('author.agent')) : t('author.' + lm.author)) + ': ';
    // an internal note is previewed with its label, never mistaken for a reply
    preview = h('span', { class: 'preview' }, who ? h('span', { class: 'who' }, who) : null, oneLine(lm.author === 'system' ? localizeSystem(lm.text) : lm.text));
  } else {
    preview = h('span', { class: 'preview' }, h('span', { class: 'who' }, t('agent.nomsg')));
  }
  const name = visitorName(c);
  const agentName = c.assigned_agent ? (isMine(c) ? `${c.assigned_agent.name} (${t('agent.you')})` : c.assigned_agent.name) : null;
  const item = h('div', {
    class: 'conv' + (c.id === state.selectedId ? ' active' : '') + (unread ? ' unread' : ''),
    role: 'button',
    tabindex: '0',
    dataset: { id: c.id, status: c.status },
    onclick: () => select(c.id),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(c.id); } },
  },
  avatar(name, c.visitor && c.visitor.id),
  h('div', { class: 'body' },
    h('div', { class: 'row1' }, h('span', { class: 'name' }, name), h('span', { class: 'time' }, formatTime(activity(c)))),
    h('div', { class: 'row2' }, preview, unread ? h('span', { class: 'count' }, unread > 99 ? '99+' : String(unread)) : null),
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
  for (const n of state.unread.values()) total += n;
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
  state.selectedId = id;
  state.unread.delete(id);
  history.replaceState(null, '', '#c=' + encodeURIComponent(id));
  state.chat = { id, maxSeq: 0, seqEls: new Map(), pending: new Map(), loading: true, syncing: false, again: false, lastRow: null, messages: [] };
  state.composeMode = 'reply';
  const conv = state.convs.get(id);
  if (!state.visitor || !conv.visitor || state.visitor.id !== conv.visitor.id) { state.visitor = null; state.segDraft = null; }
  state.why = null;
  showChat(true);
  renderList();
  renderChatHead();
  renderInfo();
  renderComposer();
  renderSegments();
  renderWhy();
  loadVisitor(conv);
  loadWhy(conv);
  const box = $('#messages');
  clear(box);
  box.appendChild(h('div', { class: 'history-loading' }, t('agent.history.loading')));
  reply.value = '';
  autosizeReply();
  await syncMessages(true);
  const c = state.convs.get(id);
  if (c && c.status !== 'closed') reply.focus();
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
}

function isSupervisor() {
  return !!(state.me && ['owner', 'admin', 'supervisor'].includes(state.me.role));
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
  state.composeMode = mode === 'note' ? 'note' : 'reply';
  renderComposer();
}

function renderInfo() {
  const c = state.convs.get(state.selectedId);
  const box = $('#info-main');
  if (!c) return;
  clear(box);
  const name = visitorName(c);
  const none = t('agent.info.none');
  const handoff = c.handoff_reason ? (t('handoff.' + c.handoff_reason) !== 'handoff.' + c.handoff_reason ? t('handoff.' + c.handoff_reason) : c.handoff_reason) : none;
  const channel = t('agent.channel.' + c.channel) !== 'agent.channel.' + c.channel ? t('agent.channel.' + c.channel) : (c.channel || none);
  const row = (k, v, cls) => [h('dt', null, t(k)), h('dd', cls ? { class: cls } : null, v == null || v === '' ? none : v)];
  box.appendChild(h('div', { class: 'info-head' }, avatar(name, c.visitor && c.visitor.id, 'lg'), h('h3', null, name), statusBadge(c.status)));
  box.appendChild(h('div', { class: 'info-sec' },
    h('h4', null, t('agent.info.title')),
    h('dl', { class: 'kv' },
      row('agent.info.name', name),
      row('agent.info.visitor_id', c.visitor && c.visitor.id, 'mono'),
      row('agent.info.channel', channel),
    )));
  box.appendChild(h('div', { class: 'info-sec' },
    h('h4', null, t('agent.info.status')),
    h('dl', { class: 'kv' },
      row('agent.info.status', t('status.' + c.status)),
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
  if (m.author === 'note') {
    return h('div', { class: 'msg note', dataset: { seq: String(m.seq), author: 'note' } },
      avatar(label, label),
      h('div', { class: 'col' },
        h('div', { class: 'who' }, h('span', { class: 'note-tag' }, t('author.note')), h('span', null, label), h('span', null, formatTime(m.created_at))),
        h('div', { class: 'bubble' }, m.text)));
  }
  const av = m.author === 'bot'
    ? h('span', { class: 'avatar bot' }, svgIcon(['M12 8V4H8', 'M4 12a8 8 0 0 1 8-8', 'M5 10h14a1 1 0 0 1 1 1v7a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2v-7a1 1 0 0 1 1-1z', 'M9 15h.01', 'M15 15h.01']))
    : avatar(label, m.author === 'visitor' ? (state.convs.get(m.conversation_id) || {}).visitor?.id : label);
  return h('div', { class: `msg ${m.author}` + (cont ? ' cont' : ''), dataset: { seq: String(m.seq), author: m.author } },
    av,
    h('div', { class: 'col' },
      h('div', { class: 'who' }, h('span', null, label), h('span', null, formatTime(m.created_at))),
      h('div', { class: 'bubble' }, m.text)));
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
  const chat = state.chat;
  const c = chat && state.convs.get(chat.id);
  if (!c || c.status === 'closed') return;
  let text, clientId, row;
  if (retryRow) {
    text = retryRow.dataset.text; clientId = retryRow.dataset.clientId; row = retryRow;
    row.classList.remove('failed'); row.classList.add('pending');
    row.querySelector('.state').textContent = t('agent.sending');
  } else {
    text = reply.value;
    if (!text.trim()) return;
    reply.value = '';
    autosizeReply();
    clientId = uuid();
    row = h('div', { class: 'msg agent mine pending', dataset: { pending: '1', clientId, text } },
      avatar(state.me.name, state.me.name),
      h('div', { class: 'col' },
        h('div', { class: 'who' }, h('span', null, state.me.name)),
        h('div', { class: 'bubble' }, text),
        h('div', { class: 'state' }, t('agent.sending'))));
    $('#messages').appendChild(row);
    chat.pending.set(clientId, row);
    scrollToBottom(true);
  }
  try {
    const m = await api(`/api/v1/conversations/${encodeURIComponent(c.id)}/messages`, { method: 'POST', body: { text, client_id: clientId } });
    if (m && typeof m.seq === 'number') {
      if (state.chat === chat) {
        if (!chat.loading && m.seq === chat.maxSeq + 1) addMessage(m);
        else if (m.seq > chat.maxSeq) syncMessages();
        else if (chat.pending.has(clientId)) { chat.pending.get(clientId).remove(); chat.pending.delete(clientId); }
      }
      bumpConversation(m);
    }
    // replying to a queued/bot conversation assigns it to us: refresh our view of it
    if (c.status !== 'assigned') {
      api(`/api/v1/conversations/${encodeURIComponent(c.id)}`, { quiet: true }).then((fresh) => upsert(fresh)).catch(() => {});
    }
  } catch (e) {
    if (state.chat === chat && chat.pending.has(clientId)) {
      row.classList.remove('pending'); row.classList.add('failed');
      const st = row.querySelector('.state');
      st.textContent = `${e.message} · ${t('agent.failed')}`;
      st.onclick = () => sendReply(row);
    }
  }
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
    if (state.tab === 'queued' || state.tab === 'bot') setTab('mine');
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
  if (state.visitor && state.visitor.external_id) {
    box.appendChild(h('dl', { class: 'kv seg-kv' }, h('dt', null, t('agent.info.external_id')), h('dd', { class: 'mono' }, state.visitor.external_id)));
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
    state.visitor = v;
    state.segDraft = { visitorId: v.id, tags: [...(v.tags || [])], vip: !!v.vip, dirty: false };
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
    if (state.tab !== 'mine') setTab('mine');
    syncMessages();
    reply.focus();
  } catch (e) {
    if (e.status !== 401) toast(e.detail, 'error');
  } finally { btn.disabled = false; }
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
      if (state.everConnected) {
        // we may have missed frames while disconnected
        refreshList();
        if (state.chat) syncMessages();
      }
      state.everConnected = true;
    },
    onFrame: (f) => {
      if (f.type === 'conversation' && f.conversation) upsert(f.conversation);
      else if (f.type === 'message' && f.message) onLiveMessage(f.message);
      else if (f.type === 'queue_changed') scheduleQueueRefresh();
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

function onLiveMessage(m) {
  const known = bumpConversation(m);
  if (!known) {
    api(`/api/v1/conversations/${encodeURIComponent(m.conversation_id)}`, { quiet: true }).then((c) => upsert(c)).catch(() => {});
  }
  const chat = state.chat;
  const viewing = chat && chat.id === m.conversation_id;
  if (viewing) {
    if (!chat.loading && m.seq === chat.maxSeq + 1) addMessage(m);
    else if (m.seq > chat.maxSeq) syncMessages();
  }
  if (m.author === 'visitor' && (!viewing || document.hidden)) {
    state.unread.set(m.conversation_id, (state.unread.get(m.conversation_id) || 0) + 1);
  }
  renderList();
  if (viewing) renderInfo();
}

// deep link: /agent#c=<conversation id>
window.addEventListener('hashchange', () => {
  const wantedTicket = new URLSearchParams(location.hash.slice(1)).get('t');
  if (wantedTicket && state.me) { setView('tickets'); tickets.open(wantedTicket); return; }
  const wanted = new URLSearchParams(location.hash.slice(1)).get('c');
  if (wanted && wanted !== state.selectedId && state.me) {
    if (state.convs.has(wanted)) select(wanted);
    else api(`/api/v1/conversations/${encodeURIComponent(wanted)}`, { quiet: true }).then((c) => { upsert(c); select(c.id); }).catch(() => {});
  }
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.selectedId && state.unread.has(state.selectedId)) {
    state.unread.delete(state.selectedId);
    renderList();
  }
});
