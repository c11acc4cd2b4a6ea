// Lingxi admin console, "Ticket settings" tab (工单设置): custom field definitions, SLA policies with escalation, the
// business calendar, dispatch (rules, triage group, auto-classify, threshold) — all saved together with
// PUT /api/v1/admin/ticket-settings — the support e-mail inbox (邮件接入: the addresses whose mail becomes tickets,
// GET/PUT /api/v1/admin/email-inbox, saved on its own) and the recent notifications, webhooks and e-mails
// (GET /api/v1/admin/webhooks: an e-mail's url is `mailto:addr`).
// Imported by admin.js. Every server and admin text reaches the DOM as text.
import { api, t, h, $, clear, toast, formatDateTime } from '/common.js';

const KINDS = ['text', 'number', 'select', 'date'];
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const LIST_SPLIT = /[,，、;；\n]/;

const ts = {
  loaded: false,
  loading: false,
  dirty: false,
  error: '',
  groups: [],
  // drafts of what the form edits; `base` is the last settings read or saved (for what the form does not edit)
  base: null,
  fields: [],
  policies: [],
  cal: { on: false, timezone: 'Asia/Shanghai', weekly: ['', '', '', '', '', '', ''], holidays: '', makeup: '' },
  dispatch: { triage: '', auto: true, threshold: '0.5', rules: '[]' },
  hooks: null,
  hooksError: '',
  // the e-mail inbox: the addresses as the server last answered them, whether this server listens for mail
  inbox: { loaded: false, loading: false, addresses: [], listening: false, dirty: false, error: '' },
};

function markDirty(on = true) {
  ts.dirty = on;
  const d = $('#ts-dirty');
  if (d) d.hidden = !on;
}

/** Wires the tab's buttons; returns { load, render, dirty() }. */
export function initTicketSettings() {
  $('#ts-field-add').addEventListener('click', () => {
    ts.fields.push({ key: '', label_zh: '', label_en: '', kind: 'text', options: '', required: false });
    markDirty();
    renderFields();
    const keys = document.querySelectorAll('#ts-fields-body .tf-key');
    if (keys.length) keys[keys.length - 1].focus();
  });
  $('#ts-sla-add').addEventListener('click', () => {
    ts.policies.push(policyDraft({ name: t('admin.ts.sla.new_name'), business_hours: false }));
    markDirty();
    renderPolicies();
    const names = document.querySelectorAll('#ts-sla-list .sp-name');
    if (names.length) { const n = names[names.length - 1]; n.focus(); n.select(); }
  });
  $('#ts-save').addEventListener('click', save);
  $('#ts-reset').addEventListener('click', () => { markDirty(false); load(true); });
  $('#ts-hooks-refresh').addEventListener('click', loadHooks);
  $('#ts-inbox-addresses').addEventListener('input', () => { ts.inbox.dirty = true; });
  $('#ts-inbox-save').addEventListener('click', saveInbox);
  // calendar and dispatch inputs are static: read into the drafts as they change
  $('#ts-cal-on').addEventListener('change', (e) => { ts.cal.on = e.target.checked; markDirty(); renderCalendar(); });
  for (const [id, key] of [['#ts-cal-tz', 'timezone'], ['#ts-cal-holidays', 'holidays'], ['#ts-cal-makeup', 'makeup']]) {
    $(id).addEventListener('input', (e) => { ts.cal[key] = e.target.value; markDirty(); });
  }
  $('#ts-triage').addEventListener('change', (e) => { ts.dispatch.triage = e.target.value; markDirty(); });
  $('#ts-auto').addEventListener('change', (e) => { ts.dispatch.auto = e.target.checked; markDirty(); });
  $('#ts-threshold').addEventListener('input', (e) => { ts.dispatch.threshold = e.target.value; markDirty(); });
  $('#ts-rules').addEventListener('input', (e) => { ts.dispatch.rules = e.target.value; markDirty(); });
  window.addEventListener('beforeunload', (e) => { if (ts.dirty || ts.inbox.dirty) { e.preventDefault(); e.returnValue = ''; } });
  return { load, render, dirty: () => ts.dirty };
}

// ------------------------------------------------------------------ drafts ↔ wire

function fieldDraft(f) {
  return {
    key: f.key || '', label_zh: f.label_zh || '', label_en: f.label_en || '', kind: KINDS.includes(f.kind) ? f.kind : 'text',
    options: (f.options || []).join(', '), required: !!f.required,
  };
}

function fieldWire(d) {
  return {
    key: d.key.trim(), label_zh: d.label_zh.trim(), label_en: d.label_en.trim(), kind: d.kind,
    options: d.kind === 'select' ? d.options.split(LIST_SPLIT).map((s) => s.trim()).filter(Boolean) : [],
    required: !!d.required,
  };
}

/** A number as the input shows it: at most 4 decimals, no trailing zeros. */
function num(v) {
  return String(Math.round(v * 10000) / 10000);
}

function policyDraft(p) {
  const esc = p.escalation || {};
  return {
    name: p.name || '',
    first: p.first_response_secs == null ? '' : num(p.first_response_secs / 60),
    resolution: p.resolution_secs == null ? '' : num(p.resolution_secs / 3600),
    business_hours: !!p.business_hours,
    warn_before: p.warn_before, // not edited here: kept as it is
    raise: esc.raise_priority !== false,
    group: esc.reassign_group_id || '',
    webhook: esc.webhook_url || '',
    email: (esc.email_to || []).join(', '),
    conditions: JSON.stringify(p.conditions || []),
  };
}

class DraftError extends Error {}

function secs(text, unit, what, name) {
  const s = String(text).trim();
  if (!s) return null;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new DraftError(t('admin.ts.err.target', { what, name }));
  return Math.max(1, Math.round(n * unit));
}

function parseJson(text, what, wantArray = true) {
  let v;
  try { v = JSON.parse(String(text).trim() || (wantArray ? '[]' : '{}')); } catch (e) {
    throw new DraftError(t('admin.ts.err.json', { what, msg: e.message }));
  }
  if (wantArray ? !Array.isArray(v) : (v === null || typeof v !== 'object' || Array.isArray(v))) {
    throw new DraftError(t(wantArray ? 'admin.ts.err.array' : 'admin.ts.err.object', { what }));
  }
  return v;
}

/** E-mail addresses separated by commas, semicolons or new lines (not spaces: the server names what it refuses). */
function emailList(text) {
  const out = [];
  for (const a of String(text || '').split(LIST_SPLIT).map((x) => x.trim()).filter(Boolean)) {
    if (!out.some((y) => y.toLowerCase() === a.toLowerCase())) out.push(a);
  }
  return out;
}

function policyWire(d) {
  const name = d.name.trim();
  const out = {
    name,
    conditions: parseJson(d.conditions, t('admin.ts.sla.conditions') + ` (${name})`),
    first_response_secs: secs(d.first, 60, t('admin.ts.sla.first'), name),
    resolution_secs: secs(d.resolution, 3600, t('admin.ts.sla.resolution'), name),
    business_hours: !!d.business_hours,
    escalation: {
      raise_priority: !!d.raise, reassign_group_id: d.group || null, webhook_url: d.webhook.trim() || null,
      // the server checks each address (and at most 10) and names the one it refuses
      email_to: emailList(d.email),
    },
  };
  if (d.warn_before) out.warn_before = d.warn_before;
  return out;
}

function calendarDraft(c) {
  if (!c) return { on: false, timezone: 'Asia/Shanghai', weekly: ['09:00-18:00', '09:00-18:00', '09:00-18:00', '09:00-18:00', '09:00-18:00', '', ''], holidays: '', makeup: '' };
  const makeup = c.makeup_workdays && Object.keys(c.makeup_workdays).length ? JSON.stringify(c.makeup_workdays) : '';
  return {
    on: true,
    timezone: c.timezone || '',
    weekly: WEEKDAYS.map((_, i) => ((c.weekly && c.weekly[i]) || []).join(', ')),
    holidays: (c.holidays || []).join(', '),
    makeup,
  };
}

function calendarWire(d) {
  if (!d.on) return null;
  return {
    timezone: d.timezone.trim(),
    weekly: d.weekly.map((s) => String(s).split(/[,，;；\s]+/).map((x) => x.trim()).filter(Boolean)),
    holidays: d.holidays.split(/[,，;；\s]+/).map((x) => x.trim()).filter(Boolean),
    makeup_workdays: parseJson(d.makeup, t('admin.ts.cal.makeup'), false),
  };
}

function fromSettings(s) {
  ts.base = s;
  ts.fields = (s.custom_fields || []).map(fieldDraft);
  ts.policies = (s.sla_policies || []).map(policyDraft);
  ts.cal = calendarDraft(s.calendar);
  ts.dispatch = {
    triage: s.triage_group_id || '',
    auto: s.auto_classify !== false,
    threshold: s.threshold == null ? '0.5' : num(s.threshold),
    rules: JSON.stringify(s.rules || [], null, 2),
  };
}

function toSettings() {
  const threshold = Number(ts.dispatch.threshold);
  if (String(ts.dispatch.threshold).trim() === '' || !Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
    throw new DraftError(t('admin.ts.err.threshold'));
  }
  return {
    rules: parseJson(ts.dispatch.rules, t('admin.ts.dispatch.rules')),
    triage_group_id: ts.dispatch.triage || null,
    auto_classify: !!ts.dispatch.auto,
    threshold,
    sla_policies: ts.policies.map(policyWire),
    calendar: calendarWire(ts.cal),
    custom_fields: ts.fields.map(fieldWire),
  };
}

// ------------------------------------------------------------------ load / save

async function load(force = false) {
  loadInbox();
  if (ts.loading || (ts.dirty && !force)) { loadHooks(); return; }
  ts.loading = true;
  try {
    const [s, g] = await Promise.all([
      api('/api/v1/admin/ticket-settings', { quiet: true }),
      api('/api/v1/groups', { quiet: true }).catch(() => ({ items: ts.groups })),
    ]);
    ts.groups = g.items || [];
    fromSettings(s);
    ts.loaded = true;
    ts.error = '';
    markDirty(false);
    $('#sec-tickets').dataset.loaded = '1';
  } catch (e) {
    if (e.status === 401) return;
    ts.error = e.detail;
  } finally {
    ts.loading = false;
  }
  render();
  loadHooks();
}

async function save() {
  const err = $('#ts-error');
  err.hidden = true;
  let body;
  try {
    body = toSettings();
  } catch (e) {
    if (!(e instanceof DraftError)) throw e;
    err.textContent = e.message;
    err.hidden = false;
    return;
  }
  const btn = $('#ts-save');
  btn.disabled = true;
  try {
    const saved = await api('/api/v1/admin/ticket-settings', { method: 'PUT', body, quiet: true });
    fromSettings(saved);
    ts.error = '';
    markDirty(false);
    render();
    toast(t('admin.ts.saved'), 'success');
  } catch (e) {
    if (e.status === 401) return;
    // the server names what is wrong, e.g. 'custom field "order_no": labels have 1 to 60 characters'
    err.textContent = e.detail;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

/** The e-mail inbox (its own GET); addresses being edited are not replaced. */
async function loadInbox() {
  const ib = ts.inbox;
  if (ib.loading) return;
  ib.loading = true;
  try {
    const r = await api('/api/v1/admin/email-inbox', { quiet: true });
    ib.listening = !!r.listening;
    if (!ib.dirty) ib.addresses = r.addresses || [];
    ib.loaded = true;
    ib.error = '';
  } catch (e) {
    if (e.status === 401) return;
    ib.error = e.detail;
  } finally {
    ib.loading = false;
  }
  renderInbox();
}

/** Saves the addresses (one a line; commas and semicolons split too); the server checks, normalises and sorts them. */
async function saveInbox() {
  const ib = ts.inbox;
  const ta = $('#ts-inbox-addresses');
  const addresses = ta.value.split(LIST_SPLIT).map((x) => x.trim()).filter(Boolean);
  const err = $('#ts-inbox-error');
  err.hidden = true;
  const btn = $('#ts-inbox-save');
  btn.disabled = true;
  try {
    const r = await api('/api/v1/admin/email-inbox', { method: 'PUT', body: { addresses }, quiet: true });
    ib.addresses = r.addresses || [];
    ib.listening = !!r.listening;
    ib.loaded = true;
    ib.dirty = false;
    ib.error = '';
    renderInbox(true);
    toast(t('admin.ts.inbox.saved'), 'success');
  } catch (e) {
    if (e.status === 401) return;
    // 400: the address it refuses, or too many; 409: an address another tenant receives mail at
    ib.error = e.detail;
    renderInbox();
  } finally {
    btn.disabled = false;
  }
}

async function loadHooks() {
  try {
    const r = await api('/api/v1/admin/webhooks', { quiet: true });
    ts.hooks = r.items || [];
    ts.hooksError = '';
  } catch (e) {
    if (e.status === 401) return;
    ts.hooksError = e.detail;
  }
  renderHooks();
}

// ------------------------------------------------------------------ rendering

function render() {
  const err = $('#ts-error');
  if (ts.error && !ts.loaded) { err.textContent = ts.error; err.hidden = false; }
  renderFields();
  renderPolicies();
  renderCalendar();
  renderDispatch();
  renderHooks();
  renderInbox();
  markDirty(ts.dirty);
}

function groupSelect(cls, value, noneKey, onChange) {
  const sel = h('select', { class: 'select ' + cls },
    h('option', { value: '' }, t(noneKey)),
    ts.groups.map((g) => h('option', { value: g.id }, g.name)));
  if (value && !ts.groups.some((g) => g.id === value)) sel.appendChild(h('option', { value }, value));
  sel.value = value || '';
  sel.addEventListener('change', () => onChange(sel.value));
  return sel;
}

function renderFields() {
  const body = $('#ts-fields-body');
  clear(body);
  if (!ts.fields.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '7', class: 'empty-row' }, t('admin.ts.fields.empty'))));
    return;
  }
  ts.fields.forEach((d, i) => {
    const input = (cls, key, attrs = {}) => {
      const el = h('input', { class: 'input ' + cls, value: d[key], 'aria-label': t('admin.ts.field.' + key), ...attrs });
      el.addEventListener('input', () => { d[key] = el.value; markDirty(); });
      return el;
    };
    const kind = h('select', { class: 'select tf-kind', 'aria-label': t('admin.ts.field.kind') },
      KINDS.map((k) => h('option', { value: k }, t('admin.ts.kind.' + k))));
    kind.value = d.kind;
    const options = input('tf-options', 'options', { placeholder: t('admin.ts.field.options.ph'), disabled: d.kind !== 'select' });
    kind.addEventListener('change', () => { d.kind = kind.value; options.disabled = d.kind !== 'select'; markDirty(); });
    const req = h('input', { type: 'checkbox', class: 'tf-required', 'aria-label': t('admin.ts.field.required') });
    req.checked = d.required;
    req.addEventListener('change', () => { d.required = req.checked; markDirty(); });
    body.appendChild(h('tr', { class: 'tf-row', dataset: { index: String(i), key: d.key } },
      h('td', null, input('mono tf-key', 'key', { maxlength: '40', placeholder: 'order_no', pattern: '[a-z0-9_]+' })),
      h('td', null, input('tf-label-zh', 'label_zh', { maxlength: '60', placeholder: '订单号' })),
      h('td', null, input('tf-label-en', 'label_en', { maxlength: '60', placeholder: 'Order no.' })),
      h('td', null, kind),
      h('td', null, options),
      h('td', { class: 'tf-req-cell' }, req),
      h('td', null, h('button', {
        class: 'btn btn-sm btn-danger tf-remove', type: 'button', title: t('admin.ts.field.remove'), 'aria-label': t('admin.ts.field.remove'),
        onclick: () => { ts.fields.splice(i, 1); markDirty(); renderFields(); },
      }, '✕'))));
  });
}

function renderPolicies() {
  const box = $('#ts-sla-list');
  clear(box);
  if (!ts.policies.length) {
    box.appendChild(h('div', { class: 'empty-row' }, t('admin.ts.sla.empty')));
    return;
  }
  ts.policies.forEach((d, i) => box.appendChild(policyCard(d, i)));
}

function policyCard(d, i) {
  const n = ts.policies.length;
  const bind = (el, key, ev = 'input', read = () => el.value) => { el.addEventListener(ev, () => { d[key] = read(); markDirty(); }); return el; };
  const name = bind(h('input', { class: 'input r-name sp-name', maxlength: '80', value: d.name, 'aria-label': t('admin.ts.sla.name'), placeholder: t('admin.ts.sla.name') }), 'name');
  const first = bind(h('input', { class: 'input sp-first', type: 'number', min: '0', step: 'any', value: d.first, placeholder: '—' }), 'first');
  const res = bind(h('input', { class: 'input sp-resolution', type: 'number', min: '0', step: 'any', value: d.resolution, placeholder: '—' }), 'resolution');
  const bh = h('input', { type: 'checkbox', class: 'sp-business' });
  bh.checked = d.business_hours;
  bind(bh, 'business_hours', 'change', () => bh.checked);
  const raise = h('input', { type: 'checkbox', class: 'sp-raise' });
  raise.checked = d.raise;
  bind(raise, 'raise', 'change', () => raise.checked);
  const group = groupSelect('sp-group', d.group, 'admin.ts.sla.no_reassign', (v) => { d.group = v; markDirty(); });
  const hook = bind(h('input', { class: 'input sp-webhook', type: 'url', maxlength: '500', value: d.webhook, placeholder: 'https://…' }), 'webhook');
  const email = bind(h('textarea', { class: 'textarea sp-email', rows: '2', maxlength: '4000', spellcheck: 'false', placeholder: 'lead@example.com, ops@example.com' }), 'email');
  email.value = d.email;
  const conds = bind(h('textarea', { class: 'textarea mono sp-conds', rows: '2', spellcheck: 'false', placeholder: '[{"field":"priority","op":"eq","value":"urgent"}]' }), 'conditions');
  conds.value = d.conditions;
  const move = (delta) => {
    const j = i + delta;
    if (j < 0 || j >= n) return;
    [ts.policies[i], ts.policies[j]] = [ts.policies[j], ts.policies[i]];
    markDirty();
    renderPolicies();
  };
  const field = (key, control, cls = '') => h('label', { class: 'ts-f ' + cls }, h('span', null, t(key)), control);
  return h('div', { class: 'rule-card sla-card', dataset: { index: String(i), name: d.name } },
    h('div', { class: 'r-top' },
      h('span', { class: 'r-num' }, String(i + 1)),
      name,
      h('div', { class: 'r-btns' },
        h('button', { class: 'btn btn-sm', type: 'button', title: t('admin.routing.rule.up'), 'aria-label': t('admin.routing.rule.up'), disabled: i === 0, onclick: () => move(-1) }, '↑'),
        h('button', { class: 'btn btn-sm', type: 'button', title: t('admin.routing.rule.down'), 'aria-label': t('admin.routing.rule.down'), disabled: i === n - 1, onclick: () => move(1) }, '↓'),
        h('button', {
          class: 'btn btn-sm btn-danger sp-remove', type: 'button', title: t('admin.ts.sla.remove'), 'aria-label': t('admin.ts.sla.remove'),
          onclick: () => { ts.policies.splice(i, 1); markDirty(); renderPolicies(); },
        }, '✕'))),
    h('div', { class: 'ts-grid' },
      field('admin.ts.sla.first', first),
      field('admin.ts.sla.resolution', res),
      h('label', { class: 'check ts-check' }, bh, h('span', null, t('admin.ts.sla.business_hours')))),
    h('div', { class: 'ts-sub' }, t('admin.ts.sla.escalation')),
    h('div', { class: 'ts-grid' },
      h('label', { class: 'check ts-check' }, raise, h('span', null, t('admin.ts.sla.raise'))),
      field('admin.ts.sla.reassign', group),
      field('admin.ts.sla.webhook', hook, 'wide')),
    field('admin.ts.sla.email', email, 'block'),
    h('div', { class: 'muted small' }, t('admin.ts.sla.email.hint')),
    field('admin.ts.sla.conditions', conds, 'block'),
    h('div', { class: 'muted small' }, t('admin.ts.sla.conditions.hint')));
}

function renderCalendar() {
  const c = ts.cal;
  $('#ts-cal-on').checked = c.on;
  $('#ts-cal-box').hidden = !c.on;
  $('#ts-cal-tz').value = c.timezone;
  $('#ts-cal-holidays').value = c.holidays;
  $('#ts-cal-makeup').value = c.makeup;
  const week = $('#ts-cal-week');
  clear(week);
  WEEKDAYS.forEach((day, i) => {
    const inp = h('input', { class: 'input ts-day', value: c.weekly[i], placeholder: t('admin.ts.cal.closed'), dataset: { day }, 'aria-label': t('admin.ts.day.' + day) });
    inp.addEventListener('input', () => { c.weekly[i] = inp.value; markDirty(); });
    week.appendChild(h('label', { class: 'ts-f' }, h('span', null, t('admin.ts.day.' + day)), inp));
  });
}

function renderDispatch() {
  const sel = $('#ts-triage');
  clear(sel);
  sel.appendChild(h('option', { value: '' }, t('admin.ts.dispatch.no_triage')));
  for (const g of ts.groups) sel.appendChild(h('option', { value: g.id }, g.name));
  if (ts.dispatch.triage && !ts.groups.some((g) => g.id === ts.dispatch.triage)) sel.appendChild(h('option', { value: ts.dispatch.triage }, ts.dispatch.triage));
  sel.value = ts.dispatch.triage;
  $('#ts-auto').checked = ts.dispatch.auto;
  $('#ts-threshold').value = ts.dispatch.threshold;
  $('#ts-rules').value = ts.dispatch.rules;
}

/** A text whose {name} placeholders become <code> elements (commands, variable names): all as text. */
function withCode(text, codes) {
  return String(text).split(/\{(\w+)\}/).map((part, i) => (i % 2 ? h('code', null, codes[part] ?? `{${part}}`) : part));
}

function renderInbox(fromServer = false) {
  const ib = ts.inbox;
  const card = $('#ts-inbox');
  const ta = $('#ts-inbox-addresses');
  // what the server answered, unless the admin is editing it
  if (fromServer || !ib.dirty) ta.value = ib.addresses.join('\n');
  const line = $('#ts-inbox-listening');
  clear(line);
  if (ib.loaded) {
    line.hidden = false;
    line.dataset.listening = ib.listening ? '1' : '0';
    line.className = 'ts-inbox-state small ' + (ib.listening ? 'on' : 'muted');
    if (ib.listening) line.append(h('span', { class: 'dot', 'aria-hidden': 'true' }), t('admin.ts.inbox.listening'));
    else line.append(...withCode(t('admin.ts.inbox.not_listening'), { cmd: 'lingxi serve --smtp-listen ADDR', env: 'LINGXI_SMTP_LISTEN' }));
    card.dataset.loaded = '1';
  } else {
    line.hidden = true;
  }
  const err = $('#ts-inbox-error');
  err.textContent = ib.error;
  err.hidden = !ib.error;
}

function renderHooks() {
  const body = $('#ts-hooks-body');
  clear(body);
  const items = ts.hooks || [];
  if (!items.length) {
    body.appendChild(h('tr', null, h('td', { colspan: '6', class: 'empty-row' }, ts.hooksError || t(ts.hooks ? 'admin.ts.hooks.empty' : 'loading'))));
    return;
  }
  for (const w of items) {
    const cls = { delivered: 'badge-assigned', pending: 'badge-queued', failed: 'badge-closed' }[w.state] || 'plain';
    const st = t('admin.ts.hooks.state.' + w.state);
    const url = String(w.url || '');
    const mail = /^mailto:/i.test(url);
    // an e-mail is shown by its address, a webhook by its URL (both as text)
    const to = mail
      ? h('span', { class: 'hook-mail', title: t('admin.ts.hooks.email') }, '✉ ' + url.slice('mailto:'.length))
      : url;
    body.appendChild(h('tr', { dataset: { id: w.id, state: w.state, kind: mail ? 'email' : 'webhook' } },
      h('td', { class: 'nowrap' }, formatDateTime(w.created_at)),
      h('td', { class: 'mono small' }, w.event || ''),
      h('td', { class: 'mono small' }, to),
      h('td', null, h('span', { class: 'badge ' + cls }, st === 'admin.ts.hooks.state.' + w.state ? w.state : st)),
      h('td', { class: 'nowrap' }, String(w.attempts ?? 0)),
      h('td', { class: 'small' }, w.last_error || '—')));
  }
}
