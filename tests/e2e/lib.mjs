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

