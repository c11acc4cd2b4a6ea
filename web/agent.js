// Lingxi agent workspace: conversation list, chat pane, visitor card. All visitor text is rendered as text.
import {
  api, t, h, $, clear, initLang, onLangChange, initAuth, LiveSocket, wsUrl, getToken, toast,
  formatTime, formatDateTime, roleLabel, initials, hueOf, uuid, lang,
} from '/common.js';

const TABS = ['queued', 'mine', 'assigned', 'bot', 'closed'];
const TAB_KEY = 'lingxi:agent:tab';

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
};

// ------------------------------------------------------------------ bootstrap

initLang();
const auth = initAuth({ onReady: start, onLogout: stop });
$('#logout').addEventListener('click', () => auth.logout());
onLangChange(() => {
  renderMe(); renderList(); renderChatHead(); renderInfo(); renderComposer(); rerenderMessages();
  setConn(state.connState || 'connecting');
});

for (const btn of document.querySelectorAll('#tabs .tab')) {
  btn.addEventListener('click', () => setTab(btn.dataset.tab));
}
$('#search').addEventListener('input', (e) => { state.search = e.target.value.trim().toLowerCase(); renderList(); });
$('#btn-claim').addEventListener('click', claim);
$('#btn-close').addEventListener('click', closeConv);
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
  let saved = null;
  try { saved = sessionStorage.getItem(TAB_KEY); } catch (_) { /* ignore */ }
  if (!TABS.includes(saved)) saved = countFor('queued') > 0 ? 'queued' : 'mine';
  setTab(saved);
  connectSocket();
  const wanted = new URLSearchParams(location.hash.slice(1)).get('c');
  if (wanted && state.convs.has(wanted)) select(wanted);
}

function stop() {
  if (state.socket) state.socket.stop();
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
    if (c.id === state.selectedId) { renderChatHead(); renderInfo(); renderComposer(); }
  }
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
    .sort((a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : 0));
  clear(list);
  if (!items.length) {
    list.appendChild(h('div', { class: 'list-empty' },
      svgIcon(['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z']),
      t('agent.list.empty.' + state.tab)));
  }
  for (const c of items) list.appendChild(convItem(c));
  updateTitle();
}

function convItem(c) {
  const unread = state.unread.get(c.id) || 0;
  const lm = c.last_message;
  let preview;
  if (lm) {
    const who = lm.author === 'visitor' ? '' : (lm.author === 'agent' ? (lm.author_name || t('author.agent')) : t('author.' + lm.author)) + ': ';
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
    h('div', { class: 'row3' }, statusBadge(c.status), agentName ? h('span', { class: 'agent-tag' }, agentName) : null,
      c.status === 'queued' ? h('span', { class: 'agent-tag wait' }, waited(c.updated_at)) : null),
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
  showChat(true);
  renderList();
  renderChatHead();
  renderInfo();
  renderComposer();
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
  $('#btn-claim').hidden = !(c.status === 'queued' || c.status === 'bot');
  $('#btn-close').hidden = c.status === 'closed';
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
  notice.textContent = text;
  notice.hidden = !text;
  form.hidden = c.status === 'closed';
}

function renderInfo() {
  const c = state.convs.get(state.selectedId);
  const box = $('#info');
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
  if (!prev || prev.author !== m.author || prev.author === 'system') return false;
  if ((prev.author_name || '') !== (m.author_name || '')) return false;
  return Math.abs(new Date(m.created_at) - new Date(prev.created_at)) < 3 * 60 * 1000;
}

function buildMessageRow(m, prev) {
  if (m.author === 'system') {
    return h('div', { class: 'msg system', dataset: { seq: String(m.seq) } }, h('span', { class: 'sys', title: m.text }, localizeSystem(m.text)));
  }
  const cont = sameGroup(prev, m);
  const label = authorLabel(m);
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
    onOpen: () => {
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
