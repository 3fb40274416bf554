"""Print the intent report of `rasa test nlu` and gate on macro-F1.

Usage: python scripts/nlu_report.py results/nlu/intent_report.json [--min-macro-f1 0.90]
Exits 1 when the macro-averaged F1 is below the minimum.
"""
import argparse
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("report")
parser.add_argument("--min-macro-f1", type=float, default=0.0)
args = parser.parse_args()
report = json.load(open(args.report, encoding="utf-8"))
AVERAGES = ("macro avg", "weighted avg", "micro avg")
rows = {k: v for k, v in report.items() if isinstance(v, dict) and "f1-score" in v and k not in AVERAGES}
for name, row in sorted(rows.items(), key=lambda kv: kv[1]["f1-score"]):
    print(f"  {name:20s} f1={row['f1-score']:.3f} support={row['support']}")
macro = report["macro avg"]["f1-score"]
print(f"intent macro-F1 on the held-out NLU test set: {macro:.3f} (minimum {args.min_macro_f1:.2f})")
sys.exit(0 if macro >= args.min_macro_f1 else 1)
