"""The single source of truth for the master workbook's shape.

Every other module (the seed loader, the workbook builder, the readers, the validation rules,
the summaries) asks this module which sheets, Excel tables, columns, types and allowed values
exist. Nothing else spells a sheet or column name out by hand, so a rename happens here once.

Records travel through the program as plain ``dict``s keyed by :attr:`Column.key`; the seed
CSV files use the same keys as their header row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

ColType = Literal["text", "int", "money", "date", "choice", "formula"]

#: Written into the workbook's custom properties; ``refresh`` refuses workbooks without it.
MARKER_PROPERTY = "lscb-xl-schema"
SCHEMA_VERSION = "1"

# --------------------------------------------------------------------------------------------
# Fixed vocabularies (the things the product itself reasons about)
# --------------------------------------------------------------------------------------------

#: RAG ratings: code, word, meaning, fill colour, font colour. "B" (Blue) means complete; the
#: seed's own key has only Red/Amber/Green. Colours pass WCAG AA contrast with their font.
RAG_RATINGS: tuple[tuple[str, str, str, str, str], ...] = (
    ("R", "Red", "Progress not on track – remedial action required", "#C00000", "#FFFFFF"),
    ("A", "Amber", "Progress will need monitoring to ensure it remains on track", "#FFC000", "#000000"),
    ("G", "Green", "Progress on track no additional action", "#00B050", "#000000"),
    ("B", "Blue", "Complete – action finished and evidenced", "#0070C0", "#FFFFFF"),
)
RAG_CODES = tuple(r[0] for r in RAG_RATINGS)
RAG_WORDS = {r[0]: r[1] for r in RAG_RATINGS}
#: Ratings ordered from worst to best, used to say whether a rating "moved up" or "down".
RAG_ORDER = {"R": 0, "A": 1, "G": 2, "B": 3}

#: Attendance sectors in the order the annual report's training table prints them.
SECTORS: tuple[str, ...] = (
    "Other",
    "Children's Social Care",
    "Private Voluntary & Faith Sector",
    "Youth",
    "Health",
    "Education",
    "Early Years",
    "Police",
    "Foster Carers",
    "Adult Social Care",
)

FINANCE_KINDS = ("Balance brought forward", "Contribution", "Expenditure")
EARLY_HELP_MEASURES = ("Referral source", "Cluster", "De-escalated", "Ethnicity", "Closure reason")
AUDIT_STATUSES = ("Completed", "Partly completed", "Deferred", "Not completed", "Noted")
YES_NO = ("Yes", "No")
QUARTERS = ("Q1", "Q2", "Q3", "Q4")


def sector_key(sector: str) -> str:
    """The record key of a sector column, e.g. ``"Children's Social Care"`` -> ``sec_childrens_social_care``."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in sector.lower().replace("'", ""))
    return "sec_" + "_".join(part for part in slug.split("_") if part)


# --------------------------------------------------------------------------------------------
# Columns and tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of an Excel table.

    ``choices`` names a lookup list (see :data:`LISTS`) that feeds the dropdown. ``formula``
    marks a column the workbook computes (an Excel calculated column); such cells are locked.
    ``restricted`` marks case detail that must never leave the building in a summary or email.
    """

    key: str
    header: str
    type: ColType = "text"
    required: bool = False
    choices: str | None = None
    formula: str | None = None
    restricted: bool = False
    width: float = 14
    help: str = ""
    minimum: float | None = None

    @property
    def computed(self) -> bool:
        return self.formula is not None

    @property
    def editable(self) -> bool:
        return self.formula is None


@dataclass(frozen=True)
class Table:
    """An Excel table (ListObject) on a sheet, and the seed file its demo rows come from."""

    name: str
    sheet: str
    columns: tuple[Column, ...]
    seed: str
    anchor_row: int = 4  # 1-based row of the header; rows above hold the sheet's title and help
    anchor_col: int = 1  # 1-based column of the first header cell
    key: tuple[str, ...] = ()  # columns that together identify a record (duplicate check)
    protected: bool = False  # sheet protection on (its computed cells locked)
    description: str = ""

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(f"{self.name} has no column {key!r}")

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)

    @property
    def input_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.editable)


def _text(key: str, header: str, width: float = 30, **kw: object) -> Column:
    return Column(key, header, "text", width=width, **kw)  # type: ignore[arg-type]


def _count(key: str, header: str, **kw: object) -> Column:
    return Column(key, header, "int", width=kw.pop("width", 11), minimum=0, **kw)  # type: ignore[arg-type]


ACTION_PLAN = Table(
    name="ActionPlan",
    sheet="Action Plan",
    seed="action_plan.csv",
    key=("question", "agency", "action"),
    description="The case review's findings, each agency's response and actions, RAG-rated.",
    columns=(
        _text("ref", "Ref", 9, required=True, help="Unique reference: question and action number, e.g. 1a-2."),
        Column(
            "finding",
            "Finding",
            "int",
            required=True,
            width=9,
            minimum=1,
            help="Finding number (1-7; 8-9 additional learning).",
        ),
        _text("question", "Question", 10, required=True, help="Question reference, e.g. 1a."),
        _text("question_text", "Question to the board", 40),
        Column(
            "agency",
            "Agency",
            "choice",
            required=True,
            choices="Agencies",
            width=24,
            help="Pick the responding agency.",
        ),
        _text("response", "Response", 45),
        _text("action", "Action", 45),
        Column("rag", "RAG", "choice", choices="RAG", width=7, help="R Red, A Amber, G Green, B Blue (complete)."),
        _text("constraints", "Constraints / problems", 30),
        _text("target", "Target date / evidence", 40, help="Free text, e.g. Jun-15, March '15 and ongoing, Completed."),
        _text("lead", "Lead person", 16, help="Initials from Lookups, several separated by /."),
        _text("outcome", "Desired outcome", 40),
    ),
)

TRAINING = Table(
    name="Training",
    sheet="Training",
    seed="training.csv",
    key=("event", "date", "date_note"),
    description="Multi-agency training events and attendance by sector.",
    columns=(
        _text("event", "Event", 36, required=True),
        Column("date", "Date", "date", width=12, help="Day-first date, e.g. 07/07/2011."),
        _text("date_note", "Date as printed", 16, help="For events over several days, e.g. Aug - Sept 2011."),
        _count("sessions", "Sessions", required=True, help="How many sessions this row covers."),
        _count("total", "Total attended", required=True, width=12),
        Column(
            "sectors_recorded",
            "Sectors recorded",
            "choice",
            required=True,
            choices="YesNo",
            width=11,
            help="No when attendance was not broken down by sector.",
        ),
        *(_count(sector_key(s), s, width=12) for s in SECTORS),
    ),
)

FINANCE = Table(
    name="Finance",
    sheet="Finance",
    seed="finance.csv",
    key=("kind", "item"),
    protected=True,
    description="Income (balance brought forward, partner contributions) and expenditure lines.",
    columns=(
        Column("kind", "Kind", "choice", required=True, choices="FinanceKinds", width=24),
        _text("item", "Item", 34, required=True),
        Column("amount", "Amount (£)", "money", required=True, width=14, minimum=0),
        _text("note", "Note", 30),
    ),
)

EARLY_HELP = Table(
    name="EarlyHelp",
    sheet="Early Help",
    seed="early_help.csv",
    key=("measure", "category"),
    protected=True,
    description="Early help (CAF) activity by quarter. A blank quarter means not recorded.",
    columns=(
        Column("measure", "Measure", "choice", required=True, choices="Measures", width=18),
        _text("category", "Category", 36, required=True),
        *(_count(q.lower(), q, width=8) for q in QUARTERS),
        Column("total", "Total", "formula", formula="=SUM(EarlyHelp[[#This Row],[Q1]:[Q4]])", width=9),
    ),
)

AUDITS = Table(
    name="Audits",
    sheet="Audits",
    seed="audits.csv",
    key=("meeting", "task"),
    description="The audit group's schedule: each meeting's tasks, findings and progress.",
    columns=(
        Column("meeting", "Meeting", "int", required=True, width=9, minimum=1),
        Column("date", "Date", "date", required=True, width=12),
        _text("task", "Area for review / task", 45, required=True),
        _text("findings", "Findings", 50, restricted=True, help="Case detail: never copied into summaries."),
        _text("progress", "Date discussed and progress", 28),
        Column("status", "Status", "choice", required=True, choices="AuditStatuses", width=15),
    ),
)

RECORD_TABLES: tuple[Table, ...] = (ACTION_PLAN, TRAINING, FINANCE, EARLY_HELP, AUDITS)

HISTORY = Table(
    name="History",
    sheet="History",
    seed="history.csv",
    key=("snapshot", "ref"),
    protected=True,
    description="Append-only: each snapshot records every action's rating, target and deadline as at a date.",
    columns=(
        Column("snapshot", "Snapshot as at", "date", required=True, width=12),
        _text("taken", "Taken", 18, required=True),
        _text("ref", "Ref", 9, required=True),
        _text("agency", "Agency", 24),
        _text("lead", "Lead person", 16),
        _text("rag", "RAG", 7),
        _text("target", "Target date / evidence", 40),
        Column("deadline", "Deadline read", "date", width=12),
        _text("overdue", "Overdue", 9),
    ),
)

AUDIT_TRAIL = Table(
    name="AuditTrail",
    sheet="Audit trail",
    seed="audit_trail.csv",
    protected=True,
    description="Every change merged from a partner return: who, which return, when, old and new value.",
    columns=(
        _text("when", "When", 18, required=True),
        _text("source", "From (return file / agency)", 36, required=True),
        _text("ref", "Ref", 9, required=True),
        _text("field", "Field", 22, required=True),
        _text("old", "Old value", 40),
        _text("new", "New value", 40),
    ),
)

# Lookup tables all live on the Lookups sheet, side by side, header on row 4.
LOOKUP_SHEET = "Lookups"


@dataclass(frozen=True)
class Lookup:
    """A lookup table on the Lookups sheet; its first column feeds a dropdown list."""

    name: str
    columns: tuple[Column, ...]
    seed: str | None = None  # CSV in the seed folder, or None for a fixed list from this module
    fixed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def list_name(self) -> str:
        """The defined name dropdowns use; it refers to the table column so it grows with it."""
        return f"list_{self.name}"


LOOKUPS: tuple[Lookup, ...] = (
    Lookup("RAG", (_text("code", "Code", 7), _text("rating", "Rating", 9), _text("meaning", "Meaning", 50))),
    Lookup("Agencies", (_text("agency", "Agency", 44), _text("board_member", "Board member", 12)), seed="agencies.csv"),
    Lookup(
        "LeadPersons",
        (
            _text("initials", "Lead (initials or group)", 22),
            _text("note", "Note", 30),
            _text("email", "Email (for reminders)", 30),
        ),
        seed="lead_persons.csv",
    ),
    Lookup("Sectors", (_text("sector", "Sector", 32),), fixed=SECTORS),
    Lookup("FinanceKinds", (_text("kind", "Finance kind", 24),), fixed=FINANCE_KINDS),
    Lookup("Measures", (_text("measure", "Early help measure", 20),), fixed=EARLY_HELP_MEASURES),
    Lookup("AuditStatuses", (_text("status", "Audit status", 16),), fixed=AUDIT_STATUSES),
    Lookup("YesNo", (_text("value", "Yes/No", 8),), fixed=YES_NO),
    Lookup(
        "Findings", (Column("finding", "Finding", "int", width=8), _text("title", "Title", 60)), seed="findings.csv"
    ),
    Lookup("SubGroups", (_text("group", "Board and sub-groups", 36), _text("role", "Role", 50)), seed="subgroups.csv"),
)
LOOKUP_BY_NAME = {lk.name: lk for lk in LOOKUPS}

# --------------------------------------------------------------------------------------------
# Sheets
# --------------------------------------------------------------------------------------------

HOME = "Home"
SECTOR_SUMMARY = "Sector summary"
PUBLISHED = "Published"
VALIDATION = "Validation"
HISTORY_SHEET = "History"
AUDIT_SHEET = "Audit trail"

#: Sheet order in the workbook.
SHEETS: tuple[str, ...] = (
    HOME,
    ACTION_PLAN.sheet,
    TRAINING.sheet,
    SECTOR_SUMMARY,
    FINANCE.sheet,
    EARLY_HELP.sheet,
    AUDITS.sheet,
    PUBLISHED,
    LOOKUP_SHEET,
    HISTORY_SHEET,
    AUDIT_SHEET,
    VALIDATION,
)

#: Home-sheet settings: defined name, label, type. Values come from ``board.csv``.
SETTINGS: tuple[tuple[str, str, ColType], ...] = (
    ("BoardName", "Board", "text"),
    ("PeriodStart", "Reporting period starts", "date"),
    ("PeriodEnd", "Reporting period ends", "date"),
    ("AsAt", "Action plan reported as at", "date"),
    ("LastRefreshed", "Last refreshed by lscb-xl", "text"),
    ("SnapshotChanges", "Since the previous snapshot", "text"),
)

# Published figures register (sheet "Published"): one table, figures as printed in the report.
PUBLISHED_TABLE = Table(
    name="PublishedFigures",
    sheet=PUBLISHED,
    seed="published.csv",
    key=("figure_id",),
    protected=True,
    description="Figures the board's report states, beside the same figure computed from the records.",
    columns=(
        _text("figure_id", "Figure ID", 22, required=True),
        _text("area", "Area", 14, required=True),
        _text("label", "Figure", 50, required=True),
        Column("published", "Published", "money", width=13),
        _text("unit", "Unit", 8, required=True),
        Column("decimals", "Decimals printed", "int", width=10, minimum=0),
        Column("computed", "Computed from records", "formula", formula="", width=14),
        Column(
            "difference",
            "Difference",
            "formula",
            formula=(
                "=IF(ISNUMBER(PublishedFigures[[#This Row],[Computed from records]]),"
                'PublishedFigures[[#This Row],[Published]]-PublishedFigures[[#This Row],[Computed from records]],"")'
            ),
            width=12,
        ),
        _text("source", "Where printed", 30),
    ),
)
UNITS = ("count", "money", "percent")

ALL_TABLES: tuple[Table, ...] = (*RECORD_TABLES, PUBLISHED_TABLE, HISTORY, AUDIT_TRAIL)
TABLE_BY_NAME = {t.name: t for t in ALL_TABLES}
