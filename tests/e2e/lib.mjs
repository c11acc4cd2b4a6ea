// What the browser tests share: finding the demo accounts of the server they test.

import fs from 'node:fs';
import path from 'node:path';

/** `admin  admin@demo.lingxi.local  password: …` lines, as the server writes demo-credentials.txt. */
export function parseCredentials(text) {
  const out = [];
  for (const line of String(text).split('\n')) {
    const m = /^(\w+)\s+(\S+@\S+)\s+password:\s+(\S+)/.exec(line.trim());
    if (m) out.push({ role: m[1], email: m[2], password: m[3] });
  }
  return out;
}

/** The data directory of the `lingxi serve` process on this machine that listens on `base`'s port. */
export function localServerDataDir(base) {
  let url;
  try { url = new URL(base); } catch (_) { return null; }
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return null;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  let pids = [];
  try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch (_) { return null; }
  for (const pid of pids) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (!argv.length || path.basename(argv[0]) !== 'lingxi' || !argv.includes('serve')) continue;
      const env = Object.fromEntries(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const opt = (name) => {
        const i = argv.indexOf(name);
        if (i >= 0 && argv[i + 1]) return argv[i + 1];
        const eq = argv.find((a) => a.startsWith(name + '='));
        return eq ? eq.slice(name.length + 1) : null;
      };
      const bind = opt('--bind') || env.LINGXI_BIND || '127.0.0.1:8080';
      if (!bind.endsWith(':' + port)) continue;
      const dir = opt('--data-dir') || env.LINGXI_DATA_DIR || './data';
      return path.resolve(fs.readlinkSync(`/proc/${pid}/cwd`), dir);
    } catch (_) { /* not ours, or gone */ }
  }
  return null;
}


// ------------------------------------------------------------------ support mail over SMTP (lingxi serve --smtp-listen)

/** `host:port` of the server's SMTP listener: LINGXI_SMTP_ADDR (scripts/test sets it); throws when it is unset. */
export function smtpAddress() {
  const addr = (process.env.LINGXI_SMTP_ADDR || '').trim();
  if (!addr) {
    throw new Error('LINGXI_SMTP_ADDR is not set: the e-mail steps need the server\'s SMTP listener ' +
      '(`lingxi serve --smtp-listen 127.0.0.1:PORT`; scripts/test sets LINGXI_SMTP_ADDR=127.0.0.1:PORT)');
  }
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(addr);
  if (!m) throw new Error(`LINGXI_SMTP_ADDR=${JSON.stringify(addr)} is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}

/**
 * One SMTP conversation with the server's listener: greeting, EHLO, MAIL FROM, a RCPT TO per address of `to`
 * (a string or an array), DATA with `data` (a string or Buffer, line ends made CRLF, dot-stuffed) when a recipient
 * was accepted, QUIT. Every reply is read whole, line by line (a multi-line reply — `250-…` lines, then `250 …` —
 * is one reply). Answers { greeting, ehlo, mail, rcpt: [{ to, code, text }], data: { code, text } | null, quit },
 * each reply being { code, text, lines }. Throws on a connection error, a closed connection or a silent server.
 */
export async function smtpSend({ from, to, data, helo = 'e2e.lingxi.test', timeoutMs = 15_000 }) {
  const { host, port } = smtpAddress();
  const net = await import('node:net');
  const socket = net.createConnection({ host, port });
  socket.setNoDelay(true);
  let buf = '';
  let lines = [];      // lines of the reply being read
  const replies = [];  // whole replies not yet taken
  let waiter = null;
  let failure = null;
  const wake = () => { if (waiter) { const w = waiter; waiter = null; w(); } };
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) { failure = new Error(`SMTP: a reply line without a code: ${JSON.stringify(line)}`); continue; }
      lines.push(line);
      if (m[2] !== '-') {
        // the last line of a reply: "250 text" (or a bare "250")
        replies.push({ code: Number(m[1]), text: lines.map((l) => l.slice(4)).join('\n'), lines });
        lines = [];
      }
    }
    wake();
  });
  socket.on('error', (e) => { failure = failure || new Error(`SMTP ${host}:${port}: ${e.code || e.message}`); wake(); });
  socket.on('close', () => { failure = failure || new Error(`SMTP ${host}:${port}: the server closed the connection`); wake(); });
  const reply = async (what) => {
    const deadline = Date.now() + timeoutMs;
    while (!replies.length) {
      if (failure) throw failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`SMTP: no reply to ${what} within ${timeoutMs / 1000} s`);
      await new Promise((res) => { waiter = res; setTimeout(res, Math.min(left, 250)); });
    }
    return replies.shift();
  };
  const command = async (line) => { socket.write(line + '\r\n'); return reply(line.split(':')[0]); };
  try {
    await new Promise((res, rej) => { socket.once('connect', res); socket.once('error', rej); });
    const out = { greeting: await reply('the connection (greeting)'), rcpt: [], data: null };
    if (out.greeting.code !== 220) throw new Error(`SMTP greeting: ${out.greeting.code} ${out.greeting.text}`);
    out.ehlo = await command(`EHLO ${helo}`);
    if (out.ehlo.code !== 250) throw new Error(`SMTP EHLO: ${out.ehlo.code} ${out.ehlo.text}`);
    out.mail = await command(`MAIL FROM:<${from}>`);
    if (out.mail.code !== 250) throw new Error(`SMTP MAIL FROM: ${out.mail.code} ${out.mail.text}`);
    for (const rcpt of [].concat(to)) {
      const r = await command(`RCPT TO:<${rcpt}>`);
      out.rcpt.push({ to: rcpt, code: r.code, text: r.text });
    }
    if (data !== undefined && out.rcpt.some((r) => r.code === 250)) {
      const go = await command('DATA');
      if (go.code !== 354) throw new Error(`SMTP DATA: ${go.code} ${go.text}`);
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      const body = text.replace(/\r?\n/g, '\r\n').replace(/\r\n$/, '').split('\r\n')
        .map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n');
      socket.write(body + '\r\n.\r\n');
      out.data = await reply('the message (end of DATA)');
    }
    out.quit = await command('QUIT').catch(() => null);
    return out;
  } finally {
    socket.destroy();
  }
}

/** RFC 2047 encoded words (UTF-8, base64) for a header value, folded; ASCII without specials stays as it is. */
export function mimeWords(text) {
  const s = String(text);
  if (/^[\x20-\x7e]*$/.test(s) && !/[=?"<>()@,;:\\[\]]/.test(s)) return s;
  const words = [];
  let chunk = [];
  let size = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (size + n > 42) { words.push(Buffer.from(chunk.join('')).toString('base64')); chunk = []; size = 0; }
    chunk.push(ch);
    size += n;
  }
  if (chunk.length) words.push(Buffer.from(chunk.join('')).toString('base64'));
  return words.map((w) => `=?UTF-8?B?${w}?=`).join('\r\n ');
}

/**
 * A MIME parameter (`filename`, `name`): `key="value"` for plain ASCII, else RFC 2231 (UTF-8, percent-encoded), split
 * into numbered continuations (`key*0*=UTF-8''…; key*1*=…`) so that no header line grows long.
 */
export function mimeParam(key, value) {
  const s = String(value);
  if (/^[\x20-\x7e]*$/.test(s) && !/["\\]/.test(s) && s.length <= 60) return `${key}="${s}"`;
  // each character whole (a segment never ends inside a character's UTF-8 bytes: decoders differ on that)
  const chars = [...s].map((ch) => (/^[A-Za-z0-9!#$&+.^_`|~-]$/.test(ch) ? ch
    : [...Buffer.from(ch, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('')));
  const parts = [''];
  for (const c of chars) {
    if (parts[parts.length - 1].length + c.length > 60) parts.push('');
    parts[parts.length - 1] += c;
  }
  if (parts.length === 1) return `${key}*=UTF-8''${parts[0]}`;
  return parts.map((p, i) => `${key}*${i}*=${i === 0 ? "UTF-8''" : ''}${p}`).join(';\r\n ');
}

/**
 * An RFC 5322 message: { from, fromName, to, subject, body, messageId, inReplyTo, bodyEncoding: '8bit' | 'base64',
 * attachments: [{ name, type, data: Buffer }] }. The subject and the display name are RFC 2047 words; the body is
 * text/plain UTF-8. With attachments the message is multipart/mixed: the text part, then each file as a base64 part
 * (`Content-Disposition: attachment`, its name as an RFC 2231 parameter when it is not plain ASCII).
 */
export function buildEmail({ from, fromName, to, subject, body, messageId, inReplyTo, bodyEncoding = '8bit', date = new Date(), attachments = [] }) {
  const boundary = `=_lingxi_e2e_${Math.random().toString(36).slice(2)}_${Date.now().toString(36)}`;
  const multipart = attachments.length > 0;
  const head = [
    `From: ${fromName ? `${mimeWords(fromName)} <${from}>` : `<${from}>`}`,
    `To: <${to}>`,
    `Subject: ${mimeWords(subject)}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${messageId}>`,
    inReplyTo ? `In-Reply-To: <${inReplyTo}>` : null,
    inReplyTo ? `References: <${inReplyTo}>` : null,
    'MIME-Version: 1.0',
    ...(multipart
      ? [`Content-Type: multipart/mixed; boundary="${boundary}"`]
      : ['Content-Type: text/plain; charset=UTF-8', `Content-Transfer-Encoding: ${bodyEncoding}`]),
  ].filter(Boolean);
  const base64Lines = (buf) => buf.toString('base64').replace(/.{1,76}/g, '$&\r\n').replace(/\r\n$/, '');
  const text = String(body).replace(/\r?\n/g, '\r\n');
  const encoded = bodyEncoding === 'base64' ? base64Lines(Buffer.from(text, 'utf8')) : text;
  if (!multipart) return head.join('\r\n') + '\r\n\r\n' + encoded + '\r\n';
  const parts = [
    ['Content-Type: text/plain; charset=UTF-8', `Content-Transfer-Encoding: ${bodyEncoding}`, '', encoded].join('\r\n'),
    ...attachments.map((a) => [
      `Content-Type: ${a.type || 'application/octet-stream'};\r\n ${mimeParam('name', a.name)}`,
      `Content-Disposition: attachment;\r\n ${mimeParam('filename', a.name)}`,
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(Buffer.isBuffer(a.data) ? a.data : Buffer.from(a.data)),
    ].join('\r\n')),
  ];
  return head.join('\r\n') + '\r\n\r\nThis is a multi-part message in MIME format.\r\n' +
    parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('') + `--${boundary}--\r\n`;
}
