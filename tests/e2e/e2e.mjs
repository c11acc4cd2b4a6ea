// End-to-end browser test of the Lingxi web UI: the visitor's widget on /demo and the agent workspace on /agent.
//
//   cd tests/e2e && npm ci
//   LINGXI_URL=http://127.0.0.1:18080 LINGXI_AGENT_EMAIL=… LINGXI_AGENT_PASSWORD=… node e2e.mjs
//
// Optional: LINGXI_TENANT (tenant slug for the login form), CHROMIUM_PATH (default /usr/bin/chromium),
// LINGXI_SCREENSHOTS=<dir> (save PNGs of every stage; on failure a screenshot is always saved, default /tmp),
// HEADFUL=1 (show the browser).
// The last line printed is always "N passed, N failed". Exit status 0 only when nothing failed.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const BASE = (process.env.LINGXI_URL || '').replace(/\/+$/, '');
const EMAIL = process.env.LINGXI_AGENT_EMAIL || '';
const PASSWORD = process.env.LINGXI_AGENT_PASSWORD || '';
const TENANT = process.env.LINGXI_TENANT || '';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.LINGXI_SCREENSHOTS || '';
const STEP_TIMEOUT = 20_000;   // per step
const TOTAL_TIMEOUT = 180_000; // whole run

let passed = 0;
let failed = 0;
const results = [];

function finish(code) {
  if (failed) for (const r of results) if (!r.startsWith('ok')) console.log(r);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code);
}

if (!BASE || !EMAIL || !PASSWORD) {
  console.error('e2e: set LINGXI_URL, LINGXI_AGENT_EMAIL and LINGXI_AGENT_PASSWORD');
  failed = 1;
  finish(2);
}

const watchdog = setTimeout(() => {
  console.error(`e2e: the whole run exceeded ${TOTAL_TIMEOUT / 1000}s, giving up`);
  failed++;
  finish(1);
}, TOTAL_TIMEOUT);
watchdog.unref();

const uniq = Date.now().toString(36);
const QUESTION = '怎么退货';
const AGENT_REPLY = `您好，我是人工客服，马上帮您处理退货 (${uniq})`;
const XSS = `<img src=x onerror=alert(1)> 测试 ${uniq}`;
const problems = []; // CSP violations, page errors, unexpected dialogs

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: !process.env.HEADFUL,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'].filter((a) => a !== '--headless' || !process.env.HEADFUL),
});

function watch(page, who) {
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|Refused to (execute|load|apply|connect)/i.test(text)) problems.push(`${who}: CSP: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') { await d.accept(); return; }
    problems.push(`${who}: unexpected ${d.type()} dialog: ${d.message()}`);
    await d.dismiss();
  });
}

const visitorCtx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 860 } });
const agentCtx = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1440, height: 900 } });
const visitor = await visitorCtx.newPage();
const agent = await agentCtx.newPage();
watch(visitor, 'visitor');
watch(agent, 'agent');
visitor.setDefaultTimeout(STEP_TIMEOUT);
agent.setDefaultTimeout(STEP_TIMEOUT);

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png') }).catch(() => {});
}

let stopped = false;
async function step(name, fn) {
  if (stopped) { results.push(`SKIP  ${name}`); failed++; return; }
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    results.push(`ok    ${name} (${Date.now() - t0} ms)`);
    console.log(`ok    ${name}`);
  } catch (e) {
    failed++;
    stopped = true;
    const msg = String(e && e.message || e).replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim()).slice(0, 5).join('\n      ');
    results.push(`FAIL  ${name}`);
    console.log(`FAIL  ${name}\n      ${msg}`);
    const dir = SHOTS || '/tmp';
    fs.mkdirSync(dir, { recursive: true });
    await visitor.screenshot({ path: path.join(dir, 'e2e-failure-visitor.png') }).catch(() => {});
    await agent.screenshot({ path: path.join(dir, 'e2e-failure-agent.png') }).catch(() => {});
    results.push(`      screenshots: ${path.join(dir, 'e2e-failure-visitor.png')}, ${path.join(dir, 'e2e-failure-agent.png')}`);
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

// Playwright's CSS engine pierces open shadow roots, so these reach inside the widget.
const W = {
  launcher: '#lingxi-widget-host .launcher',
  panel: '#lingxi-widget-host .panel',
  input: '#lingxi-widget-host textarea',
  human: '#lingxi-widget-host .chip.human',
  rows: '#lingxi-widget-host .msgs .row',
};

let conversationId = null;

// ------------------------------------------------------------------ visitor side

await step('server is up (GET /healthz)', async () => {
  let res;
  try { res = await fetch(BASE + '/healthz'); } catch (e) { throw new Error(`cannot reach ${BASE}: ${e.cause ? e.cause.code || e.cause.message : e.message}`); }
  assert(res.ok, `GET /healthz answered ${res.status}`);
});

await step('visitor opens /demo and the widget loads', async () => {
  const res = await visitor.goto(BASE + '/demo', { waitUntil: 'domcontentloaded' });
  assert(res && res.ok(), `GET /demo answered ${res && res.status()}`);
  const html = await res.text();
  assert(!html.includes('{{WIDGET_KEY}}'), 'the server did not replace {{WIDGET_KEY}} in /demo');
  await visitor.locator(W.launcher).waitFor({ state: 'visible' });
  await shot(visitor, '01-demo');
});

await step('visitor opens the chat panel and sees the greeting', async () => {
  await visitor.locator(W.launcher).click();
  await visitor.locator(W.panel).waitFor({ state: 'visible' });
  await visitor.locator(`${W.rows}.bot[data-greeting]`).waitFor({ state: 'visible' });
  await visitor.waitForFunction(() => {
    const key = document.querySelector('script[data-widget-key]').dataset.widgetKey;
    const s = JSON.parse(localStorage.getItem('lingxi:widget:' + key) || '{}');
    return !!s.token && !!s.conversation_id;
  }, null, { timeout: STEP_TIMEOUT });
  conversationId = await visitor.evaluate(() => {
    const key = document.querySelector('script[data-widget-key]').dataset.widgetKey;
    return JSON.parse(localStorage.getItem('lingxi:widget:' + key)).conversation_id;
  });
  assert(conversationId, 'no conversation id stored by the widget');
});

await step(`visitor asks "${QUESTION}" and gets a bot answer`, async () => {
  await visitor.locator(W.input).fill(QUESTION);
  await visitor.locator(W.input).press('Enter');
  const mine = visitor.locator(`${W.rows}.visitor`, { hasText: QUESTION }).last();
  await mine.waitFor({ state: 'visible' });
  // acknowledged and placed by the server (it has a seq, no longer pending)
  await visitor.waitForFunction((q) => {
    const root = document.querySelector('#lingxi-widget-host').shadowRoot;
    return [...root.querySelectorAll('.row.visitor[data-seq]')].some((r) => r.textContent.includes(q) && !r.classList.contains('pending'));
  }, QUESTION, { timeout: STEP_TIMEOUT });
  // a bot message with a higher seq than the question
  await visitor.waitForFunction((q) => {
    const root = document.querySelector('#lingxi-widget-host').shadowRoot;
    const rows = [...root.querySelectorAll('.msgs [data-seq]')];
    const qi = rows.findIndex((r) => r.classList.contains('visitor') && r.textContent.includes(q));
    return qi >= 0 && rows.slice(qi + 1).some((r) => r.classList.contains('bot') && r.textContent.trim().length > 0);
  }, QUESTION, { timeout: STEP_TIMEOUT });
  const botText = await visitor.evaluate(() => {
    const root = document.querySelector('#lingxi-widget-host').shadowRoot;
    const bots = [...root.querySelectorAll('.msgs .row.bot[data-seq] .bub')];
    return bots[bots.length - 1].textContent;
  });
  console.log(`      bot answered: ${JSON.stringify(botText.slice(0, 80))}`);
  await shot(visitor, '02-bot-answer');
});

await step('visitor asks for a human (转人工) and sees the handoff status', async () => {
  await visitor.locator(W.human).click();
  await visitor.locator(`${W.rows}.visitor`, { hasText: '转人工' }).last().waitFor({ state: 'visible' });
  await visitor.waitForFunction(() => {
    const root = document.querySelector('#lingxi-widget-host').shadowRoot;
    const sub = root.querySelector('.head .ttl span').textContent;
    return /转接|为您服务|agent|joined/i.test(sub);
  }, null, { timeout: STEP_TIMEOUT });
  await shot(visitor, '03-handoff');
});

// ------------------------------------------------------------------ agent side

await step('agent signs in on /agent', async () => {
  const res = await agent.goto(BASE + '/agent', { waitUntil: 'domcontentloaded' });
  assert(res && res.ok(), `GET /agent answered ${res && res.status()}`);
  await agent.locator('#login-form').waitFor({ state: 'visible' });
  await agent.fill('#login-email', EMAIL);
  await agent.fill('#login-password', PASSWORD);
  if (TENANT) await agent.fill('#login-tenant', TENANT);
  await agent.click('#login-form button[type=submit]');
  const outcome = await Promise.race([
    agent.locator('#app-view').waitFor({ state: 'visible' }).then(() => 'ok'),
    agent.locator('#login-form .form-error').waitFor({ state: 'visible' }).then(() => 'error'),
  ]);
  if (outcome === 'error') {
    throw new Error(`sign-in refused: ${(await agent.locator('#login-form .form-error').textContent()).trim()}`);
  }
  await agent.locator('#conn.open').waitFor({ state: 'visible' });
});

await step('agent sees the conversation in the list and opens it', async () => {
  const item = agent.locator(`.conv[data-id="${conversationId}"]`);
  const deadline = Date.now() + STEP_TIMEOUT;
  let found = false;
  while (!found && Date.now() < deadline) {
    for (const tab of ['queued', 'mine', 'assigned', 'bot']) {
      await agent.click(`#tabs .tab[data-tab="${tab}"]`);
      if (await item.count()) { found = true; break; }
    }
    if (!found) await agent.waitForTimeout(500);
  }
  assert(found, `conversation ${conversationId} is not in the queued/mine/active/bot lists`);
  await shot(agent, '04-agent-list');
  await item.click();
  await agent.locator('#chat').waitFor({ state: 'attached' });
  await agent.locator('#chat-name').waitFor({ state: 'visible' });
});

await step("agent sees the visitor's history (question, bot answer, 转人工)", async () => {
  const box = agent.locator('#messages');
  await box.locator('.msg.visitor .bubble', { hasText: QUESTION }).first().waitFor({ state: 'visible' });
  await box.locator('.msg.bot .bubble').first().waitFor({ state: 'visible' });
  await box.locator('.msg.visitor .bubble', { hasText: '转人工' }).first().waitFor({ state: 'visible' });
  await agent.locator('#info .kv').first().waitFor({ state: 'visible' });
});

await step('agent claims (when queued) and replies with Enter', async () => {
  if (await agent.locator('#btn-claim').isVisible()) {
    await agent.click('#btn-claim');
    await agent.waitForFunction(() => document.querySelector('#chat-status').className.includes('badge-assigned'), null, { timeout: STEP_TIMEOUT });
  }
  await agent.fill('#reply', AGENT_REPLY);
  await agent.press('#reply', 'Enter');
  await agent.locator('#messages .msg.agent[data-seq] .bubble', { hasText: AGENT_REPLY }).waitFor({ state: 'visible' });
  assert((await agent.locator('#reply').inputValue()) === '', 'the reply box was not cleared after sending');
});

await step("visitor sees the agent's reply, with the agent's name", async () => {
  const row = visitor.locator(`${W.rows}.agent`, { hasText: AGENT_REPLY });
  await row.waitFor({ state: 'visible' });
  const who = (await row.locator('.who').textContent()).trim();
  assert(who.length > 0, 'the agent message shows no agent name');
  await shot(visitor, '05-visitor-agent-reply');
});

await step('visitor text with HTML is shown literally in the workspace (no <img> created)', async () => {
  await visitor.locator(W.input).fill(XSS);
  await visitor.locator(W.input).press('Enter');
  const bubble = agent.locator('#messages .msg.visitor .bubble', { hasText: uniq }).last();
  await bubble.waitFor({ state: 'visible' });
  const text = await bubble.textContent();
  assert(text === XSS, `the workspace shows ${JSON.stringify(text)} instead of the literal text`);
  const imgs = await agent.locator('#messages img, #conv-list img, #info img').count();
  assert(imgs === 0, `${imgs} <img> element(s) were created in the agent workspace`);
  // the list preview shows it as text too
  const preview = await agent.locator(`.conv[data-id="${conversationId}"] .preview`).textContent();
  assert(preview.includes('<img'), `the list preview does not show the literal text: ${JSON.stringify(preview)}`);
  const vImgs = await visitor.evaluate(() => document.querySelector('#lingxi-widget-host').shadowRoot.querySelectorAll('.msgs img').length);
  assert(vImgs === 0, `${vImgs} <img> element(s) were created in the widget`);
  await shot(agent, '06-agent-xss-literal');
});

await step('agent closes the conversation; both sides show it closed', async () => {
  await agent.click('#btn-close'); // the confirm() dialog is accepted by the dialog handler
  await agent.waitForFunction(() => document.querySelector('#chat-status').className.includes('badge-closed'), null, { timeout: STEP_TIMEOUT });
  await agent.locator('#reply-form').waitFor({ state: 'hidden' });
  await visitor.locator('#lingxi-widget-host .ended').waitFor({ state: 'visible' });
  await shot(agent, '07-agent-closed');
  await shot(visitor, '08-visitor-closed');
});

await step('no CSP violations, page errors or unexpected dialogs', async () => {
  assert(problems.length === 0, problems.join('\n'));
});

await browser.close().catch(() => {});
clearTimeout(watchdog);
finish(failed ? 1 : 0);
