// The public support form (/support?key=WIDGET_KEY): a ticket with source "form". No sign-in; answers show the
// ticket number. Every text is set with textContent.
const STRINGS = {
  zh: {
    title: '联系客服', lead: '留下您的问题，我们会尽快通过您留下的联系方式回复。', name: '您的称呼',
    contact: '邮箱或手机号', subject: '主题', description: '问题描述', send: '提交', sending: '提交中…',
    done: '已收到！您的工单号是 #{n}，我们会尽快回复。', missing: '请填写所有字段。', nokey: '此页面缺少客服链接参数（key）。',
    failed: '提交失败：{m}', busy: '提交太频繁，请稍后再试。', lang: 'EN',
  },
  en: {
    title: 'Contact support', lead: 'Tell us what happened and we will answer you at the contact you leave.',
    name: 'Your name', contact: 'E-mail or phone', subject: 'Subject', description: 'Description', send: 'Send',
    sending: 'Sending…', done: 'Received! Your ticket number is #{n}; we will get back to you soon.',
    missing: 'Please fill in every field.', nokey: 'This page is missing its support link parameter (key).',
    failed: 'Could not send: {m}', busy: 'Too many requests; please try again in a moment.', lang: '中文',
  },
};

let lang = (localStorage.getItem('lingxi.lang') || navigator.language || 'zh').toLowerCase().startsWith('zh') ? 'zh' : 'en';
const t = (k, vars = {}) => STRINGS[lang][k].replace(/\{(\w+)\}/g, (_, v) => String(vars[v] ?? ''));

function paint() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  document.getElementById('lang').textContent = t('lang');
  document.title = `${t('title')} · Lingxi`;
}

function show(kind, text) {
  const msg = document.getElementById('msg');
  msg.className = `msg ${kind}`;
  msg.textContent = text;
  msg.hidden = false;
}

document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  try { localStorage.setItem('lingxi.lang', lang); } catch (e) { /* blocked */ }
  paint();
});

const key = new URLSearchParams(location.search).get('key') || '';
const form = document.getElementById('form');
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!key) { show('err', t('nokey')); return; }
  const data = Object.fromEntries(new FormData(form).entries());
  if (!data.name.trim() || !data.contact.trim() || !data.title.trim() || !data.description.trim()) {
    show('err', t('missing'));
    return;
  }
  const send = document.getElementById('send');
  send.disabled = true;
  send.textContent = t('sending');
  try {
    const r = await fetch('/api/v1/forms/ticket', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ widget_key: key, ...data }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status === 201) {
      show('ok', t('done', { n: body.number }));
      form.reset();
    } else if (r.status === 429) {
      show('err', t('busy'));
    } else {
      show('err', t('failed', { m: body.message || r.status }));
    }
  } catch (err) {
    show('err', t('failed', { m: err.message }));
  } finally {
    send.disabled = false;
    send.textContent = t('send');
  }
});

paint();
