"""Writes the master workbook from the schema and a :class:`BoardData`.

XlsxWriter is used because it writes tables, charts, data validation, conditional formats and
protection exactly as Excel does (its features are tested against files Excel wrote). Every
figure is a live formula generated from :mod:`lscb_xl.figures`, with its cached value filled
in from the same expression evaluated in Python, so the numbers are right in Excel, in
LibreOffice, in a previewer that never recalculates, and in Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from lscb_xl import __version__, figures, schema
from lscb_xl.model import BoardData, a1, col_letter, quote_sheet

#: Leading characters that make spreadsheet software treat text as a formula (OWASP).
RISKY_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n")
#: Rows below a table that carry its dropdowns and formats, so rows staff add are covered.
SPARE_ROWS = 500
DATE_FMT = "dd/mm/yyyy"
MONEY_FMT = "£#,##0.00"
COUNT_FMT = "0"
PERCENT_FMT = "0.0%"


class Styles:
    """The workbook's named formats, created once per workbook."""

    def __init__(self, wb: Workbook) -> None:
        base = {"font_name": "Arial", "font_size": 10, "valign": "top"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 16, "font_color": "#1F3864"})
        self.subtitle = wb.add_format({**base, "italic": True, "font_color": "#404040"})
        self.header = wb.add_format({**base, "bold": True, "text_wrap": True, "bg_color": "#1F3864",
                                     "font_color": "#FFFFFF", "border": 1})
        self.label = wb.add_format({**base, "bold": True})
        self.text = wb.add_format({**base, "text_wrap": True, "locked": False})
        self.text_quoted = wb.add_format({**base, "text_wrap": True, "locked": False, "quote_prefix": True})
        self.date = wb.add_format({**base, "num_format": DATE_FMT, "locked": False, "align": "left"})
        self.money = wb.add_format({**base, "num_format": MONEY_FMT, "locked": False})
        self.count = wb.add_format({**base, "num_format": COUNT_FMT, "locked": False})
        self.choice = wb.add_format({**base, "locked": False, "align": "center"})
        self.calc_count = wb.add_format({**base, "num_format": "#,##0", "bg_color": "#F2F2F2"})
        self.calc_money = wb.add_format({**base, "num_format": MONEY_FMT, "bg_color": "#F2F2F2"})
        self.calc_percent = wb.add_format({**base, "num_format": PERCENT_FMT, "bg_color": "#F2F2F2"})
        self.calc_number = wb.add_format({**base, "num_format": "#,##0.####", "bg_color": "#F2F2F2"})
        self.calc_text = wb.add_format({**base, "bg_color": "#F2F2F2", "text_wrap": True})
        self.wrap_locked = wb.add_format({**base, "text_wrap": True})
        self.rag_cells = {
            code: wb.add_format({**base, "bold": True, "align": "center", "bg_color": fill, "font_color": font,
                                 "border": 1})
            for code, _w, _m, fill, font in schema.RAG_RATINGS
        }
        # Conditional-format (dxf) formats: fill and font only.
        self.flag_error = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
        self.flag_warning = wb.add_format({"bg_color": "#FFEB9C", "font_color": "#5C4400"})
        self.rag_dxf = {code: wb.add_format({"bg_color": fill, "font_color": font, "bold": True})
                        for code, _w, _m, fill, font in schema.RAG_RATINGS}
        self.input_setting = wb.add_format({**base, "locked": False, "bg_color": "#FFF2CC", "border": 1})
        self.input_setting_date = wb.add_format({**base, "locked": False, "bg_color": "#FFF2CC", "border": 1,
                                                 "num_format": DATE_FMT, "align": "left"})
        self.published = wb.add_format({**base, "locked": False, "num_format": "#,##0.####",
                                        "bg_color": "#FFF2CC"})

    def for_column(self, col: schema.Column) -> Format:
        return {
            "date": self.date,
            "money": self.money,
            "int": self.count,
            "choice": self.choice,
        }.get(col.type, self.text)


def write_text(ws: Worksheet, row: int, col: int, value: str, styles: Styles, fmt: Format | None = None) -> None:
    """Write user text as text, never as a formula; risky text also gets Excel's quote prefix."""
    risky = value.startswith(RISKY_LEADS)
    ws.write_string(row, col, value, styles.text_quoted if risky else (fmt or styles.text))


def write_value(ws: Worksheet, row: int, col: int, column: schema.Column, value: Any, styles: Styles) -> None:
    """One input cell, typed by the schema (0-based row/col, as XlsxWriter counts)."""
    fmt = styles.for_column(column)
    if value is None or value == "":
        ws.write_blank(row, col, None, fmt)
    elif column.type == "date" and isinstance(value, dt.date):
        ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), fmt)
    elif column.type in ("int", "money") and isinstance(value, int | float) and not isinstance(value, bool):
        ws.write_number(row, col, value, fmt)
    else:
        write_text(ws, row, col, str(value), styles, fmt)


def _sheet_heading(ws: Worksheet, styles: Styles, title: str, help_text: str) -> None:
    ws.write_string(0, 0, title, styles.title)
    ws.write_string(1, 0, help_text, styles.subtitle)
    ws.set_row(0, 24)


def _print_setup(ws: Worksheet, header_row0: int | None) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    ws.set_footer("&L&A&RPage &P of &N")
    if header_row0 is not None:
        ws.repeat_rows(header_row0)


def _protect(ws: Worksheet) -> None:
    """Sheet protection without a password: a guard against slips, not a security measure."""
    ws.protect("", {"autofilter": True, "sort": True, "format_columns": True, "format_rows": True,
                    "insert_rows": True, "delete_rows": True})


def _dropdown(ws: Worksheet, first: int, last: int, col: int, column: schema.Column) -> None:
    assert column.choices
    lk = schema.LOOKUP_BY_NAME[column.choices]
    ws.data_validation(first, col, last, col, {
        "validate": "list",
        "source": f"={lk.list_name}",
        "input_title": column.header[:32],
        "input_message": (column.help or f"Pick from the {lk.name} list on the Lookups sheet.")[:255],
        "error_title": "Not in the list",
        "error_message": f"Choose a value from the list. The allowed values are in the {lk.name} table "
                         f"on the Lookups sheet."[:255],
        "error_type": "stop",
    })


def _number_rule(ws: Worksheet, first: int, last: int, col: int, column: schema.Column) -> None:
    """Whole non-negative counts and non-negative money, with a warning (staff may override)."""
    if column.type == "int":
        rule = {"validate": "integer", "criteria": ">=", "value": int(column.minimum or 0)}
    elif column.type == "money":
        rule = {"validate": "decimal", "criteria": ">=", "value": 0}
    elif column.type == "date":
        rule = {"validate": "date", "criteria": ">", "value": dt.date(1990, 1, 1)}
    else:
        return
    rule.update({
        "input_title": column.header[:32],
        "input_message": (column.help or {"int": "A whole number, 0 or more.", "money": "Pounds, 0 or more.",
                                          "date": "A date, day first: dd/mm/yyyy."}[column.type])[:255],
        "error_title": "Check this value",
        "error_message": {"int": "Enter a whole number, 0 or more.", "money": "Enter an amount in pounds, 0 or more.",
                          "date": "Enter a date, day first (dd/mm/yyyy)."}[column.type],
        "error_type": "warning",
    })
    ws.data_validation(first, col, last, col, rule)


def _rag_formats(ws: Worksheet, first: int, last: int, col: int, styles: Styles) -> None:
    for code, *_ in schema.RAG_RATINGS:
        ws.conditional_format(first, col, last, col, {
            "type": "cell", "criteria": "==", "value": f'"{code}"', "format": styles.rag_dxf[code],
        })


def row_height(table: schema.Table, rec: dict[str, Any]) -> float:
    """A row height that shows all wrapped text: applications other than Excel do not autofit
    rows on opening, so the height is estimated from the longest text per column width."""
    lines = 1
    for col in table.columns:
        value = rec.get(col.key)
        if col.type == "text" and isinstance(value, str) and value:
            per_line = max(col.width * 1.15, 1)
            lines = max(lines, sum(math.ceil(max(len(part), 1) / per_line) for part in value.split("\n")))
    return min(13.0 * lines + 2, 409)


def write_table(ws: Worksheet, table: schema.Table, rows: Sequence[dict[str, Any]], styles: Styles,
                computed: dict[str, list[Any]] | None = None) -> None:
    """An Excel table with typed cells, dropdowns, number rules and RAG colours.

    ``computed`` gives per-row (formula, cached value) pairs for formula columns that are not a
    single calculated-column formula (the Published sheet's computed figures).
    """
    r0, c0 = table.anchor_row - 1, table.anchor_col - 1
    n = max(len(rows), 1)
    last_row = r0 + n
    columns = []
    for col in table.columns:
        spec: dict[str, Any] = {"header": col.header, "header_format": styles.header}
        if col.formula:
            spec["formula"] = col.formula
        columns.append(spec)
    ws.add_table(r0, c0, last_row, c0 + len(table.columns) - 1, {
        "name": table.name, "columns": columns, "style": "Table Style Light 9", "autofilter": True,
    })
    for i, rec in enumerate(rows):
        for j, col in enumerate(table.columns):
            if col.formula is None:
                write_value(ws, r0 + 1 + i, c0 + j, col, rec.get(col.key), styles)
        ws.set_row(r0 + 1 + i, row_height(table, rec))
    if not rows:
        for j, col in enumerate(table.columns):
            if col.formula is None:
                ws.write_blank(r0 + 1, c0 + j, None, styles.for_column(col))
    spare = last_row + SPARE_ROWS
    for j, col in enumerate(table.columns):
        ws.set_column(c0 + j, c0 + j, col.width)
        if col.choices:
            _dropdown(ws, r0 + 1, spare, c0 + j, col)
        elif col.formula is None:
            _number_rule(ws, r0 + 1, spare, c0 + j, col)
        if col.choices == "RAG":
            _rag_formats(ws, r0 + 1, spare, c0 + j, styles)
    if table is not schema.PUBLISHED_TABLE:
        _finding_flags(ws, table, r0 + 1, c0, spare, styles)
    ws.freeze_panes(r0 + 1, 0)
    _print_setup(ws, r0)


def _finding_flags(ws: Worksheet, table: schema.Table, first: int, c0: int, last: int, styles: Styles) -> None:
    """Light up cells named on the Validation sheet (errors pink, warnings yellow).

    A live rule rather than fills: it follows the Validation sheet whoever rewrote it (the CLI,
    the ribbon, the server), clears itself when the problem is fixed, and costs Excel no
    per-cell writes.
    """
    v = quote_sheet(schema.VALIDATION)
    sheet = table.sheet.replace('"', '""')
    for severity, fmt in (("error", styles.flag_error), ("warning", styles.flag_warning)):
        criteria = (f'=COUNTIFS({v}!$A:$A,"{severity}",{v}!$B:$B,"{sheet}",'
                    f"{v}!$C:$C,ADDRESS(ROW(),COLUMN(),4))>0")
        ws.conditional_format(first, c0, last, c0 + len(table.columns) - 1,
                              {"type": "formula", "criteria": criteria, "format": fmt})


# --------------------------------------------------------------------------------------------
# Sheets
# --------------------------------------------------------------------------------------------


def _write_home(wb: Workbook, ws: Worksheet, data: BoardData, styles: Styles) -> None:
    _sheet_heading(ws, styles, f"{data.settings.get('BoardName') or 'Safeguarding children board'}: master workbook",
                   "Yellow cells are yours to edit. Grey cells are worked out by the workbook.")
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 44)
    ws.set_column(2, 2, 60)
    ws.write_string(3, 0, "Settings", styles.label)
    for i, (name, label, kind) in enumerate(schema.SETTINGS):
        row = 4 + i
        ws.write_string(row, 0, label, styles.label)
        value = data.settings.get(name)
        if name in ("LastRefreshed", "SnapshotChanges"):
            empty = "never" if name == "LastRefreshed" else "no snapshot taken yet"
            ws.write_string(row, 1, str(value or empty), styles.calc_text)
        elif kind == "date" and isinstance(value, dt.date):
            ws.write_datetime(row, 1, dt.datetime.combine(value, dt.time()), styles.input_setting_date)
        elif kind == "date":
            ws.write_blank(row, 1, None, styles.input_setting_date)
        else:
            ws.write_string(row, 1, str(value or ""), styles.input_setting)
        wb.define_name(name, f"={quote_sheet(schema.HOME)}!$B${row + 1}")
    top = 5 + len(schema.SETTINGS)
    ws.write_string(top, 0, "RAG ratings", styles.label)
    ws.write_string(top, 1, "Shown in cells as", styles.label)
    ws.write_string(top, 2, "Meaning", styles.label)
    for i, (code, word, meaning, _f, _c) in enumerate(schema.RAG_RATINGS):
        ws.write_string(top + 1 + i, 0, word, styles.wrap_locked)
        ws.write_string(top + 1 + i, 1, code, styles.rag_cells[code])
        ws.write_string(top + 1 + i, 2, meaning, styles.wrap_locked)
    how = top + 2 + len(schema.RAG_RATINGS)
    ws.write_string(how, 0, "How to use this workbook", styles.label)
    steps = (
        "Type records into the tables on Action Plan, Training, Finance, Early Help and Audits. "
        "Dropdowns offer the allowed values; the lists are on the Lookups sheet.",
        "Totals, sector percentages and the finance carry forward are live formulas: they stay right "
        "without any add-in. The Published sheet sets the figures printed in a report beside the same "
        "figures worked out from the records.",
        "With lscb-xl: Validate lists problems on the Validation sheet, each linked to its cell; "
        "Refresh recalculates and re-checks; Summary writes a Word-ready summary.",
        "RAG cells show their letter as well as their colour, so they read in black and white.",
        "Protected sheets have no password (Review > Unprotect Sheet) if you need to add a row there.",
    )
    for i, step in enumerate(steps):
        ws.write_string(how + 1 + i, 0, f"{i + 1}.", styles.wrap_locked)
        ws.merge_range(how + 1 + i, 1, how + 1 + i, 2, step, styles.wrap_locked)
        ws.set_row(how + 1 + i, 30)
    ws.write_string(how + 2 + len(steps), 0, f"Built by lscb-xl {__version__}", styles.subtitle)
    _protect(ws)
    _print_setup(ws, None)
    ws.set_portrait()


def _write_sector_summary(ws: Worksheet, data: BoardData, styles: Styles, wb: Workbook) -> None:
    _sheet_heading(ws, styles, "Training attendance by sector",
                   "Worked out from the Training table: attendees at events where sectors were recorded.")
    table = figures.sector_table(data.records(schema.TRAINING))
    ws.write_string(3, 0, "Sector", styles.header)
    ws.write_string(3, 1, "Attendees", styles.header)
    ws.write_string(3, 2, "Share of recorded attendance", styles.header)
    ws.write_string(3, 3, "Rounded % (adds to 100)", styles.header)
    ws.set_column(0, 0, 34)
    ws.set_column(1, 3, 16)
    ws.set_row(3, 30)
    first, last = 4, 4 + len(schema.SECTORS) - 1
    for i, row in enumerate(table):
        r = first + i
        ws.write_string(r, 0, row["sector"], styles.wrap_locked)
        ws.write_formula(r, 1, "=" + figures.to_excel(figures.sector_attendees(row["sector"])), styles.calc_count,
                         row["attendees"])
        ws.write_formula(r, 2, f'=IF($B${last + 2}=0,"",B{r + 1}/$B${last + 2})', styles.calc_percent, row["share"])
        ws.write_number(r, 3, row["percent"], styles.calc_count)
    ws.write_string(last + 1, 0, "Total recorded in sectors", styles.label)
    ws.write_formula(last + 1, 1, f"=SUM(B{first + 1}:B{last + 1})", styles.calc_count,
                     sum(r["attendees"] for r in table))
    ws.write_formula(last + 1, 2, f"=SUM(C{first + 1}:C{last + 1})", styles.calc_percent,
                     1.0 if any(r["attendees"] for r in table) else 0)
    ws.write_formula(last + 1, 3, f"=SUM(D{first + 1}:D{last + 1})", styles.calc_count,
                     sum(r["percent"] for r in table))
    records = data.tables
    extra = figures.TRAINING_TOTALS
    ev = figures.evaluator(records)
    for i, (label, expr) in enumerate(extra):
        r = last + 3 + i
        ws.write_string(r, 0, label, styles.label)
        ws.write_formula(r, 1, "=" + figures.to_excel(expr), styles.calc_count, ev(expr) or 0)
    note = last + 3 + len(extra) + 1
    ws.merge_range(note, 0, note, 3,
                   "Rounded % uses the largest-remainder method so the column adds up to exactly 100; "
                   "lscb-xl Refresh rewrites it. The share column is exact.", styles.subtitle)
    chart = wb.add_chart({"type": "bar"})
    chart.add_series({
        "name": "Share of recorded attendance",
        "categories": f"={quote_sheet(schema.SECTOR_SUMMARY)}!$A${first + 1}:$A${last + 1}",
        "values": f"={quote_sheet(schema.SECTOR_SUMMARY)}!$C${first + 1}:$C${last + 1}",
        "fill": {"color": "#1F3864"},
        "data_labels": {"value": True, "num_format": "0%"},
    })
    chart.set_title({"name": "Training attendance by sector (share of attendees recorded in sectors)",
                     "name_font": {"size": 11}})
    chart.set_x_axis({"num_format": "0%", "min": 0})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"none": True})
    chart.set_size({"width": 620, "height": 380})
    ws.insert_chart(3, 5, chart, {"description": "Bar chart: share of training attendees by sector, "
                                                 "from the table to its left."})
    _protect(ws)
    _print_setup(ws, 3)


def _write_finance_summary(ws: Worksheet, data: BoardData, styles: Styles) -> None:
    table = schema.FINANCE
    col = table.anchor_col + len(table.columns)  # 1-based column after the table, plus a gap
    c0 = col  # 0-based index of the column after the gap
    ws.write_string(table.anchor_row - 1, c0, "Figure", styles.header)
    ws.write_string(table.anchor_row - 1, c0 + 1, "Amount (£)", styles.header)
    ws.set_column(c0, c0, 30)
    ws.set_column(c0 + 1, c0 + 1, 14)
    for i, (label, expr) in enumerate(figures.FINANCE_LINES):
        r = table.anchor_row + i
        ws.write_string(r, c0, label, styles.label)
        ws.write_formula(r, c0 + 1, "=" + figures.to_excel(expr), styles.calc_money,
                         figures.evaluate(expr, data.tables) or 0)


def _write_published(ws: Worksheet, data: BoardData, styles: Styles) -> None:
    table = schema.PUBLISHED_TABLE
    rows = data.records(table)
    write_table(ws, table, rows, styles)
    r0, c0 = table.anchor_row, table.anchor_col - 1
    ev = figures.Evaluator(data.tables).prefetch(f.expr for f in figures.FIGURES)
    ci = table.keys.index("computed")
    di = table.keys.index("difference")
    pi = table.keys.index("published")
    for i, rec in enumerate(rows):
        fig = figures.FIGURE_BY_ID.get(str(rec.get("figure_id")))
        value = ev(fig.expr) if fig else None
        fmt = styles.calc_percent if rec.get("unit") == "percent" else (
            styles.calc_money if rec.get("unit") == "money" else styles.calc_number)
        formula = "=" + figures.to_excel(fig.expr) if fig else '=""'
        ws.write_formula(r0 + i, c0 + ci, formula, fmt, "" if value is None else value)
        pub = rec.get("published")
        pfmt = styles.published
        if isinstance(pub, int | float):
            ws.write_number(r0 + i, c0 + pi, pub, pfmt)
        else:
            ws.write_blank(r0 + i, c0 + pi, None, pfmt)
        diff = (pub - value) if isinstance(pub, int | float) and value is not None else ""
        ws.write_formula(r0 + i, c0 + di, table.column("difference").formula, styles.calc_number, diff)


def _write_lookups(wb: Workbook, ws: Worksheet, data: BoardData, styles: Styles) -> None:
    _sheet_heading(ws, styles, "Lookups", "The lists that feed the dropdowns. Add a row to a table to offer "
                                          "a new value.")
    col = 0
    for lk in schema.LOOKUPS:
        rows = data.lookups.get(lk.name, [])
        n = max(len(rows), 1)
        ws.add_table(3, col, 3 + n, col + len(lk.columns) - 1, {
            "name": lk.name, "style": "Table Style Light 1",
            "columns": [{"header": c.header, "header_format": styles.header} for c in lk.columns],
        })
        for i, rec in enumerate(rows):
            for j, c in enumerate(lk.columns):
                write_value(ws, 4 + i, col + j, c, rec.get(c.key), styles)
        for j, c in enumerate(lk.columns):
            ws.set_column(col + j, col + j, c.width)
        first_header = lk.columns[0].header
        wb.define_name(lk.list_name, f"={lk.name}[{first_header}]")
        col += len(lk.columns) + 1
    ws.freeze_panes(4, 0)
    _print_setup(ws, 3)


VALIDATION_HEADERS = ("Severity", "Sheet", "Cell", "Rule", "Message")
VALIDATION_FIRST_ROW = 5  # 1-based row of the first finding


def _write_validation(ws: Worksheet, styles: Styles) -> None:
    _sheet_heading(ws, styles, "Validation", "Filled by lscb-xl Validate / Refresh. Errors first; click a cell "
                                             "address to go to it.")
    for j, h in enumerate(VALIDATION_HEADERS):
        ws.write_string(VALIDATION_FIRST_ROW - 2, j, h, styles.header)
    for j, w in enumerate((10, 16, 10, 26, 100)):
        ws.set_column(j, j, w)
    ws.write_string(VALIDATION_FIRST_ROW - 1, 0, "Not yet checked: run lscb-xl validate or refresh.", styles.subtitle)
    ws.freeze_panes(VALIDATION_FIRST_ROW - 1, 0)
    _protect(ws)
    _print_setup(ws, VALIDATION_FIRST_ROW - 2)


def build_workbook(path: Path, data: BoardData) -> Path:
    """Write the master workbook for ``data`` to ``path`` (overwriting it) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({
        "title": f"{data.settings.get('BoardName') or 'Safeguarding board'} master workbook",
        "subject": "Safeguarding children board records",
        "author": "lscb-xl",
        "comments": "Built by lscb-xl; refresh with lscb-xl refresh.",
    })
    wb.set_custom_property(schema.MARKER_PROPERTY, schema.SCHEMA_VERSION)
    wb.set_calc_mode("auto")
    styles = Styles(wb)
    sheets = {name: wb.add_worksheet(name) for name in schema.SHEETS}
    _write_home(wb, sheets[schema.HOME], data, styles)
    helps = {
        schema.ACTION_PLAN.sheet: "One row per action. RAG: R Red, A Amber, G Green, B Blue (complete).",
        schema.TRAINING.sheet: "One row per event. Leave sector cells empty and set Sectors recorded to No "
                               "when attendance was not broken down.",
        schema.FINANCE.sheet: "Income and expenditure lines. Totals and carry forward are worked out on the right.",
        schema.EARLY_HELP.sheet: "Early help (CAF) counts by quarter. Leave a quarter empty when not recorded.",
        schema.AUDITS.sheet: "The audit group's schedule. Findings hold case detail and never leave in summaries.",
        schema.HISTORY_SHEET: "Written by lscb-xl snapshot: one row per action per snapshot. Do not edit.",
        schema.AUDIT_SHEET: "Written by lscb-xl returns merge: every change from a partner return.",
        schema.PUBLISHED: "Figures as printed in the report (yellow) beside the same figures worked out "
                          "from the records (grey).",
    }
    for table in (*schema.RECORD_TABLES, schema.PUBLISHED_TABLE, schema.HISTORY, schema.AUDIT_TRAIL):
        ws = sheets[table.sheet]
        _sheet_heading(ws, styles, table.sheet if table.sheet != schema.PUBLISHED else "Published figures",
                       helps[table.sheet])
        if table is schema.PUBLISHED_TABLE:
            _write_published(ws, data, styles)
        else:
            write_table(ws, table, data.records(table), styles)
        if table is schema.FINANCE:
            _write_finance_summary(ws, data, styles)
        if table is schema.EARLY_HELP:
            _fill_early_help_totals(ws, data, styles)
        if table.protected:
            _protect(ws)
    _write_sector_summary(sheets[schema.SECTOR_SUMMARY], data, styles, wb)
    _write_lookups(wb, sheets[schema.LOOKUP_SHEET], data, styles)
    _write_validation(sheets[schema.VALIDATION], styles)
    sheets[schema.HOME].activate()
    wb.close()
    return path


def _fill_early_help_totals(ws: Worksheet, data: BoardData, styles: Styles) -> None:
    """Cached values for the calculated Total column (XlsxWriter would cache 0)."""
    table = schema.EARLY_HELP
    j = table.keys.index("total")
    for i, rec in enumerate(data.records(table)):
        total = figures.early_help_row_total(rec)
        ws.write_formula(table.anchor_row + i, table.anchor_col - 1 + j, table.column("total").formula,
                         styles.calc_count, total)


def cell_of_setting(name: str) -> str:
    """A1 address of a Home-sheet setting value (column B)."""
    index = [s[0] for s in schema.SETTINGS].index(name)
    return a1(5 + index, 2)


__all__ = ["build_workbook", "cell_of_setting", "col_letter", "write_text"]
