"""Sanity checks for the bot evaluation set: python3 examples/bot-eval/check.py"""
import csv, json, re, sys
from collections import Counter
from pathlib import Path

here = Path(__file__).resolve().parent
KINDS = {"suggest", "admit", "chitchat"} | {f"handoff:{k}" for k in ("requested", "low_confidence", "emotion", "vip", "rule")}
RULE_WORDS = ["投诉", "12315", "消协", "律师", "起诉", "曝光", "complaint", "lawyer", "sue"]
norm = lambda s: re.sub(r"[\W_]+", "", s.lower())

rows = list(csv.DictReader(open(here / "kb.csv", encoding="utf-8-sig")))
ids = {r["id"] for r in rows}
errors = [f"duplicate kb id {i}" for i, n in Counter(r["id"] for r in rows).items() if n > 1]
kb_questions = {}
for r in rows:
    sims = [q for q in r["similar_questions"].split("\n") if q.strip()]
    if not 3 <= len(sims) <= 8:
        errors.append(f"{r['id']}: {len(sims)} similar questions")
    for q in [r["standard_question"], *sims]:
        kb_questions[norm(q)] = r["id"]

kinds, turns, zh_turns, convs = Counter(), 0, 0, 0
seen = set()
for n, line in enumerate(open(here / "conversations.jsonl", encoding="utf-8"), 1):
    c = json.loads(line)
    convs += 1
    if c["id"] in seen:
        errors.append(f"duplicate conversation id {c['id']}")
    seen.add(c["id"])
    ts = c["turns"]
    if not 1 <= len(ts) <= 5:
        errors.append(f"{c['id']}: {len(ts)} turns")
    for k, t in enumerate(ts):
        e, text = t["expect"], t["visitor"]
        turns += 1
        zh_turns += bool(re.search(r"[\u4e00-\u9fff]", text))
        kind, _, ref = e.partition(":")
        kinds[e if kind == "handoff" else kind] += 1
        if e not in KINDS and not (kind in ("faq", "suggest") and ref):
            errors.append(f"{c['id']}: unknown expect {e}")
        if ref and kind in ("faq", "suggest") and ref not in ids:
            errors.append(f"{c['id']}: unknown kb id {ref}")
        if kind == "handoff" and k != len(ts) - 1:
            errors.append(f"{c['id']}: handoff before the last turn")
        if norm(text) in kb_questions:
            errors.append(f"{c['id']}: turn copies a kb question: {text}")
        has_rule = any(w in text.lower() for w in RULE_WORDS)
        if has_rule != (e == "handoff:rule") and e != "handoff:requested":
            errors.append(f"{c['id']}: rule keyword / handoff:rule mismatch: {text}")
    for a, b in zip(ts, ts[1:]):
        if a["expect"] == b["expect"] == "admit":
            errors.append(f"{c['id']}: two admits in a row (the second should be handoff:low_confidence)")
    if ("vip" in json.dumps(c.get("context", {}))) and not any(t["expect"] in ("handoff:vip", "handoff:requested") for t in ts):
        errors.append(f"{c['id']}: vip conversation without a handoff")

print(f"{len(rows)} kb entries, {convs} conversations, {turns} turns ({zh_turns} with Chinese)")
for k, v in sorted(kinds.items()):
    print(f"  {k:24} {v}")
print("\n".join(errors) or "ok")
sys.exit(bool(errors))
