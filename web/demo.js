// Demo shop page: language switch, a pretend cart and a pretend sign-in. The chat widget (/widget.js) and the
// visitor tracker (/tracker.js) are loaded separately (the widget with `defer`, so it runs after this module); this
// page tells the tracker what the visitor looks at (product_view), puts in the cart (add_to_cart) and who they are
// once "signed in" (identify), and the widget the business context of ?order_status= (window.lingxiContext).
import { initLang, onLangChange, t, toast } from '/common.js';

// ?order_status=VALUE: the business context a shop passes to the widget (e.g. on its order page), so that
// 猜你想问 starts with what fits (the demo knowledge base tags its payment entries `payment_failed`). The widget is
// a deferred script after this module, so this is set before it opens a session.
const orderStatus = new URLSearchParams(location.search).get('order_status');
if (orderStatus) window.lingxiContext = { order_status: orderStatus.slice(0, 200) };

initLang();

// keep the widget's language in step with the page when the visitor switches here
onLangChange((l) => {
  if (window.__lingxiWidget) window.__lingxiWidget.setLanguage(l);
  renderUser();
});

document.getElementById('shop-search').addEventListener('submit', (e) => e.preventDefault());
for (const a of document.querySelectorAll('a[href="#"]')) a.addEventListener('click', (e) => e.preventDefault());

/** The tracker loads async: calls made before it is there are queued and replayed by it. */
function lingxi(...call) {
  if (window.lingxi && typeof window.lingxi.track === 'function') return window.lingxi[call[0]](...call.slice(1));
  window.lingxi = window.lingxi || [];
  window.lingxi.push(call);
  return undefined;
}

function product(card) {
  return {
    product_id: card.dataset.productId,
    product_name: card.querySelector('h3').textContent.trim(),
    amount: card.dataset.price,
    currency: 'CNY',
  };
}

// looking at a product (its picture or its name)
for (const card of document.querySelectorAll('.product')) {
  const view = () => {
    const p = product(card);
    lingxi('track', 'product_view', p);
    toast(t('demo.viewing', { name: p.product_name }), 'success', 1400);
  };
  for (const el of card.querySelectorAll('.pic, .pname')) {
    el.addEventListener('click', view);
    el.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); view(); } });
  }
}

let n = 0;
for (const btn of document.querySelectorAll('.product .add')) {
  btn.addEventListener('click', () => {
    n++;
    document.getElementById('cart-n').textContent = String(n);
    lingxi('track', 'add_to_cart', { ...product(btn.closest('.product')), properties: { quantity: 1 } });
    toast(t('demo.added'), 'success', 1600);
  });
}

// a pretend sign-in: the shop tells Lingxi who the visitor is, so agents see a known customer
const USER_KEY = 'lingxi:demo:user';
const DEMO_USER = { user_id: 'demo-1001', email: 'zhang.wei@example.com', phone: '13812345678', attributes: { membership: 'gold' } };

function signedIn() {
  try { return localStorage.getItem(USER_KEY) === '1'; } catch (_) { return false; }
}

function renderUser() {
  const on = signedIn();
  const who = document.getElementById('demo-user');
  who.hidden = !on;
  who.textContent = on ? t('demo.login.as', { name: t('demo.login.name') }) : '';
  const link = document.getElementById('demo-login');
  link.textContent = t(on ? 'demo.logout' : 'demo.login');
  link.title = t(on ? 'demo.logout.title' : 'demo.login.title');
}

document.getElementById('demo-login').addEventListener('click', async () => {
  if (signedIn()) {
    try { localStorage.removeItem(USER_KEY); } catch (_) { /* ignore */ }
    renderUser();
    return;
  }
  try {
    await Promise.resolve(lingxi('identify', { ...DEMO_USER, name: t('demo.login.name') }));
    try { localStorage.setItem(USER_KEY, '1'); } catch (_) { /* ignore */ }
    renderUser();
    toast(t('demo.login.done', { name: t('demo.login.name') }), 'success', 1800);
  } catch (_) {
    toast(t('demo.login.failed'), 'error', 2400);
  }
});

renderUser();
