/*! Lingxi (灵犀) visitor tracker. Embed with:
 *    <script src="https://YOUR-HOST/tracker.js" data-widget-key="KEY" async></script>
 * Records a `page_view` on load and offers
 *    window.lingxi.track(kind, props)     kind: page_view | product_view | add_to_cart | order | custom
 *    window.lingxi.identify({ user_id, email, phone, name, attributes })
 *    window.lingxi.flush()                send what is queued now (returns a promise)
 * Events are batched (POST /api/v1/track, at most 50 a request, `keepalive` so that the last ones survive leaving
 * the page). The anonymous id is kept in localStorage under `lingxi.anon.<widget key>`; the chat widget sends the same
 * id, so the visitor who chats is the visitor who browsed. Calls made before the script loaded
 * (`window.lingxi = window.lingxi || []; lingxi.push(['track', 'product_view', {...}])`) are replayed.
 */
(function () {
  'use strict';

  var existing = window.lingxi;
  if (existing && existing.__tracker) return; // loaded twice: keep the first one

  var script = document.currentScript;
  if (!script || !script.src) {
    var candidates = document.querySelectorAll('script[data-widget-key]');
    for (var i = 0; i < candidates.length; i++) {
      if (/\/tracker\.js(\?|#|$)/.test(candidates[i].src)) { script = candidates[i]; break; }
    }
  }
  if (!script || !script.src) { console.warn('[lingxi] tracker: cannot find my own <script> tag'); return; }
  var WIDGET_KEY = (script.getAttribute('data-widget-key') || '').trim();
  if (!WIDGET_KEY || WIDGET_KEY.indexOf('{{') === 0) { console.warn('[lingxi] tracker: missing data-widget-key'); return; }
  var ORIGIN = new URL(script.src, location.href).origin;
  var ANON_KEY = 'lingxi.anon.' + WIDGET_KEY;
  var KINDS = ['page_view', 'product_view', 'add_to_cart', 'order', 'custom'];
  var FIELDS = ['name', 'url', 'title', 'product_id', 'product_name', 'amount', 'currency'];
  var BATCH = 50;          // events per request (the server takes 1–50)
  var DELAY_MS = 800;      // wait this long for more events before sending
  var MAX_QUEUE = 500;     // drop the oldest beyond this (offline for long)

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var hx = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return hx.slice(0, 8) + '-' + hx.slice(8, 12) + '-' + hx.slice(12, 16) + '-' + hx.slice(16, 20) + '-' + hx.slice(20);
  }

  var memoryId = null;
  function anonId() {
    var id = null;
    try { id = localStorage.getItem(ANON_KEY); } catch (e) { /* storage blocked */ }
    if (!id || !/^[A-Za-z0-9-]{8,64}$/.test(id)) {
      id = memoryId || uuid();
      try { localStorage.setItem(ANON_KEY, id); } catch (e) { /* keep it for this page */ }
    }
    memoryId = id;
    return id;
  }

  /** The page's address without its #fragment (which may hold tokens), at most 2000 characters. */
  function pageUrl() { return String(location.href).split('#')[0].slice(0, 2000); }

  var queue = [];
  var timer = null;
  var inFlight = null;
  var visitorId = null;

  function schedule() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; flush(); }, DELAY_MS);
  }

  function post(path, body, keepalive) {
    return fetch(ORIGIN + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      keepalive: !!keepalive,
    }).then(function (res) {
      return res.text().then(function (txt) {
        var data = null; try { data = txt ? JSON.parse(txt) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = new Error((data && data.message) || ('HTTP ' + res.status));
          err.status = res.status;
          throw err;
        }
        return data;
      });
    });
  }

  /** Send everything queued, one batch after another. Resolves when the queue is empty (or a batch failed). */
  function flush(keepalive) {
    clearTimeout(timer); timer = null;
    if (inFlight) return inFlight.then(function () { return queue.length ? flush(keepalive) : undefined; });
    if (!queue.length) return Promise.resolve();
    var batch = queue.splice(0, BATCH);
    inFlight = post('/api/v1/track', { widget_key: WIDGET_KEY, anonymous_id: anonId(), events: batch }, keepalive)
      .then(function (data) {
        if (data && data.visitor_id) visitorId = data.visitor_id;
      }, function (e) {
        // rate-limited or offline: put the batch back and try later; refused as invalid (4xx): drop it
        if (!e.status || e.status === 429 || e.status >= 500) {
          queue = batch.concat(queue).slice(-MAX_QUEUE);
          setTimeout(schedule, e.status === 429 ? 5000 : 2000);
        } else {
          console.warn('[lingxi] tracker: events refused: ' + e.message);
        }
      })
      .then(function () {
        inFlight = null;
        if (queue.length && !timer) return flush(keepalive);
      });
    return inFlight;
  }

  function track(kind, props) {
    kind = String(kind || '');
    if (KINDS.indexOf(kind) < 0) { console.warn('[lingxi] tracker: unknown event kind ' + kind); return; }
    props = props && typeof props === 'object' ? props : {};
    var ev = { kind: kind, at: new Date().toISOString() };
    var extra = {};
    for (var k in props) {
      if (!Object.prototype.hasOwnProperty.call(props, k) || props[k] === undefined || props[k] === null) continue;
      if (FIELDS.indexOf(k) >= 0) ev[k] = k === 'amount' ? String(props[k]) : String(props[k]).slice(0, 2000);
      else if (k === 'properties' && typeof props[k] === 'object') { for (var p in props[k]) extra[p] = props[k][p]; }
      else if (k !== 'at' && k !== 'kind') extra[k] = props[k];
    }
    if (props.at) ev.at = String(props.at);
    if (!ev.url) ev.url = pageUrl();
    if (!ev.title && kind === 'page_view') ev.title = String(document.title || '').slice(0, 300);
    if (kind === 'custom' && !ev.name) { console.warn('[lingxi] tracker: a custom event needs a name'); return; }
    for (var any in extra) { ev.properties = extra; break; }
    queue.push(ev);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    if (queue.length >= BATCH) flush(); else schedule();
  }

  /** Tell the server who this visitor is; what was tracked before goes first, so it lands on the same visitor. */
  function identify(who) {
    who = who && typeof who === 'object' ? who : {};
    var body = { widget_key: WIDGET_KEY, anonymous_id: anonId() };
    ['user_id', 'email', 'phone', 'name'].forEach(function (k) { if (who[k] != null && who[k] !== '') body[k] = String(who[k]); });
    if (who.attributes && typeof who.attributes === 'object') {
      // string values (null removes one)
      body.attributes = {};
      for (var a in who.attributes) {
        if (Object.prototype.hasOwnProperty.call(who.attributes, a)) body.attributes[a] = who.attributes[a] == null ? null : String(who.attributes[a]);
      }
    }
    return flush().then(function () {
      return post('/api/v1/track/identify', body, true);
    }).then(function (data) {
      if (data && data.visitor_id) visitorId = data.visitor_id;
      return data;
    });
  }

  var api = {
    __tracker: true,
    track: track,
    identify: identify,
    flush: function () { return flush(); },
    push: function (call) {
      if (call && typeof api[call[0]] === 'function' && call[0] !== 'push') return api[call[0]].apply(null, Array.prototype.slice.call(call, 1));
    },
    anonymousId: anonId,
    visitorId: function () { return visitorId; },
  };
  window.lingxi = api;

  // calls queued before we loaded: lingxi.push(['track', kind, props]) / ['identify', {...}]
  if (existing && typeof existing.length === 'number') {
    for (var j = 0; j < existing.length; j++) {
      var call = existing[j];
      if (call && typeof api[call[0]] === 'function') {
        try { api[call[0]].apply(null, Array.prototype.slice.call(call, 1)); } catch (e) { /* ignore a bad call */ }
      }
    }
  }

  // what is still queued when the page goes away is sent with keepalive
  document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') flush(true); });
  window.addEventListener('pagehide', function () { flush(true); });

  anonId();
  function pageView() { track('page_view', {}); }
  // the title may be set by the page's own scripts (translations): wait for the document to be parsed
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', pageView);
  else pageView();
})();
