// Landing page: only the language switch.
import { initLang } from '/common.js';

initLang();
