// Demo shop page: language switch and a pretend cart. The chat widget is loaded separately by /widget.js.
import { initLang, onLangChange, t, toast } from '/common.js';

initLang();

// keep the widget's language in step with the page when the visitor switches here
onLangChange((l) => { if (window.__lingxiWidget) window.__lingxiWidget.setLanguage(l); });

document.getElementById('shop-search').addEventListener('submit', (e) => e.preventDefault());

let n = 0;
for (const btn of document.querySelectorAll('.product .add')) {
  btn.addEventListener('click', () => {
    n++;
    document.getElementById('cart-n').textContent = String(n);
    toast(t('demo.added'), 'success', 1600);
  });
}
for (const a of document.querySelectorAll('a[href="#"]')) a.addEventListener('click', (e) => e.preventDefault());
