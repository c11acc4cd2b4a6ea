/*! Lingxi (灵犀) web chat widget. Embed with:
 *    <script src="https://YOUR-HOST/widget.js" data-widget-key="KEY" async></script>
 * Self-contained classic script: builds its UI inside a Shadow DOM, talks to the Lingxi server the script was
 * loaded from (POST /api/v1/widget/sessions, WebSocket /api/v1/widget/ws). Visitor, bot and agent text is always
 * rendered with textContent, never as HTML.
 */
(function () {
  'use strict';

  if (window.__lingxiWidget) return; // loaded twice on the same page: keep the first one

  // ------------------------------------------------------------------ locate ourselves

  var script = document.currentScript;
  if (!script || !script.src) {
    var candidates = document.querySelectorAll('script[data-widget-key]');
    for (var i = 0; i < candidates.length; i++) {
      if (/\/widget\.js(\?|#|$)/.test(candidates[i].src)) { script = candidates[i]; break; }
    }
  }
  if (!script || !script.src) { console.warn('[lingxi] widget: cannot find my own <script> tag'); return; }
  var WIDGET_KEY = (script.getAttribute('data-widget-key') || '').trim();
  if (!WIDGET_KEY || WIDGET_KEY.indexOf('{{') === 0) { console.warn('[lingxi] widget: missing data-widget-key'); return; }
  var ORIGIN = new URL(script.src, location.href).origin;
  var WS_ORIGIN = ORIGIN.replace(/^http/, 'ws');
  var STORE_KEY = 'lingxi:widget:' + WIDGET_KEY;
  var ANON_KEY = 'lingxi.anon.' + WIDGET_KEY; // shared with tracker.js: the visitor who chats is the visitor who browsed
  var LANG_KEY = 'lingxi:widget:lang';
  var OPEN_KEY = 'lingxi:widget:open:' + WIDGET_KEY;
  var MAX_LEN = 4000;
  var MAX_FILE = 10 * 1024 * 1024;
  var FILE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain', 'text/csv', 'application/zip'];
  var IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
  var TYPING_EVERY_MS = 3000; // `typing: true` at most this often while typing
  var TYPING_IDLE_MS = 4000;  // no keystroke for this long: `typing: false`
  var TYPING_TTL_MS = 6000;   // an agent's `typing: true` expires after this long without a repeat

  // ------------------------------------------------------------------ strings

  var STR = {
    zh: {
      launcher: '在线客服', launcherOpen: '打开客服对话', close: '收起', langToggle: 'EN', langTitle: 'Switch to English',
      title: '在线客服', subBot: '智能助手 · 通常秒级回复', subQueued: '正在为您转接人工客服…', subAssigned: '客服 {name} 为您服务',
      subClosed: '会话已结束', subOffline: '网络连接中断，正在重连…', placeholder: '请输入您的问题…', send: '发送',
      human: '转人工', humanText: '转人工', botName: '智能助手', agentFallback: '客服', you: '我',
      sending: '发送中…', failed: '发送失败，点击重试', greetingFallback: '您好，我是智能助手，请问有什么可以帮您？',
      nQueued: '正在为您转接人工客服…', nAssigned: '客服 {name} 为您服务', nAssignedNoName: '人工客服已接入，为您服务',
      nClosed: '会话已结束', nBot: '智能助手继续为您服务', closedTitle: '本次会话已结束', closedBody: '感谢您的咨询，还有问题可以随时开始新的会话。',
      newConv: '开始新会话', newDivider: '新会话', reconnecting: '网络连接中断，正在重连…', connectFailed: '暂时无法连接客服，正在重试…',
      poweredBy: '由 灵犀智能客服 提供技术支持', suggest: ['怎么退货', '多久发货', '如何开发票', '查询订单物流'],
      tooLong: '消息太长了（最多 4000 字）', unread: '{n} 条新消息',
      queueAhead: '您前面还有 {n} 位', queueNext: '您是下一位', queueEta: '，预计等待约 {m} 分钟',
      lmOffer: '不想等待？可以给我们留言', lmOpen: '留言', lmTitle: '给我们留言', lmIntro: '客服会尽快通过您留下的联系方式回复您。',
      lmName: '您的称呼（可选）', lmContact: '手机号或邮箱', lmText: '请描述您的问题', lmSubmit: '提交留言', lmCancel: '取消',
      lmSending: '正在提交…', lmNeedText: '请填写留言内容', lmNeedContact: '请留下手机号或邮箱，方便我们联系您',
      lmBadContact: '请填写有效的手机号或邮箱', lmDone: '已收到您的留言，工单号 #{n}', lmFailed: '留言提交失败：{msg}',
      agentTyping: '{name} 正在输入…', attach: '发送图片或文件', uploading: '上传中…', attachment: '附件',
      fileTooBig: '「{name}」超过 10 MB，无法发送', fileType: '只能发送图片（PNG/JPEG/GIF/WebP）、PDF、TXT、CSV 或 ZIP 文件',
      fileEmpty: '「{name}」是空文件', fileFailed: '文件没有发出：{msg}', kb: '{n} KB', mb: '{n} MB', bytes: '{n} B',
      guessTitle: '猜你想问', fbUp: '有用', fbDown: '没用', fbThanks: '感谢您的反馈',
    },
    en: {
      launcher: 'Chat with us', launcherOpen: 'Open chat', close: 'Minimise', langToggle: '中文', langTitle: '切换到中文',
      title: 'Customer service', subBot: 'Assistant · usually replies instantly', subQueued: 'Connecting you to an agent…', subAssigned: '{name} is helping you',
      subClosed: 'Conversation closed', subOffline: 'Connection lost, reconnecting…', placeholder: 'Type your question…', send: 'Send',
      human: 'Talk to a human', humanText: 'talk to a human', botName: 'Assistant', agentFallback: 'Agent', you: 'You',
      sending: 'Sending…', failed: 'Not sent. Tap to retry', greetingFallback: 'Hi! I am the virtual assistant. How can I help you today?',
      nQueued: 'Connecting you to an agent…', nAssigned: '{name} has joined', nAssignedNoName: 'An agent has joined',
      nClosed: 'Conversation closed', nBot: 'The assistant is back to help you', closedTitle: 'This conversation has ended', closedBody: 'Thanks for reaching out. Start a new conversation any time.',
      newConv: 'Start a new conversation', newDivider: 'New conversation', reconnecting: 'Connection lost, reconnecting…', connectFailed: 'Cannot reach customer service right now, retrying…',
      poweredBy: 'Powered by Lingxi', suggest: ['How do I return an item?', 'When will my order ship?', 'How do I get an invoice?', 'Track my order'],
      tooLong: 'Message too long (4,000 characters at most)', unread: '{n} new messages',
      queueAhead: 'You are number {n} in the queue', queueNext: 'You are number 1 in the queue', queueEta: ', about {m} min',
      lmOffer: 'Rather not wait? Leave us a message', lmOpen: 'Leave a message', lmTitle: 'Leave us a message', lmIntro: 'We will answer as soon as we can, on the phone number or e-mail you give.',
      lmName: 'Your name (optional)', lmContact: 'Phone or e-mail', lmText: 'How can we help?', lmSubmit: 'Send message', lmCancel: 'Cancel',
      lmSending: 'Sending…', lmNeedText: 'Please write your message', lmNeedContact: 'Please give a phone number or e-mail so we can answer',
      lmBadContact: 'Please give a valid phone number or e-mail', lmDone: 'We got your message — ticket #{n}', lmFailed: 'Your message was not sent: {msg}',
      agentTyping: '{name} is typing…', attach: 'Send an image or a file', uploading: 'Uploading…', attachment: 'Attachment',
      fileTooBig: '“{name}” is larger than 10 MB and cannot be sent', fileType: 'Only images (PNG/JPEG/GIF/WebP), PDF, TXT, CSV or ZIP files can be sent',
      fileEmpty: '“{name}” is empty', fileFailed: 'The file was not sent: {msg}', kb: '{n} KB', mb: '{n} MB', bytes: '{n} B',
      guessTitle: 'You may want to ask', fbUp: 'Useful', fbDown: 'Not useful', fbThanks: 'Thanks for your feedback',
    },
  };

  function detectLang() {
    try { var saved = localStorage.getItem(LANG_KEY); if (saved === 'zh' || saved === 'en') return saved; } catch (e) { /* blocked */ }
    var nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
    return /^zh/i.test(nav) ? 'zh' : 'en';
  }
  var lang = detectLang();
  function T(key, vars) {
    var s = STR[lang][key];
    if (s === undefined) s = STR.en[key];
    if (vars && typeof s === 'string') s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] == null ? m : String(vars[k]); });
    return s;
  }

  // ------------------------------------------------------------------ storage

  function loadStore() {
    try { var raw = localStorage.getItem(STORE_KEY); return raw ? JSON.parse(raw) || {} : {}; } catch (e) { return {}; }
  }
  function saveStore() {
    try { localStorage.setItem(STORE_KEY, JSON.stringify(store)); } catch (e) { /* ignore */ }
  }
  var store = loadStore(); // { token, conversation_id, visitor_id, seen, left: { c: conversation id, n: ticket number } }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var hx = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return hx.slice(0, 8) + '-' + hx.slice(8, 12) + '-' + hx.slice(12, 16) + '-' + hx.slice(16, 20) + '-' + hx.slice(20);
  }

  // ------------------------------------------------------------------ DOM helpers (text only, never HTML)

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  var SVGNS = 'http://www.w3.org/2000/svg';
  function icon(paths, size, extra) {
    var s = document.createElementNS(SVGNS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('width', size || 20); s.setAttribute('height', size || 20);
    s.setAttribute('fill', 'none'); s.setAttribute('stroke', 'currentColor');
    s.setAttribute('stroke-width', '2'); s.setAttribute('stroke-linecap', 'round'); s.setAttribute('stroke-linejoin', 'round');
    s.setAttribute('aria-hidden', 'true');
    if (extra) for (var k in extra) s.setAttribute(k, extra[k]);
    paths.forEach(function (d) { var p = document.createElementNS(SVGNS, 'path'); p.setAttribute('d', d); s.appendChild(p); });
    return s;
  }
  var ICON_CHAT = ['M21 11.5a8.4 8.4 0 0 1-9 8.4 9 9 0 0 1-3.8-.8L3 21l1.9-5.1A8.4 8.4 0 0 1 3.5 11.5 8.5 8.5 0 0 1 12 3a8.5 8.5 0 0 1 9 8.5z', 'M8 11.5h.01', 'M12 11.5h.01', 'M16 11.5h.01'];
  var ICON_DOWN = ['M6 9l6 6 6-6'];
  var ICON_SEND = ['M22 2L11 13', 'M22 2l-7 20-4-9-9-4 20-7z'];
  var ICON_AGENT = ['M3 18v-6a9 9 0 0 1 18 0v6', 'M21 19a2 2 0 0 1-2 2h-1a2 2 0 0 1-2-2v-3a2 2 0 0 1 2-2h3zM3 19a2 2 0 0 0 2 2h1a2 2 0 0 0 2-2v-3a2 2 0 0 0-2-2H3z'];
  var ICON_CHECK = ['M20 6L9 17l-5-5'];
  var ICON_CLIP = ['M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5'];
  var ICON_FILE = ['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6', 'M12 18v-6', 'M9 15l3 3 3-3'];

  function fmtTime(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) return '';
    return d.toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
  }

  // ------------------------------------------------------------------ styles (scoped to the shadow root)

  var CSS = [
    ':host{all:initial}',
    '*{box-sizing:border-box}',
    '[hidden]{display:none!important}',
    '.lx{--p:#4f46e5;--p2:#4338ca;--pl:#eef2ff;--line:#e6e8ef;--text:#1f2433;--muted:#8a91a5;',
    'font-family:-apple-system,BlinkMacSystemFont,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC",Roboto,"Helvetica Neue",Arial,sans-serif;',
    'font-size:14px;line-height:1.5;color:var(--text);-webkit-font-smoothing:antialiased;text-align:left;letter-spacing:normal}',
    'button{font:inherit;color:inherit;cursor:pointer;margin:0}',
    '.launcher{position:fixed;right:24px;bottom:24px;z-index:2147483000;height:56px;min-width:56px;padding:0 20px 0 16px;border:0;border-radius:28px;',
    'background:linear-gradient(135deg,#6366f1,#4f46e5);color:#fff;display:flex;align-items:center;gap:8px;font-size:15px;font-weight:600;',
    'box-shadow:0 8px 24px rgba(79,70,229,.38),0 2px 6px rgba(0,0,0,.12);transition:transform .18s,box-shadow .18s}',
    '.launcher:hover{transform:translateY(-2px);box-shadow:0 12px 28px rgba(79,70,229,.45),0 2px 6px rgba(0,0,0,.12)}',
    '.launcher:focus-visible{outline:3px solid #c7d2fe;outline-offset:2px}',
    '.launcher .badge{position:absolute;top:-4px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#ef4444;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center;box-shadow:0 0 0 2px #fff}',
    '.lx.open .launcher{display:none}',
    '.panel{position:fixed;right:24px;bottom:24px;z-index:2147483001;width:384px;height:min(640px,calc(100vh - 48px));display:flex;flex-direction:column;',
    'background:#fff;border-radius:16px;overflow:hidden;box-shadow:0 18px 56px rgba(16,24,40,.24),0 2px 8px rgba(16,24,40,.08);',
    'opacity:0;transform:translateY(16px) scale(.98);transform-origin:bottom right;pointer-events:none;visibility:hidden;transition:opacity .2s,transform .2s,visibility 0s .2s}',
    '.lx.open .panel{opacity:1;transform:none;pointer-events:auto;visibility:visible;transition:opacity .2s,transform .2s}',
    '@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}.launcher{right:16px;bottom:16px}}',
    '.head{flex:none;display:flex;align-items:center;gap:11px;padding:14px 12px 14px 16px;background:linear-gradient(135deg,#6366f1 0%,#4f46e5 55%,#3f37c9 100%);color:#fff}',
    '.head .logo{flex:none;width:38px;height:38px;border-radius:50%;background:rgba(255,255,255,.18);display:flex;align-items:center;justify-content:center;position:relative}',
    '.head .logo::after{content:"";position:absolute;right:0;bottom:1px;width:10px;height:10px;border-radius:50%;background:#22c55e;box-shadow:0 0 0 2px #4f46e5}',
    '.lx.offline .head .logo::after{background:#f59e0b}',
    '.head .ttl{flex:1;min-width:0}',
    '.head .ttl b{display:block;font-size:15.5px;font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.head .ttl span{display:block;font-size:12px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.hbtn{flex:none;height:30px;min-width:30px;padding:0 8px;border:0;border-radius:8px;background:rgba(255,255,255,.14);color:#fff;font-size:12px;font-weight:600;display:flex;align-items:center;justify-content:center}',
    '.hbtn:hover{background:rgba(255,255,255,.26)}',
    '.conn{flex:none;display:none;padding:6px 14px;font-size:12px;background:#fff7e6;color:#b45309;border-bottom:1px solid #fde3b1}',
    '.lx.offline .conn{display:block}',
    '.queue{flex:none;display:flex;align-items:center;gap:6px;padding:6px 14px;font-size:12px;background:#eef2ff;color:#3730a3;border-bottom:1px solid #e0e7ff}',
    '.queue i{flex:none;width:7px;height:7px;border-radius:50%;background:#6366f1;animation:lxp 1.6s infinite}',
    '@keyframes lxp{0%,100%{opacity:.35}50%{opacity:1}}',
    '.msgs{flex:1;overflow-y:auto;padding:16px 14px 8px;background:#f6f7fb;display:flex;flex-direction:column;overscroll-behavior:contain}',
    '.row{display:flex;gap:8px;margin-top:12px;align-items:flex-end}',
    '.row .av{flex:none;width:28px;height:28px;border-radius:50%;display:flex;align-items:center;justify-content:center;color:#fff;font-size:12px;font-weight:650;align-self:flex-start;margin-top:18px}',
    '.row.bot .av{background:linear-gradient(135deg,#38bdf8,#0ea5e9)}',
    '.row.agent .av{background:linear-gradient(135deg,#34d399,#059669)}',
    '.col{display:flex;flex-direction:column;min-width:0;max-width:78%}',
    '.who{font-size:11.5px;color:var(--muted);margin:0 2px 3px}',
    '.bub{padding:9px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;font-size:14px;line-height:1.55}',
    '.row.bot .bub{background:#fff;border:1px solid var(--line);border-top-left-radius:4px}',
    '.row.agent .bub{background:#fff;border:1px solid #bfe9d6;border-top-left-radius:4px;box-shadow:inset 3px 0 0 #10b981}',
    '.row.visitor{justify-content:flex-end}',
    '.row.visitor .col{align-items:flex-end}',
    '.row.visitor .bub{background:var(--p);color:#fff;border-bottom-right-radius:4px}',
    '.row.pending .bub{opacity:.65}',
    '.row.failed .bub{background:#fee2e2;color:#991b1b}',
    '.meta{font-size:11px;color:var(--muted);margin:3px 2px 0;display:flex;align-items:center;gap:4px}',
    '.row.failed .meta{color:#dc2626;cursor:pointer;text-decoration:underline}',
    '.note{align-self:center;margin:14px 8px 2px;max-width:88%;text-align:center;font-size:12px;color:#4b5368;background:#eceef4;border-radius:999px;padding:4px 12px;white-space:pre-wrap;overflow-wrap:anywhere}',
    '.note.hl{background:#e7f8ef;color:#047857}',
    '.note.warn{background:#fff3dc;color:#b45309}',
    '.note.err{background:#fee2e2;color:#b91c1c}',
    '.divider{align-self:stretch;display:flex;align-items:center;gap:10px;margin:18px 0 4px;color:var(--muted);font-size:11.5px}',
    '.divider::before,.divider::after{content:"";flex:1;height:1px;background:#dfe2ea}',
    '.typing{display:flex;gap:4px;padding:12px 14px;background:#fff;border:1px solid var(--line);border-radius:14px;border-top-left-radius:4px;width:fit-content}',
    '.typing i{width:6px;height:6px;border-radius:50%;background:#a3aab9;animation:lxb 1.2s infinite}',
    '.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}',
    '@keyframes lxb{0%,60%,100%{transform:translateY(0);opacity:.5}30%{transform:translateY(-4px);opacity:1}}',
    '.quick{flex:none;display:flex;gap:6px;padding:8px 12px 0;overflow-x:auto;scrollbar-width:none;background:#fff}',
    '.quick::-webkit-scrollbar{display:none}',
    '.chip{flex:none;height:28px;padding:0 11px;border-radius:14px;border:1px solid var(--line);background:#fff;font-size:12.5px;color:#4b5368;white-space:nowrap;display:flex;align-items:center;gap:5px}',
    '.chip:hover{border-color:#c7d2fe;color:var(--p);background:var(--pl)}',
    '.chip.human{border-color:#c7d2fe;color:var(--p);background:var(--pl);font-weight:600}',
    '.chip.human:hover{background:#e0e7ff}',
    '.comp{flex:none;padding:8px 12px 10px;background:#fff}',
    '.box{display:flex;align-items:flex-end;gap:8px;border:1px solid #d5d9e4;border-radius:12px;padding:5px 5px 5px 12px;transition:border-color .15s,box-shadow .15s}',
    '.box:focus-within{border-color:var(--p);box-shadow:0 0 0 3px #e0e7ff}',
    'textarea{flex:1;border:0;outline:0;resize:none;background:transparent;font:inherit;font-size:14px;line-height:1.5;color:var(--text);max-height:120px;min-height:24px;padding:5px 0;margin:0}',
    'textarea::placeholder{color:#a3aab9}',
    '.sendb{flex:none;width:36px;height:36px;border:0;border-radius:10px;background:var(--p);color:#fff;display:flex;align-items:center;justify-content:center;transition:background .15s,opacity .15s}',
    '.sendb:hover{background:var(--p2)}',
    '.sendb:disabled{opacity:.35;cursor:default}',
    '.attb{flex:none;width:32px;height:36px;border:0;border-radius:10px;background:transparent;color:#8a91a5;display:flex;align-items:center;justify-content:center;margin-left:-6px}',
    '.attb:hover{color:var(--p);background:var(--pl)}',
    '.attb:disabled{opacity:.35;cursor:default}',
    '.bub .txt{display:block}',
    '.bub.hasatt .txt{margin-bottom:6px}',
    '.bub.attonly{padding:4px}',
    '.att{display:block;line-height:0}',
    '.att img{display:block;max-width:220px;max-height:180px;border-radius:10px;background:#eef0f5;min-width:40px;min-height:30px;object-fit:contain}',
    '.attf{display:flex;align-items:center;gap:8px;padding:7px 10px;border-radius:10px;background:#f3f4f8;color:var(--text);text-decoration:none;line-height:1.35;max-width:260px}',
    '.attf svg{flex:none;color:var(--p)}',
    '.attf b{font-size:13px;font-weight:600;overflow-wrap:anywhere}',
    '.attf small{font-size:11px;color:var(--muted);white-space:nowrap}',
    '.row.visitor .attf{background:rgba(255,255,255,.16);color:#fff}',
    '.row.visitor .attf svg,.row.visitor .attf small{color:#e0e7ff}',
    '.typingrow .who{font-size:11.5px;color:var(--muted);margin:0 2px 3px}',
    '.foot{flex:none;text-align:center;font-size:11px;color:#a3aab9;padding:0 0 8px;background:#fff}',
    '.ended{flex:none;padding:16px;background:#fff;border-top:1px solid var(--line);text-align:center}',
    '.ended b{display:block;font-size:14px;margin-bottom:2px}',
    '.ended p{margin:0 0 12px;font-size:12.5px;color:var(--muted)}',
    '.pbtn{height:38px;padding:0 18px;border:0;border-radius:10px;background:var(--p);color:#fff;font-weight:600;font-size:14px}',
    '.pbtn:hover{background:var(--p2)}',
    '.lmbar{flex:none;display:flex;align-items:center;gap:8px;padding:6px 14px;font-size:12px;background:#fff;color:#4b5368;border-bottom:1px solid var(--line)}',
    '.lmbar span{flex:1;min-width:0}',
    '.lbtn{flex:none;height:26px;padding:0 10px;border:1px solid #c7d2fe;border-radius:13px;background:var(--pl);color:var(--p);font-size:12px;font-weight:600}',
    '.lbtn:hover{background:#e0e7ff}',
    '.lmform{flex:none;padding:12px 14px;background:#fff;border-top:1px solid var(--line);display:flex;flex-direction:column;gap:8px;max-height:60%;overflow-y:auto}',
    '.lmform b{font-size:14px}',
    '.lmform p{margin:0;font-size:12px;color:var(--muted)}',
    '.lmform input,.lmform textarea{width:100%;border:1px solid #d5d9e4;border-radius:8px;padding:7px 10px;font:inherit;font-size:13.5px;color:var(--text);background:#fff;max-height:none;flex:none}',
    '.lmform textarea{min-height:72px;resize:vertical}',
    '.lmform input:focus,.lmform textarea:focus{outline:0;border-color:var(--p);box-shadow:0 0 0 3px #e0e7ff}',
    '.lmform .lerr{font-size:12px;color:#b91c1c;background:#fee2e2;border-radius:6px;padding:5px 8px}',
    '.lmform .lacts{display:flex;justify-content:flex-end;gap:8px}',
    '.gbtn{height:34px;padding:0 14px;border:1px solid #d5d9e4;border-radius:10px;background:#fff;color:#4b5368;font-size:13.5px}',
    '.lmform .pbtn{height:34px;font-size:13.5px}',
    '.lmform .pbtn:disabled{opacity:.55;cursor:default}',
    // the bot's interactive parts: suggestions (您是不是想问), guesses (猜你想问), 👍/👎, talk to a human
    '.bx{display:flex;flex-direction:column;gap:7px;margin-top:7px;align-items:flex-start;max-width:100%}',
    '.sugg{display:flex;flex-direction:column;gap:5px;align-self:stretch}',
    '.sbtn{text-align:left;padding:7px 11px;border:1px solid #c7d2fe;border-radius:10px;background:#fff;color:var(--p);font-size:13px;line-height:1.4;white-space:normal;overflow-wrap:anywhere}',
    '.sbtn:hover:not(:disabled){background:var(--pl)}',
    '.sbtn.picked{background:var(--pl);font-weight:600}',
    '.gbox{display:flex;flex-direction:column;gap:5px;max-width:100%}',
    '.gttl{font-size:11.5px;color:var(--muted);margin:0 2px}',
    '.gchips{display:flex;flex-wrap:wrap;gap:6px}',
    '.gchip{padding:4px 10px;border-radius:14px;border:1px solid var(--line);background:#fff;font-size:12.5px;color:#4b5368;line-height:1.4;text-align:left;white-space:normal;overflow-wrap:anywhere}',
    '.gchip:hover:not(:disabled){border-color:#c7d2fe;color:var(--p);background:var(--pl)}',
    '.gchip.picked{border-color:#c7d2fe;color:var(--p);background:var(--pl)}',
    '.bacts{display:flex;align-items:center;gap:6px;flex-wrap:wrap}',
    '.fb{height:26px;padding:0 9px;border-radius:13px;border:1px solid var(--line);background:#fff;font-size:12px;color:#4b5368;display:flex;align-items:center;gap:4px}',
    '.fb:hover:not(:disabled){border-color:#c7d2fe}',
    '.fb[aria-pressed="true"]{border-color:var(--p);background:var(--pl);color:var(--p);font-weight:600}',
    '.fb.busy{opacity:.6}',
    '.fbnote{font-size:11.5px;color:var(--muted)}',
    '.bhuman{height:26px;padding:0 10px;border-radius:13px;border:1px solid #c7d2fe;background:var(--pl);color:var(--p);font-size:12px;font-weight:600;display:flex;align-items:center;gap:4px}',
    '.bhuman:hover:not(:disabled){background:#e0e7ff}',
    '.botbtn:disabled{opacity:.5;cursor:default}',
  ].join('\n');

  // ------------------------------------------------------------------ state

  var state = {
    open: false,
    config: null,
    status: 'bot',
    agentName: null,
    maxSeq: 0,
    seqEls: {},            // seq -> row element (dedupe)
    local: {},             // client_id -> { text, row, acked, seq, failed }
    outbox: [],            // client_ids waiting for an ack, in send order
    ws: null,
    wsOpen: false,
    attempt: 0,
    reconnectTimer: null,
    pingTimer: null,
    gotHello: false,
    failsWithoutHello: 0,
    sessionPromise: null,
    sentAny: false,
    typingTimer: null,
    typingSent: 0,         // when we last told the server `typing: true` (0: not typing)
    typingIdle: null,
    deliveredSent: 0,      // the highest seq we reported delivered / read on this connection
    readSent: 0,
    ackTimer: null,
    unread: 0,
    recentStatus: {},      // status kind -> { at, paired }: status notes shown lately
    recentSystem: {},      // status kind -> { at, paired }: system messages shown lately
    queue: null,           // { position, eta } from the last `queue` frame, while queued
    leftNumber: null,      // the ticket number of a message left in this conversation
    lmOpen: false,         // the "leave a message" form is shown
    lmSending: false,
    helloGuesses: [],      // 猜你想问 from the `hello` frame, shown under the greeting while nothing was said yet
    fbPending: {},         // message_id -> useful: a rating sent (or waiting for the socket), not answered yet
    contextRefused: false, // the server refused the page's business context once: open sessions without it
  };

  // ------------------------------------------------------------------ build UI

  var host = document.createElement('div');
  host.id = 'lingxi-widget-host';
  host.setAttribute('data-lingxi', 'widget');
  ['display:block', 'position:static', 'width:0', 'height:0', 'margin:0', 'padding:0', 'border:0'].forEach(function (d) {
    var kv = d.split(':'); host.style.setProperty(kv[0], kv[1], 'important');
  });
  var root = host.attachShadow({ mode: 'open' });
  var styleEl = document.createElement('style');
  styleEl.textContent = CSS;
  root.appendChild(styleEl);

  var wrap = el('div', 'lx');
  root.appendChild(wrap);

  var launcher = el('button', 'launcher');
  launcher.type = 'button';
  launcher.setAttribute('part', 'launcher');
  launcher.appendChild(icon(ICON_CHAT, 24));
  var launcherLabel = el('span', 'label');
  launcher.appendChild(launcherLabel);
  var badge = el('span', 'badge'); badge.hidden = true;
  launcher.appendChild(badge);
  wrap.appendChild(launcher);

  var panel = el('div', 'panel');
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('part', 'panel');
  wrap.appendChild(panel);

  var head = el('div', 'head');
  var logo = el('div', 'logo'); logo.appendChild(icon(ICON_AGENT, 20));
  var ttl = el('div', 'ttl');
  var ttlName = el('b'); var ttlSub = el('span');
  ttl.appendChild(ttlName); ttl.appendChild(ttlSub);
  var langBtn = el('button', 'hbtn lang'); langBtn.type = 'button';
  var closeBtn = el('button', 'hbtn min'); closeBtn.type = 'button'; closeBtn.appendChild(icon(ICON_DOWN, 18));
  head.appendChild(logo); head.appendChild(ttl); head.appendChild(langBtn); head.appendChild(closeBtn);
  panel.appendChild(head);

  var connBar = el('div', 'conn');
  panel.appendChild(connBar);

  // "您前面还有 N 位…": the visitor's place in the queue while waiting for an agent
  var queueBar = el('div', 'queue');
  queueBar.setAttribute('role', 'status');
  queueBar.setAttribute('aria-live', 'polite');
  queueBar.hidden = true;
  var queueText = el('span');
  queueBar.appendChild(el('i'));
  queueBar.appendChild(queueText);
  panel.appendChild(queueBar);

  // "留言": while nobody serves the visitor (queued), they may leave a message instead; it becomes a ticket
  var lmBar = el('div', 'lmbar');
  lmBar.hidden = true;
  var lmOfferText = el('span');
  var lmOpenBtn = el('button', 'lbtn'); lmOpenBtn.type = 'button'; lmOpenBtn.setAttribute('data-action', 'leave-message');
  lmBar.appendChild(lmOfferText); lmBar.appendChild(lmOpenBtn);
  panel.appendChild(lmBar);

  var msgs = el('div', 'msgs');
  msgs.setAttribute('role', 'log');
  msgs.setAttribute('aria-live', 'polite');
  panel.appendChild(msgs);
  var greetingRow = null;

  var quick = el('div', 'quick');
  panel.appendChild(quick);

  var lmForm = el('form', 'lmform');
  lmForm.hidden = true;
  lmForm.setAttribute('novalidate', '');
  var lmTitle = el('b'); var lmIntro = el('p');
  var lmErr = el('div', 'lerr'); lmErr.hidden = true; lmErr.setAttribute('role', 'alert');
  var lmName = el('input'); lmName.name = 'name'; lmName.maxLength = 100; lmName.autocomplete = 'name';
  var lmContact = el('input'); lmContact.name = 'contact'; lmContact.maxLength = 200; lmContact.autocomplete = 'email';
  var lmText = el('textarea'); lmText.name = 'text'; lmText.maxLength = MAX_LEN; lmText.rows = 3;
  var lmActs = el('div', 'lacts');
  var lmCancel = el('button', 'gbtn'); lmCancel.type = 'button';
  var lmSubmit = el('button', 'pbtn'); lmSubmit.type = 'submit';
  lmActs.appendChild(lmCancel); lmActs.appendChild(lmSubmit);
  [lmTitle, lmIntro, lmErr, lmName, lmContact, lmText, lmActs].forEach(function (n) { lmForm.appendChild(n); });
  panel.appendChild(lmForm);

  var comp = el('div', 'comp');
  var box = el('div', 'box');
  var input = el('textarea');
  input.rows = 1;
  input.maxLength = MAX_LEN;
  var sendBtn = el('button', 'sendb'); sendBtn.type = 'button'; sendBtn.disabled = true;
  sendBtn.appendChild(icon(ICON_SEND, 18));
  var attBtn = el('button', 'attb'); attBtn.type = 'button'; attBtn.setAttribute('data-action', 'attach');
  attBtn.appendChild(icon(ICON_CLIP, 18));
  var fileInput = el('input'); fileInput.type = 'file'; fileInput.hidden = true;
  fileInput.accept = FILE_TYPES.join(',') + ',.png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.zip';
  box.appendChild(attBtn); box.appendChild(fileInput);
  box.appendChild(input); box.appendChild(sendBtn);
  comp.appendChild(box);
  panel.appendChild(comp);

  var ended = el('div', 'ended'); ended.hidden = true;
  var endedTitle = el('b'); var endedBody = el('p');
  var newBtn = el('button', 'pbtn'); newBtn.type = 'button';
  ended.appendChild(endedTitle); ended.appendChild(endedBody); ended.appendChild(newBtn);
  panel.appendChild(ended);

  var foot = el('div', 'foot');
  panel.appendChild(foot);

  function applyTexts() {
    launcherLabel.textContent = T('launcher');
    launcher.setAttribute('aria-label', T('launcherOpen'));
    panel.setAttribute('aria-label', T('title'));
    langBtn.textContent = T('langToggle');
    langBtn.title = T('langTitle');
    closeBtn.title = T('close');
    closeBtn.setAttribute('aria-label', T('close'));
    input.placeholder = T('placeholder');
    sendBtn.title = T('send');
    attBtn.title = T('attach');
    attBtn.setAttribute('aria-label', T('attach'));
    sendBtn.setAttribute('aria-label', T('send'));
    connBar.textContent = T('reconnecting');
    endedTitle.textContent = T('closedTitle');
    endedBody.textContent = T('closedBody');
    newBtn.textContent = T('newConv');
    foot.textContent = T('poweredBy');
    lmOfferText.textContent = T('lmOffer');
    lmOpenBtn.textContent = T('lmOpen');
    lmTitle.textContent = T('lmTitle');
    lmIntro.textContent = T('lmIntro');
    lmName.placeholder = T('lmName'); lmName.setAttribute('aria-label', T('lmName'));
    lmContact.placeholder = T('lmContact'); lmContact.setAttribute('aria-label', T('lmContact'));
    lmText.placeholder = T('lmText'); lmText.setAttribute('aria-label', T('lmText'));
    lmCancel.textContent = T('lmCancel');
    lmSubmit.textContent = state.lmSending ? T('lmSending') : T('lmSubmit');
    ttlName.textContent = (state.config && state.config.tenant_name) || T('title');
    var sys = msgs.querySelectorAll('[data-system]');
    for (var i = 0; i < sys.length; i++) sys[i].textContent = localizeSystem(sys[i].getAttribute('data-text'));
    // the bot's buttons and titles (their own labels; the questions on them are the knowledge base's text)
    var tx = msgs.querySelectorAll('[data-t]');
    for (var j = 0; j < tx.length; j++) tx[j].textContent = T(tx[j].getAttribute('data-t'));
    var tt = msgs.querySelectorAll('[data-t-title]');
    for (var k = 0; k < tt.length; k++) { tt[k].title = T(tt[k].getAttribute('data-t-title')); tt[k].setAttribute('aria-label', tt[k].title); }
    renderGreeting();
    renderHeaderStatus();
    renderQuick();
    renderBadge();
    renderQueue();
  }

  function renderQueue() {
    renderLeaveMessage();
    var q = state.queue;
    if (state.status !== 'queued' || !q) { queueBar.hidden = true; return; }
    var text = q.position > 1 || lang !== 'zh' ? T('queueAhead', { n: lang === 'zh' ? q.position - 1 : q.position }) : T('queueNext');
    if (q.eta != null) text += T('queueEta', { m: Math.max(1, Math.ceil(q.eta / 60)) });
    queueText.textContent = text;
    queueBar.hidden = false;
  }

  function onQueue(f) {
    var position = Number(f.position);
    if (!isFinite(position) || position < 1) return;
    var eta = f.estimated_wait_secs == null ? null : Number(f.estimated_wait_secs);
    state.queue = { position: Math.floor(position), eta: eta != null && isFinite(eta) && eta >= 0 ? eta : null };
    renderQueue();
  }

  function renderHeaderStatus() {
    var s = state.status;
    var sub;
    if (s === 'queued') sub = T('subQueued');
    else if (s === 'assigned') sub = state.agentName ? T('subAssigned', { name: state.agentName }) : T('nAssignedNoName');
    else if (s === 'closed') sub = T('subClosed');
    else sub = T('subBot');
    ttlSub.textContent = sub;
    var isClosed = s === 'closed';
    comp.hidden = isClosed || state.lmOpen;
    ended.hidden = !isClosed;
    renderQuick();
    renderLeaveMessage();
    renderBotButtons();
  }

  function renderQuick() {
    while (quick.firstChild) quick.removeChild(quick.firstChild);
    if (state.status !== 'bot') { quick.hidden = true; return; }
    quick.hidden = false;
    var human = el('button', 'chip human');
    human.type = 'button';
    human.setAttribute('data-action', 'human');
    human.appendChild(icon(ICON_AGENT, 14));
    human.appendChild(document.createTextNode(T('human')));
    human.addEventListener('click', function () { sendText(T('humanText')); });
    quick.appendChild(human);
    // the fixed starter questions, unless the server offered its own guesses (shown under the greeting)
    if (!state.sentAny && !helloGuessesShown()) {
      T('suggest').forEach(function (q) {
        var c = el('button', 'chip', q);
        c.type = 'button';
        c.addEventListener('click', function () { sendText(q); });
        quick.appendChild(c);
      });
    }
  }

  function renderGreeting() {
    var text = state.config ? (lang === 'zh' ? state.config.greeting_zh : state.config.greeting_en) : null;
    if (!text) text = T('greetingFallback');
    if (!greetingRow) {
      greetingRow = buildRow('bot', T('botName'), text, null);
      greetingRow.setAttribute('data-greeting', '1');
      msgs.insertBefore(greetingRow, msgs.firstChild);
    } else {
      greetingRow.querySelector('.bub').textContent = text;
      greetingRow.querySelector('.who').textContent = T('botName');
    }
  }

  function renderBadge() {
    if (state.unread > 0 && !state.open) {
      badge.hidden = false;
      badge.textContent = state.unread > 99 ? '99+' : String(state.unread);
      launcher.setAttribute('aria-label', T('launcherOpen') + ' (' + T('unread', { n: state.unread }) + ')');
    } else {
      badge.hidden = true;
    }
  }

  // ------------------------------------------------------------------ the bot: suggestions, guesses, feedback, talk to a human

  // Bot messages may carry `bot` ({outcome, entry_id, suggestions, guesses, feedback, human}): buttons under the
  // message. They work while the bot serves the conversation (status `bot`) and are disabled otherwise.
  function botActive() { return state.status === 'bot'; }

  /** [{entry_id, question}] from the server, at most `max`, questions as text (never HTML). */
  function entryList(list, max) {
    var out = [];
    if (!Array.isArray(list)) return out;
    for (var i = 0; i < list.length && out.length < max; i++) {
      var e = list[i];
      if (!e || typeof e.question !== 'string' || !e.question.trim()) continue;
      out.push({ entry_id: e.entry_id == null ? null : String(e.entry_id), question: e.question });
    }
    return out;
  }

  /** A label that follows the widget's language (applyTexts re-reads `data-t`). */
  function label(tag, cls, key) {
    var e = el(tag, cls, T(key));
    e.setAttribute('data-t', key);
    return e;
  }

  function botButton(cls, testid) {
    var b = el('button', cls + ' botbtn');
    b.type = 'button';
    b.setAttribute('data-testid', testid);
    b.disabled = !botActive();
    return b;
  }

  /** A suggestion or a guess: sends its question as the visitor's message, with the entry it stands for. */
  function choiceButton(cls, item, source, testid) {
    var b = botButton(cls, testid);
    b.textContent = item.question;
    if (item.entry_id) b.setAttribute('data-entry-id', item.entry_id);
    b.addEventListener('click', function () {
      if (!botActive() || b.disabled) return;
      b.classList.add('picked');
      sendText(item.question, item.entry_id ? { entry_id: item.entry_id, source: source } : null);
      input.focus();
    });
    return b;
  }

  /** 猜你想问 / "You may want to ask": a title and a chip per question. */
  function guessBlock(guesses) {
    var box = el('div', 'gbox');
    box.appendChild(label('div', 'gttl', 'guessTitle'));
    var chips = el('div', 'gchips');
    guesses.forEach(function (g) { chips.appendChild(choiceButton('gchip', g, 'guess', 'bot-guess')); });
    box.appendChild(chips);
    return box;
  }

  function feedbackButton(messageId, useful) {
    var b = botButton('fb', useful ? 'bot-feedback-up' : 'bot-feedback-down');
    b.setAttribute('data-message-id', messageId);
    b.setAttribute('data-useful', useful ? '1' : '0');
    b.setAttribute('aria-pressed', 'false');
    var key = useful ? 'fbUp' : 'fbDown';
    b.setAttribute('data-t-title', key);
    b.title = T(key);
    b.setAttribute('aria-label', T(key));
    b.appendChild(el('span', null, useful ? '\uD83D\uDC4D' : '\uD83D\uDC4E'));
    b.appendChild(label('span', null, key));
    b.addEventListener('click', function () { if (botActive() && !b.disabled) sendFeedback(messageId, useful); });
    return b;
  }

  /** What goes under a bot message: its suggestions, guesses, 👍/👎 and "talk to a human" (null: nothing). */
  function botExtras(m) {
    var b = m && m.bot && typeof m.bot === 'object' ? m.bot : null;
    if (!b) return null;
    var box = el('div', 'bx');
    box.setAttribute('data-outcome', String(b.outcome || ''));
    var sugg = entryList(b.suggestions, 3);
    if (sugg.length) {
      var list = el('div', 'sugg');
      sugg.forEach(function (x) { list.appendChild(choiceButton('sbtn', x, 'suggestion', 'bot-suggestion')); });
      box.appendChild(list);
    }
    var guesses = entryList(b.guesses, 4);
    if (guesses.length) box.appendChild(guessBlock(guesses));
    var acts = el('div', 'bacts');
    if (b.feedback === true && m.message_id) {
      var id = String(m.message_id);
      acts.appendChild(feedbackButton(id, true));
      acts.appendChild(feedbackButton(id, false));
      var thanks = label('span', 'fbnote', 'fbThanks');
      thanks.setAttribute('data-fb-note', id);
      thanks.hidden = true;
      acts.appendChild(thanks);
    }
    if (b.human === true) {
      var hb = botButton('bhuman', 'bot-human');
      hb.setAttribute('data-action', 'bot-human');
      hb.appendChild(icon(ICON_AGENT, 13));
      hb.appendChild(label('span', null, 'human'));
      hb.addEventListener('click', function () { if (botActive() && !hb.disabled) sendText(T('humanText')); });
      acts.appendChild(hb);
    }
    if (acts.firstChild) box.appendChild(acts);
    return box.firstChild ? box : null;
  }

  /** Enable the bot's buttons while the bot serves; those of an earlier conversation stay off. */
  function renderBotButtons() {
    var on = botActive();
    var bs = msgs.querySelectorAll('.botbtn');
    for (var i = 0; i < bs.length; i++) bs[i].disabled = !on || bs[i].hasAttribute('data-dead');
  }

  function helloGuessesShown() {
    return !!(greetingRow && greetingRow.querySelector('[data-hello-guesses]'));
  }

  // 猜你想问 when the widget opens: under the greeting, until the conversation has its first message.
  function renderHelloGuesses() {
    if (!greetingRow) return;
    var old = greetingRow.querySelector('[data-hello-guesses]');
    var want = state.helloGuesses.length > 0 && !state.sentAny && state.maxSeq === 0 && state.status === 'bot';
    if (old && !want) old.parentNode.removeChild(old);
    if (want && !old) {
      var box = el('div', 'bx');
      box.setAttribute('data-hello-guesses', '1');
      box.appendChild(guessBlock(state.helloGuesses));
      greetingRow.querySelector('.col').appendChild(box);
    }
    renderQuick();
  }

  // Ratings: `{"type":"feedback","message_id","useful"}`; the server answers with the same frame, and only then the
  // choice shows as selected. The choices are remembered (store.fb) so a reloaded page shows them again.
  function sendFeedback(messageId, useful) {
    state.fbPending[messageId] = useful;
    renderFeedback(messageId);
    transmitFeedback(messageId);
  }

  function transmitFeedback(messageId) {
    if (!(messageId in state.fbPending)) return;
    var ws = state.ws;
    if (!ws || !state.wsOpen || ws.readyState !== 1) return; // sent when the socket is back (flushFeedback)
    ws.send(JSON.stringify({ type: 'feedback', message_id: messageId, useful: !!state.fbPending[messageId] }));
    state.lastSentKind = 'feedback';
  }

  function flushFeedback() {
    Object.keys(state.fbPending).forEach(transmitFeedback);
  }

  function onFeedbackFrame(f) {
    if (!f.message_id) return;
    var id = String(f.message_id);
    delete state.fbPending[id];
    var fb = store.fb && typeof store.fb === 'object' ? store.fb : {};
    delete fb[id];
    fb[id] = !!f.useful;
    var keys = Object.keys(fb);
    while (keys.length > 100) delete fb[keys.shift()]; // the newest 100 are plenty
    store.fb = fb;
    saveStore();
    renderFeedback(id);
  }

  function renderFeedback(messageId) {
    var chosen = store.fb && typeof store.fb === 'object' && messageId in store.fb ? store.fb[messageId] : null;
    var pending = messageId in state.fbPending ? state.fbPending[messageId] : null;
    var bs = msgs.querySelectorAll('.fb[data-message-id]');
    for (var i = 0; i < bs.length; i++) {
      if (bs[i].getAttribute('data-message-id') !== messageId) continue;
      var useful = bs[i].getAttribute('data-useful') === '1';
      bs[i].setAttribute('aria-pressed', chosen === useful ? 'true' : 'false');
      bs[i].classList.toggle('busy', pending === useful);
    }
    var notes = msgs.querySelectorAll('[data-fb-note]');
    for (var j = 0; j < notes.length; j++) {
      if (notes[j].getAttribute('data-fb-note') === messageId) notes[j].hidden = chosen === null;
    }
  }

  // ------------------------------------------------------------------ business context (data-context / window.lingxiContext)

  // The page may tell what the visitor is doing (e.g. {"order_status":"payment_failed"}): sent when a session opens,
  // used for 猜你想问 and shown to agents. Read at that moment, so a page may set window.lingxiContext late.
  function pageContext() {
    var ctx = {};
    var raw = script.getAttribute('data-context');
    if (raw && raw.trim()) {
      var parsed;
      try { parsed = JSON.parse(raw); } catch (e) { parsed = undefined; console.warn('[lingxi] widget: data-context is not valid JSON, ignored: ' + e.message); }
      if (parsed !== undefined) {
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) mergeContext(ctx, parsed, 'data-context');
        else console.warn('[lingxi] widget: data-context must be a JSON object {…}, ignored');
      }
    }
    var w = window.lingxiContext;
    if (w != null) {
      if (typeof w === 'object' && !Array.isArray(w)) mergeContext(ctx, w, 'window.lingxiContext');
      else console.warn('[lingxi] widget: window.lingxiContext must be an object, ignored');
    }
    return Object.keys(ctx).length ? ctx : null;
  }

  // What the server accepts: at most 20 keys of 1–40 characters; strings (≤ 200 characters), numbers, booleans.
  function mergeContext(ctx, src, from) {
    Object.keys(src).forEach(function (k) {
      var v = src[k];
      var ok = k.length >= 1 && k.length <= 40 &&
        ((typeof v === 'string' && v.length <= 200) || (typeof v === 'number' && isFinite(v)) || typeof v === 'boolean');
      if (!ok) { console.warn('[lingxi] widget: ' + from + ': the key ' + JSON.stringify(k) + ' is left out (keys of 1–40 characters; strings of at most 200 characters, numbers or booleans)'); return; }
      if (!(k in ctx) && Object.keys(ctx).length >= 20) { console.warn('[lingxi] widget: ' + from + ': more than 20 keys, ' + JSON.stringify(k) + ' is left out'); return; }
      ctx[k] = v;
    });
  }

  // ------------------------------------------------------------------ message rows

  function buildRow(author, name, text, iso, attachment) {
    var row = el('div', 'row ' + author);
    if (author !== 'visitor') {
      var av = el('div', 'av');
      if (author === 'bot') av.appendChild(icon(ICON_CHAT, 15));
      else av.textContent = initial(name);
      row.appendChild(av);
    }
    var col = el('div', 'col');
    if (author !== 'visitor') col.appendChild(el('div', 'who', name));
    var bub = el('div', 'bub');
    fillBubble(bub, text, attachment);
    col.appendChild(bub);
    var meta = el('div', 'meta', iso === undefined ? '' : fmtTime(iso));
    if (iso !== null) col.appendChild(meta);
    row.appendChild(col);
    return row;
  }

  // A bubble's content: the text alone (as text), or the text and the attachment (thumbnail or download link).
  function fillBubble(bub, text, att) {
    while (bub.firstChild) bub.removeChild(bub.firstChild);
    bub.className = 'bub' + (att ? ' hasatt' : '') + (att && !text ? ' attonly' : '');
    if (!att) { bub.textContent = text == null ? '' : String(text); return; }
    if (text) bub.appendChild(el('span', 'txt', text));
    bub.appendChild(attachmentEl(att));
  }

  function fileSize(n) {
    var x = Number(n) || 0;
    if (x < 1024) return T('bytes', { n: x });
    if (x < 1024 * 1024) return T('kb', { n: (x / 1024).toFixed(x < 10240 ? 1 : 0) });
    return T('mb', { n: (x / 1024 / 1024).toFixed(1) });
  }

  function attachmentEl(att) {
    var name = String(att.name || T('attachment'));
    // `local`: our own file still on its way up (no server copy yet): its name and size only
    if (att.local || !att.id) {
      var p = el('span', 'attf');
      p.appendChild(icon(ICON_FILE, 20));
      var pt = el('span'); pt.appendChild(el('b', null, name)); pt.appendChild(document.createTextNode(' ')); pt.appendChild(el('small', null, fileSize(att.size)));
      p.appendChild(pt);
      return p;
    }
    var url = ORIGIN + '/api/v1/widget/attachments/' + encodeURIComponent(att.id) + '?token=' + encodeURIComponent(store.token || '');
    var a = document.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener';
    a.setAttribute('data-attachment', att.id);
    if (IMAGE_TYPES.indexOf(att.content_type) >= 0) {
      a.className = 'att';
      a.title = name;
      var img = document.createElement('img');
      img.src = url;
      img.alt = name;
      img.loading = 'lazy';
      a.appendChild(img);
    } else {
      a.className = 'attf';
      a.setAttribute('download', name);
      a.appendChild(icon(ICON_FILE, 20));
      var t = el('span'); t.appendChild(el('b', null, name)); t.appendChild(document.createTextNode(' ')); t.appendChild(el('small', null, fileSize(att.size)));
      a.appendChild(t);
    }
    return a;
  }

  function initial(name) {
    var s = String(name || '').trim();
    return s ? s.charAt(0).toUpperCase() : '?';
  }

  // Sequenced content (server messages, status notes) goes before the first not-yet-sequenced local message,
  // so a visitor's pending bubble always stays at the bottom until the server places it.
  function insertSequenced(node) {
    var before = msgs.querySelector(':scope > [data-unseq]');
    if (!before && typingRow && typingRow.parentNode === msgs) before = typingRow;
    if (before === node) return; // already in place
    msgs.insertBefore(node, before);
  }

  // Follow new messages while the reader is at the bottom; leave them alone when they scrolled up to read.
  // The flag is taken from scroll events, i.e. before new content changes the geometry.
  var stick = true;
  msgs.addEventListener('scroll', function () {
    stick = msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight < 60;
  }, { passive: true });
  function scrollDown(force) {
    if (force) stick = true;
    if (!stick) return;
    msgs.scrollTop = msgs.scrollHeight;
    requestAnimationFrame(function () { if (stick) msgs.scrollTop = msgs.scrollHeight; });
  }

  function addNote(text, kind) {
    var n = el('div', 'note' + (kind ? ' ' + kind : ''), text);
    insertSequenced(n);
    scrollDown(false);
    return n;
  }

  var typingRow = null;
  var typingWho = null; // null: the bot is "thinking"; a string: that agent is typing
  // The "…" bubble: the bot while it answers (agentName undefined), or an agent typing (their name).
  function showTyping(on, agentName) {
    clearTimeout(state.typingTimer);
    if (on) {
      var who = agentName === undefined || agentName === null ? null : String(agentName);
      if (typingRow && typingWho !== who) { if (typingRow.parentNode) typingRow.parentNode.removeChild(typingRow); typingRow = null; }
      if (!typingRow) {
        typingWho = who;
        typingRow = el('div', 'row ' + (who === null ? 'bot' : 'agent') + ' typingrow');
        var av = el('div', 'av');
        var dots = el('div', 'typing'); dots.appendChild(el('i')); dots.appendChild(el('i')); dots.appendChild(el('i'));
        typingRow.appendChild(av);
        if (who === null) {
          av.appendChild(icon(ICON_CHAT, 15));
          av.style.marginTop = '0';
          typingRow.appendChild(dots);
        } else {
          av.textContent = initial(who || T('agentFallback'));
          var col = el('div', 'col');
          col.appendChild(el('div', 'who', T('agentTyping', { name: who || T('agentFallback') })));
          col.appendChild(dots);
          typingRow.appendChild(col);
        }
      }
      msgs.appendChild(typingRow);
      scrollDown(who === null);
      state.typingTimer = setTimeout(function () { showTyping(false); }, who === null ? 8000 : TYPING_TTL_MS);
    } else if (typingRow && typingRow.parentNode) {
      typingRow.parentNode.removeChild(typingRow);
    }
  }

  function onTypingFrame(f) {
    if (f.author && f.author !== 'agent') return;
    if (f.typing) showTyping(true, f.name || state.agentName || '');
    else if (typingWho !== null) showTyping(false);
  }

  function setLocalState(entry, st) {
    var row = entry.row;
    var meta = row.querySelector('.meta');
    row.classList.remove('pending', 'failed');
    if (st === 'pending') { row.classList.add('pending'); meta.textContent = T('sending'); }
    else if (st === 'uploading') { row.classList.add('pending'); meta.textContent = T('uploading'); }
    else if (st === 'failed') { row.classList.add('failed'); meta.textContent = T('failed'); }
    else {
      meta.textContent = '';
      meta.appendChild(icon(ICON_CHECK, 12));
      meta.appendChild(document.createTextNode(fmtTime(entry.createdAt)));
    }
  }

  // A message object from the server (hello replay, resume, or live).
  function onServerMessage(m) {
    if (!m || typeof m.seq !== 'number') return;
    if (store.conversation_id && m.conversation_id && m.conversation_id !== store.conversation_id) return;
    if (m.seq <= state.maxSeq || state.seqEls[m.seq]) return; // already rendered
    state.maxSeq = m.seq;
    var row;
    var mine = m.client_id && state.local[m.client_id];
    if (mine) {
      // our own optimistic bubble: give it its place and mark it delivered
      var entry = state.local[m.client_id];
      entry.acked = true; entry.seq = m.seq; entry.createdAt = m.created_at;
      removeFromOutbox(m.client_id);
      row = entry.row;
      row.removeAttribute('data-unseq');
      if (m.attachment) fillBubble(row.querySelector('.bub'), m.text, m.attachment);
      setLocalState(entry, 'sent');
      insertSequenced(row);
    } else if (m.author === 'system') {
      row = el('div', 'note', localizeSystem(m.text));
      row.setAttribute('data-system', '1');
      row.setAttribute('data-text', m.text);
      insertSequenced(row);
      // the same event may also come as a status frame: show it once (our translated status line wins)
      var kind = systemKind(m.text);
      if (kind && pairFresh(state.recentStatus[kind])) row.style.display = 'none';
      else if (kind) state.recentSystem[kind] = { at: Date.now(), paired: false };
    } else {
      var author = m.author === 'agent' || m.author === 'bot' || m.author === 'visitor' ? m.author : 'bot';
      var name = author === 'bot' ? T('botName') : author === 'agent' ? (m.author_name || T('agentFallback')) : null;
      row = buildRow(author, name, m.text, m.created_at, m.attachment || null);
      var extras = author === 'bot' ? botExtras(m) : null;
      if (extras) {
        var col = row.querySelector('.col');
        col.insertBefore(extras, col.querySelector('.meta'));
      }
      insertSequenced(row);
      if (author === 'visitor') state.sentAny = true;
    }
    if (m.message_id) row.setAttribute('data-message-id', String(m.message_id));
    if (m.bot && m.bot.feedback === true && m.message_id) renderFeedback(String(m.message_id));
    if (helloGuessesShown()) renderHelloGuesses(); // the conversation has begun: no more 猜你想问 under the greeting
    row.setAttribute('data-seq', String(m.seq));
    state.seqEls[m.seq] = row;
    if (m.author === 'bot' || m.author === 'agent') showTyping(false);
    if (m.author !== 'visitor') {
      if (state.open) markSeen();
      else if (m.seq > (store.seen || 0)) { state.unread++; renderBadge(); }
    }
    scrollDown(m.author === 'visitor');
    scheduleAcks();
  }

  // Delivered / read: tell the server how far we got (`delivered` on receipt, `read` while the panel is open and
  // the page visible). Both only grow; sent again after each (re)connect.
  function scheduleAcks() {
    clearTimeout(state.ackTimer);
    state.ackTimer = setTimeout(sendAcks, 150);
  }
  function sendAcks() {
    var ws = state.ws;
    if (!ws || !state.wsOpen || ws.readyState !== 1 || !state.gotHello) return;
    var seq = state.maxSeq;
    if (seq > state.deliveredSent) {
      ws.send(JSON.stringify({ type: 'delivered', seq: seq }));
      state.lastSentKind = 'delivered';
      state.deliveredSent = seq;
    }
    if (state.open && !document.hidden && seq > state.readSent) {
      ws.send(JSON.stringify({ type: 'read', seq: seq }));
      state.lastSentKind = 'read';
      state.readSent = seq;
    }
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) scheduleAcks();
    else typingStop();
  });

  // The anonymous id tracker.js keeps for this widget key (made here when the tracker is not on the page).
  function anonId() {
    var id = null;
    try { id = localStorage.getItem(ANON_KEY); } catch (e) { /* storage blocked */ }
    if (!id || !/^[A-Za-z0-9-]{8,64}$/.test(id)) {
      id = state.anonId || uuid();
      try { localStorage.setItem(ANON_KEY, id); } catch (e) { /* keep it for this page */ }
    }
    state.anonId = id;
    return id;
  }

  function markSeen() {
    if ((store.seen || 0) < state.maxSeq) { store.seen = state.maxSeq; saveStore(); }
    state.unread = 0;
    renderBadge();
  }

  function removeFromOutbox(cid) {
    var i = state.outbox.indexOf(cid);
    if (i >= 0) state.outbox.splice(i, 1);
  }

  // A status frame and a system message describing the same event arrive within moments of each other.
  function pairFresh(rec) {
    if (rec && !rec.paired && Date.now() - rec.at < 5000) { rec.paired = true; return true; }
    return false;
  }

  // Which status change a system message announces, if any.
  function systemKind(text) {
    var s = String(text || '');
    // "已为您转接至客服 X / You have been transferred to X" announces an agent, not the queue
    if (/为您服务|已接入|has joined|joined the|转接至|transferred to/i.test(s) || (state.agentName && s.indexOf(state.agentName) >= 0)) return 'assigned';
    if (/转接|排队|connecting you|queue/i.test(s)) return 'queued';
    if (/结束|closed|ended/i.test(s)) return 'closed';
    return null;
  }

  // System messages may be written "中文 / English": show the half in the visitor's language.
  var CJK = /[\u3400-\u9fff]/;
  var CJK_ALL = /[\u3400-\u9fff]/g;
  // "中文 / English": the left half is mostly Chinese, the right half mostly Latin (names may be mixed).
  function isZhEnPair(left, right) {
    var zl = (left.match(CJK_ALL) || []).length, zr = (right.match(CJK_ALL) || []).length;
    return zl >= 2 && /[A-Za-z]{3,}/.test(right) && zr * 3 <= zl;
  }
  function localizeSystem(text) {
    var s = String(text || '');
    var i = s.lastIndexOf(' / ');
    if (i > 0) {
      var left = s.slice(0, i).trim(), right = s.slice(i + 3).trim();
      if (left && right && isZhEnPair(left, right)) return lang === 'zh' ? left : right;
    }
    return s;
  }

  function statusNote(text, noteKind, statusKind) {
    if (pairFresh(state.recentSystem[statusKind])) return; // the server already said it in a system message
    addNote(text, noteKind);
    state.recentStatus[statusKind] = { at: Date.now(), paired: false };
  }

  function onStatus(f) {
    var prev = state.status;
    var st = f.status;
    if (st !== 'bot' && st !== 'queued' && st !== 'assigned' && st !== 'closed') return;
    state.status = st;
    var prevAgent = state.agentName;
    if (st === 'assigned') state.agentName = f.agent_name || state.agentName;
    if (st === 'queued' && prev !== 'queued') statusNote(T('nQueued'), 'warn', 'queued');
    else if (st === 'assigned' && (prev !== 'assigned' || prevAgent !== state.agentName)) {
      statusNote(state.agentName ? T('nAssigned', { name: state.agentName }) : T('nAssignedNoName'), 'hl', 'assigned');
    }
    else if (st === 'closed' && prev !== 'closed') statusNote(T('nClosed'), '', 'closed');
    else if (st === 'bot' && prev !== 'bot') statusNote(T('nBot'), '', 'bot');
    if (st !== 'bot') showTyping(false);
    if (st !== 'queued') state.queue = null;
    renderHeaderStatus();
    renderQueue();
    if (st === 'closed') scrollDown(true);
  }

  function applyConversation(c) {
    if (!c) return;
    state.status = c.status || state.status;
    state.agentName = c.assigned_agent && c.assigned_agent.name ? c.assigned_agent.name : (state.status === 'assigned' ? state.agentName : null);
    if (state.status !== 'queued') state.queue = null;
    renderHeaderStatus();
    renderQueue();
  }

  // ------------------------------------------------------------------ leave a message (becomes a ticket)

  // Offered while the visitor waits for an agent (queued: nobody serves them yet), once per conversation.
  function canLeaveMessage() {
    var left = store.left && store.left.c === store.conversation_id; // remembered across page loads
    return state.status === 'queued' && state.leftNumber == null && !left;
  }

  function renderLeaveMessage() {
    if (!canLeaveMessage() && !state.lmSending) state.lmOpen = false;
    lmBar.hidden = !canLeaveMessage() || state.lmOpen;
    lmForm.hidden = !state.lmOpen;
    comp.hidden = state.status === 'closed' || state.lmOpen;
  }

  function openLeaveMessage() {
    state.lmOpen = true;
    lmErr.hidden = true;
    renderLeaveMessage();
    // at once (the form is shown synchronously): a later focus could steal it from a field the visitor already chose
    (lmContact.value ? lmText : lmName).focus();
  }

  function closeLeaveMessage() {
    state.lmOpen = false;
    renderLeaveMessage();
    if (!comp.hidden) input.focus();
  }

  function leaveMessageError(text) {
    lmErr.textContent = text;
    lmErr.hidden = false;
  }

  function submitLeaveMessage() {
    if (state.lmSending) return;
    var name = lmName.value.trim();
    var contact = lmContact.value.trim();
    var text = lmText.value.trim();
    lmErr.hidden = true;
    if (!text) { leaveMessageError(T('lmNeedText')); lmText.focus(); return; }
    if (!contact) { leaveMessageError(T('lmNeedContact')); lmContact.focus(); return; }
    var isMail = /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(contact);
    var isPhone = /^\+?[\d\s()-]{5,20}$/.test(contact) && contact.replace(/\D/g, '').length >= 5;
    if (!isMail && !isPhone) { leaveMessageError(T('lmBadContact')); lmContact.focus(); return; }
    state.lmSending = true;
    lmSubmit.disabled = true;
    lmSubmit.textContent = T('lmSending');
    var body = { contact: contact, text: text };
    if (name) body.name = name;
    var convAtStart = store.conversation_id;
    ensureSession().then(function () {
      return fetch(ORIGIN + '/api/v1/widget/leave-message', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + store.token },
        body: JSON.stringify(body),
        credentials: 'omit',
      });
    }).then(function (res) {
      return res.text().then(function (txt) {
        var data = null; try { data = txt ? JSON.parse(txt) : null; } catch (e) { data = null; }
        if (!res.ok) throw new Error((data && data.message) || ('HTTP ' + res.status));
        return data;
      });
    }).then(function (data) {
      state.lmSending = false;
      lmSubmit.disabled = false;
      lmSubmit.textContent = T('lmSubmit');
      if (store.conversation_id !== convAtStart) return; // a new conversation started meanwhile
      var n = data && data.number;
      state.leftNumber = n == null ? 0 : n;
      store.left = { c: store.conversation_id, n: state.leftNumber };
      saveStore();
      lmText.value = '';
      state.lmOpen = false;
      var note = addNote(T('lmDone', { n: n }), 'hl');
      note.setAttribute('data-left-message', String(n));
      renderLeaveMessage();
      scrollDown(true);
    }).catch(function (e) {
      state.lmSending = false;
      lmSubmit.disabled = false;
      lmSubmit.textContent = T('lmSubmit');
      leaveMessageError(T('lmFailed', { msg: e && e.message ? e.message : '' }));
    });
  }

  lmOpenBtn.addEventListener('click', openLeaveMessage);
  lmCancel.addEventListener('click', closeLeaveMessage);
  lmForm.addEventListener('submit', function (e) { e.preventDefault(); submitLeaveMessage(); });
  lmForm.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.stopPropagation(); closeLeaveMessage(); } });

  // ------------------------------------------------------------------ sending

  // `choice`: {entry_id, source: "suggestion"|"guess"} when the visitor clicked one of the bot's questions.
  function sendText(raw, choice) {
    var text = String(raw == null ? '' : raw);
    if (!text.trim()) return;
    if (text.length > MAX_LEN) { addNote(T('tooLong'), 'err'); return; }
    if (state.status === 'closed') return;
    var cid = uuid();
    var row = buildRow('visitor', null, text);
    row.setAttribute('data-unseq', '1');
    row.setAttribute('data-client-id', cid);
    var entry = { text: text, row: row, acked: false, seq: null, failed: false, createdAt: new Date().toISOString(), choice: choice || null };
    state.local[cid] = entry;
    state.outbox.push(cid);
    setLocalState(entry, 'pending');
    if (typingRow && typingRow.parentNode === msgs) msgs.insertBefore(row, typingRow); else msgs.appendChild(row);
    row.querySelector('.meta').addEventListener('click', function () {
      if (!entry.failed) return;
      entry.failed = false;
      state.outbox.push(cid);
      setLocalState(entry, 'pending');
      transmit(cid);
    });
    state.sentAny = true;
    renderHelloGuesses();
    renderQuick();
    scrollDown(true);
    transmit(cid);
    ensureSession();
  }

  // ------------------------------------------------------------------ files: upload, then send the message with it

  function fileType(file) {
    var ty = String(file.type || '').toLowerCase();
    if (ty === 'image/jpg') ty = 'image/jpeg';
    if (ty === 'application/x-zip-compressed') ty = 'application/zip';
    if (FILE_TYPES.indexOf(ty) >= 0) return ty;
    var ext = String(file.name || '').toLowerCase().split('.').pop();
    var byExt = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', pdf: 'application/pdf',
      txt: 'text/plain', csv: 'text/csv', zip: 'application/zip' };
    return byExt[ext] || ty;
  }

  function sendFile(file) {
    if (state.status === 'closed' || !file) return;
    var type = fileType(file);
    if (file.size > MAX_FILE) { addNote(T('fileTooBig', { name: file.name }), 'err'); return; }
    if (FILE_TYPES.indexOf(type) < 0) { addNote(T('fileType'), 'err'); return; }
    if (!file.size) { addNote(T('fileEmpty', { name: file.name }), 'err'); return; }
    var cid = uuid();
    var row = buildRow('visitor', null, '', undefined, { local: true, name: file.name, size: file.size, content_type: type });
    row.setAttribute('data-unseq', '1');
    row.setAttribute('data-client-id', cid);
    var entry = { text: '', row: row, acked: false, seq: null, failed: false, createdAt: new Date().toISOString(), file: file, fileType: type, attachmentId: null };
    state.local[cid] = entry;
    if (typingRow && typingRow.parentNode === msgs) msgs.insertBefore(row, typingRow); else msgs.appendChild(row);
    row.querySelector('.meta').addEventListener('click', function () {
      if (!entry.failed) return;
      entry.failed = false;
      if (entry.attachmentId) { state.outbox.push(cid); setLocalState(entry, 'pending'); transmit(cid); }
      else uploadFile(cid);
    });
    state.sentAny = true;
    renderQuick();
    scrollDown(true);
    uploadFile(cid);
  }

  function uploadFile(cid) {
    var entry = state.local[cid];
    if (!entry) return;
    setLocalState(entry, 'uploading');
    ensureSession().then(function () {
      return fetch(ORIGIN + '/api/v1/widget/attachments?name=' + encodeURIComponent(entry.file.name), {
        method: 'POST',
        headers: { 'Authorization': 'Bearer ' + store.token, 'Content-Type': entry.fileType },
        body: entry.file,
        credentials: 'omit',
      });
    }).then(function (res) {
      return res.text().then(function (txt) {
        var data = null; try { data = txt ? JSON.parse(txt) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var msg = res.status === 413 ? T('fileTooBig', { name: entry.file.name }) : res.status === 415 ? T('fileType')
            : ((data && data.message) || ('HTTP ' + res.status));
          throw new Error(msg);
        }
        return data;
      });
    }).then(function (att) {
      if (state.local[cid] !== entry) return; // a new conversation started meanwhile
      entry.attachmentId = att.id;
      state.outbox.push(cid);
      setLocalState(entry, 'pending');
      transmit(cid);
    }).catch(function (e) {
      if (state.local[cid] !== entry) return;
      entry.failed = true;
      setLocalState(entry, 'failed');
      addNote(T('fileFailed', { msg: e && e.message ? e.message : '' }), 'err');
    });
  }

  // ------------------------------------------------------------------ typing: `true` at most every 3 s, `false` on a pause or send

  function sendTypingFrame(on) {
    var ws = state.ws;
    if (!ws || !state.wsOpen || ws.readyState !== 1) { if (!on) state.typingSent = 0; return; }
    ws.send(JSON.stringify({ type: 'typing', typing: on }));
    state.lastSentKind = 'typing';
    state.typingSent = on ? Date.now() : 0;
  }

  function onInputTyping() {
    if (state.status === 'closed') return;
    if (!input.value.trim()) { typingStop(); return; }
    if (!state.typingSent || Date.now() - state.typingSent >= TYPING_EVERY_MS) sendTypingFrame(true);
    clearTimeout(state.typingIdle);
    state.typingIdle = setTimeout(typingStop, TYPING_IDLE_MS);
  }

  function typingStop() {
    clearTimeout(state.typingIdle);
    if (state.typingSent) sendTypingFrame(false);
  }

  function transmit(cid) {
    var entry = state.local[cid];
    if (!entry || entry.acked) return;
    if (state.ws && state.wsOpen && state.ws.readyState === 1) {
      var frame = { type: 'message', client_id: cid, text: entry.text };
      if (entry.attachmentId) frame.attachment_id = entry.attachmentId;
      if (entry.choice) frame.choice = entry.choice;
      state.ws.send(JSON.stringify(frame));
      state.lastSentKind = 'message';
      entry.sentAt = Date.now();
      if (state.status === 'bot') showTyping(true);
    }
  }

  function flushOutbox() {
    state.outbox.slice().forEach(transmit);
  }

  function onAck(f) {
    var entry = state.local[f.client_id];
    if (!entry) return;
    removeFromOutbox(f.client_id);
    if (entry.acked) return;
    entry.acked = true;
    entry.seq = f.seq;
    setLocalState(entry, 'sent');
  }

  function onErrorFrame(f) {
    var cid = f.client_id;
    if (!cid && state.lastSentKind === 'feedback') {
      // our rating was refused: nothing is selected
      var ids = Object.keys(state.fbPending);
      state.fbPending = {};
      ids.forEach(renderFeedback);
    }
    // (only when a message was the last frame we sent: a refused typing/receipt frame is no message's fault)
    if (!cid && state.outbox.length && state.lastSentKind === 'message') {
      // the server rejected a frame without saying which: the most recently transmitted message is the suspect
      var latest = null;
      state.outbox.forEach(function (id) { var e = state.local[id]; if (e && e.sentAt && (!latest || e.sentAt >= state.local[latest].sentAt)) latest = id; });
      cid = latest;
    }
    var entry = cid && state.local[cid];
    if (entry && !entry.acked && f.code === 'rate_limited') {
      // not stored: keep it pending and send it again (same client_id) in a moment
      setTimeout(function () { if (!entry.acked && state.outbox.indexOf(cid) >= 0) transmit(cid); }, 2000);
      return;
    }
    if (entry && !entry.acked) {
      entry.failed = true;
      removeFromOutbox(cid);
      setLocalState(entry, 'failed');
    }
    showTyping(false);
    if (f.message) addNote(String(f.message), 'err');
  }

  // ------------------------------------------------------------------ session + websocket

  function resetConversationView(withDivider) {
    state.maxSeq = 0;
    state.deliveredSent = 0;
    state.readSent = 0;
    state.seqEls = {};
    state.local = {};
    state.outbox = [];
    state.status = 'bot';
    state.agentName = null;
    state.sentAny = false;
    state.queue = null;
    state.leftNumber = null;
    state.lmOpen = false;
    state.helloGuesses = [];
    state.fbPending = {};
    renderQueue();
    showTyping(false);
    if (withDivider) {
      // keep the old transcript visible, but make sure none of it is treated as current
      var old = msgs.querySelectorAll('[data-seq],[data-unseq]');
      for (var i = 0; i < old.length; i++) { old[i].removeAttribute('data-seq'); old[i].removeAttribute('data-unseq'); }
      // the bot's buttons there belong to the old conversation: off for good; no ids to be confused with new ones
      var dead = msgs.querySelectorAll('.botbtn');
      for (var d = 0; d < dead.length; d++) { dead[d].setAttribute('data-dead', '1'); dead[d].disabled = true; dead[d].removeAttribute('data-testid'); }
      var oldIds = msgs.querySelectorAll('[data-message-id],[data-fb-note]');
      for (var o = 0; o < oldIds.length; o++) { oldIds[o].removeAttribute('data-message-id'); oldIds[o].removeAttribute('data-fb-note'); }
      if (greetingRow) { var hg = greetingRow.querySelector('[data-hello-guesses]'); if (hg) hg.parentNode.removeChild(hg); }
      msgs.appendChild(el('div', 'divider', T('newDivider')));
      greetingRow = null;
      renderGreeting();
      msgs.appendChild(greetingRow);
    } else {
      while (msgs.firstChild) msgs.removeChild(msgs.firstChild);
      greetingRow = null;
      renderGreeting();
    }
    renderHeaderStatus();
  }

  function ensureSession() {
    if (state.sessionPromise) return state.sessionPromise;
    var attempt = 0;
    state.sessionPromise = new Promise(function (resolve) {
      function tryOnce() {
        // the page the widget is on: routing rules may look at it (e.g. "/refund" pages to the after-sales group).
        // Without the #fragment, which browsers never send to servers (it may hold a sign-in token).
        var page = String(location.href).split('#')[0].slice(0, 2000);
        var body = { widget_key: WIDGET_KEY, visitor: {}, page: page, anonymous_id: anonId(), language: lang };
        if (store.token) body.token = store.token;
        var context = state.contextRefused ? null : pageContext();
        if (context) body.context = context;
        fetch(ORIGIN + '/api/v1/widget/sessions', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
          credentials: 'omit',
        }).then(function (res) {
          return res.text().then(function (txt) {
            var data = null; try { data = txt ? JSON.parse(txt) : null; } catch (e) { data = null; }
            if (!res.ok) { var err = new Error((data && data.message) || ('HTTP ' + res.status)); err.status = res.status; throw err; }
            return data;
          });
        }).then(function (data) {
          var changed = store.conversation_id && store.conversation_id !== data.conversation_id;
          if (changed) { store.seen = 0; resetConversationView(state.maxSeq > 0 || msgs.querySelector('[data-unseq]') != null); }
          store.token = data.token;
          store.conversation_id = data.conversation_id;
          store.visitor_id = data.visitor_id;
          saveStore();
          state.gotHello = false;
          connect();
          resolve(data);
        }).catch(function (e) {
          if (e.status === 400 && context) {
            // the business context was refused (the server says why): open the session without it
            console.warn('[lingxi] widget: the server refused the page context: ' + e.message);
            state.contextRefused = true;
            tryOnce();
            return;
          }
          attempt++;
          if (e.status === 404 && !store.token) {
            // unknown widget key: retrying will not help
            console.warn('[lingxi] widget: ' + e.message);
            addNote(T('connectFailed').replace(/[,，].*$/, ''), 'err');
            return;
          }
          if (e.status >= 400 && e.status < 500 && store.token) {
            // our old token is not accepted at all: start afresh
            store = {}; saveStore();
          }
          wrap.classList.add('offline');
          if (attempt === 3) addNote(T('connectFailed'), 'warn');
          setTimeout(tryOnce, Math.min(15000, 800 * Math.pow(2, attempt)));
        });
      }
      tryOnce();
    });
    return state.sessionPromise;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.ws) { try { state.ws.onclose = null; state.ws.close(); } catch (e) { /* ignore */ } }
    if (!store.token) return;
    var ws;
    try { ws = new WebSocket(WS_ORIGIN + '/api/v1/widget/ws?token=' + encodeURIComponent(store.token)); }
    catch (e) { scheduleReconnect(); return; }
    state.ws = ws;
    ws.onopen = function () {
      state.wsOpen = true;
      state.attempt = 0;
      wrap.classList.remove('offline');
      ws.send(JSON.stringify({ type: 'resume', after_seq: state.maxSeq }));
      flushOutbox();
      flushFeedback();
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(function () {
        if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'ping' }));
      }, 25000);
    };
    ws.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f.type !== 'string') return;
      switch (f.type) {
        case 'hello':
          state.gotHello = true;
          state.failsWithoutHello = 0;
          state.deliveredSent = 0;
          state.readSent = 0;
          state.typingSent = 0;
          applyConversation(f.conversation);
          // 猜你想问 for a conversation that has no messages yet
          state.helloGuesses = f.conversation && f.conversation.last_seq > 0 ? [] : entryList(f.guesses, 4);
          renderHelloGuesses();
          scheduleAcks();
          break;
        case 'message': onServerMessage(f.message && typeof f.message === 'object' ? f.message : f); break;
        case 'ack': onAck(f); break;
        case 'status': onStatus(f); break;
        case 'queue': onQueue(f); break;
        case 'error': onErrorFrame(f); break;
        case 'typing': onTypingFrame(f); break;
        case 'feedback': onFeedbackFrame(f); break;
        default: break;
      }
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.wsOpen = false;
      clearInterval(state.pingTimer);
      if (!state.gotHello) state.failsWithoutHello++;
      state.gotHello = false;
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    if (state.attempt > 0 || !navigator.onLine) wrap.classList.add('offline');
    var base = Math.min(15000, 500 * Math.pow(2, state.attempt));
    state.attempt++;
    var delay = base / 2 + Math.random() * base / 2;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(function () {
      wrap.classList.add('offline');
      if (state.failsWithoutHello >= 3) {
        // the socket is refused before it says hello: the token may have expired, ask for a session again
        state.failsWithoutHello = 0;
        state.sessionPromise = null;
        ensureSession();
      } else {
        connect();
      }
    }, delay);
  }

  window.addEventListener('online', function () {
    if (!state.wsOpen && store.token) { state.attempt = 0; connect(); }
  });

  function startNewConversation() {
    store = { seen: 0 };
    saveStore();
    if (state.ws) { try { state.ws.onclose = null; state.ws.close(); } catch (e) { /* ignore */ } }
    state.ws = null; state.wsOpen = false;
    clearTimeout(state.reconnectTimer);
    resetConversationView(true);
    state.sessionPromise = null;
    ensureSession();
    scrollDown(true);
    setTimeout(function () { input.focus(); }, 50);
  }

  // ------------------------------------------------------------------ open / close, input

  function setOpen(open) {
    state.open = open;
    wrap.classList.toggle('open', open);
    try { sessionStorage.setItem(OPEN_KEY, open ? '1' : '0'); } catch (e) { /* ignore */ }
    if (open) {
      ensureSession();
      markSeen();
      scheduleAcks();
      scrollDown(true);
      setTimeout(function () { if (!comp.hidden) input.focus(); }, 60);
    }
    renderBadge();
  }

  launcher.addEventListener('click', function () { setOpen(true); });
  closeBtn.addEventListener('click', function () { setOpen(false); launcher.focus(); });
  langBtn.addEventListener('click', function () {
    lang = lang === 'zh' ? 'en' : 'zh';
    try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* ignore */ }
    applyTexts();
  });
  newBtn.addEventListener('click', startNewConversation);
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') { setOpen(false); launcher.focus(); } });

  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(120, input.scrollHeight) + 'px';
    sendBtn.disabled = !input.value.trim();
  }
  input.addEventListener('input', function () { autosize(); onInputTyping(); });
  input.addEventListener('blur', function () { setTimeout(function () { if (root.activeElement !== input) typingStop(); }, 150); });
  attBtn.addEventListener('click', function () { fileInput.click(); });
  fileInput.addEventListener('change', function () {
    var files = Array.prototype.slice.call(fileInput.files || []);
    fileInput.value = '';
    files.forEach(sendFile);
    input.focus();
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  sendBtn.addEventListener('click', submit);
  function submit() {
    var v = input.value;
    if (!v.trim()) return;
    typingStop();
    sendText(v);
    input.value = '';
    autosize();
    input.focus();
  }

  // ------------------------------------------------------------------ boot

  function loadConfig() {
    fetch(ORIGIN + '/api/v1/widget/config?widget_key=' + encodeURIComponent(WIDGET_KEY), { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (cfg) { if (cfg) { state.config = cfg; applyTexts(); } })
      .catch(function () { /* the fallback texts are fine */ });
  }

  function mount() {
    if (!document.body) { document.addEventListener('DOMContentLoaded', mount); return; }
    document.body.appendChild(host);
    applyTexts();
    loadConfig();
    var wasOpen = false;
    try { wasOpen = sessionStorage.getItem(OPEN_KEY) === '1'; } catch (e) { /* ignore */ }
    if (store.token) ensureSession(); // a returning visitor: reconnect now so that replies raise the badge
    if (wasOpen) setOpen(true);
  }

  window.__lingxiWidget = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    setLanguage: function (l) { if (l === 'zh' || l === 'en') { lang = l; applyTexts(); } },
  };

  mount();
})();
