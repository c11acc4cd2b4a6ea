"""Writes kb.xlsx (first sheet) from kb.csv. Needs openpyxl: pip install openpyxl."""
import csv
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

here = Path(__file__).resolve().parent
with open(here / "kb.csv", newline="", encoding="utf-8-sig") as f:
    rows = list(csv.reader(f))

wb = Workbook()
ws = wb.active
ws.title = "kb"
for row in rows:
    ws.append(row)
for cell in ws[1]:
    cell.font = Font(bold=True)
for col, width in zip("ABCDEF", (24, 36, 40, 60, 20, 16)):
    ws.column_dimensions[col].width = width
for row in ws.iter_rows(min_row=2):
    for cell in row:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
ws.freeze_panes = "A2"
wb.save(here / "kb.xlsx")
print(f"wrote {here / 'kb.xlsx'}: {len(rows) - 1} entries")
