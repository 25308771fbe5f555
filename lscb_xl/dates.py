"""Reading the dates that a safeguarding children board's staff type into the workbook.

Board papers are written in the UK, so every all-number date is read **day first**: "8/6/12" is
8 June 2012 and is never turned into 6 August.  A workbook that guessed month-first would move
review deadlines by months without anyone noticing, so text that cannot be read day-first gives
no date at all rather than a guess.

Action-plan "Target Date/Evidence" cells are free text ("March '15 and ongoing", "Nov 14 & Audit
March 15", "summer term 2015", "Completed - ...").  :func:`parse_target` turns one cell into a
:class:`Target` that says what kind of target it is, its deadline, and - in plain English - how
the text was read, so that a person checking an overdue flag can see why it was raised.

Everything here is pure: no I/O, no clock (pass ``as_at``), standard library only.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Literal

__all__ = [
    "Target",
    "TargetKind",
    "in_period",
    "is_overdue",
    "parse_target",
    "parse_uk_date",
]

TargetKind = Literal["date", "period", "ongoing", "completed", "unknown"]

#: Earliest year a target or date can plausibly carry (the board's records start after 2000).
MIN_YEAR = 2000
#: Latest year accepted when no ``as_at`` date is given.
MAX_YEAR_WITHOUT_AS_AT = 2100
#: How many years after ``as_at`` a target may still plausibly fall.
MAX_YEARS_AHEAD = 10

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Full names, three-letter abbreviations and "Sept".  The negative look-ahead (rather than \b)
# lets "Mar15" match while still refusing "Market" or "Decision".
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])"
)
_APOS = "'’‘`"
_ORDINAL = r"(?:st|nd|rd|th)"
_WEEKDAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday|rsday)?\.?,?\s+"

_TAG_RE = re.compile(r"<[^>]{0,40}>")
_SPACE_RE = re.compile(r"[ \t\u00a0\u2009\u202f]+")


def _month_number(name: str) -> int:
    """Month number for any accepted spelling of a month ("Sept", "jun", "December")."""
    return [m.lower()[:3] for m in MONTH_NAMES].index(name.lower()[:3]) + 1


def _clean(text: str) -> str:
    """Drop HTML tags (Word exports write "12<sup>th</sup>") and entities, and squash spaces."""
    text = _TAG_RE.sub("", text).replace("&nbsp;", " ").replace("&amp;", "&")
    return _SPACE_RE.sub(" ", text).strip()


def _year(digits: str) -> int:
    """Two-digit years belong to this century ("15" -> 2015); others are taken as written."""
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


def _safe_date(year: int, month: int, day: int) -> date | None:
    """``date(...)`` that answers None for 31 February and the like instead of raising."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _last_day(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])


# --------------------------------------------------------------------------------------------
# Single dates
# --------------------------------------------------------------------------------------------

_ISO_FULL = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
# The same separator on both sides: "8/6/12", "23.02.15", "8-6-2012".
_NUMERIC_FULL = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})")
_DAY_MONTH_FULL = re.compile(
    rf"(?:{_WEEKDAY})?(\d{{1,2}})\s*{_ORDINAL}?[\s.-]*(?:of\s+)?({_MONTH})\.?,?[\s.-]*[{_APOS}]?(\d{{4}}|\d{{2}})",
    re.IGNORECASE,
)
# "December 2nd, 2011": not month-first guessing, because the month is spelt out.
_MONTH_DAY_FULL = re.compile(
    rf"(?:{_WEEKDAY})?({_MONTH})\.?\s+(\d{{1,2}})\s*{_ORDINAL}?,?\s+(\d{{4}})",
    re.IGNORECASE,
)


def parse_uk_date(value: object) -> date | None:
    """Read one date the way a UK member of staff means it, or answer None.

    Accepts ``date``/``datetime`` values (Excel cells arrive as datetimes), ISO text
    ("2011-07-07"), all-number day-first text ("8/6/12", "08/06/2012", "8.6.12", "8-6-2012") and
    spelt-out months ("14th Dec 2011", "2 December 2011", "12 <sup>th</sup> April 2011").
    Two-digit years are 2000 + yy.

    Anything that is not exactly one real date - a month ("Jun-15"), two dates, 31/2/2015, or a
    month-first date such as 12/31/2015 - gives None.  Month-first is never tried, because a
    wrong guess silently moves a deadline.  Never raises.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = _clean(value)
    # Strip ordinal suffixes only where they follow a day number ("14th", "12 th").
    text = re.sub(rf"(?<=\d)\s*{_ORDINAL}\b", "", text, flags=re.IGNORECASE).strip(" ,.")
    if m := _ISO_FULL.fullmatch(text):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC_FULL.fullmatch(text):
        return _safe_date(_year(m[4]), int(m[3]), int(m[1]))
    if m := _DAY_MONTH_FULL.fullmatch(text):
        return _safe_date(_year(m[3]), _month_number(m[2]), int(m[1]))
    if m := _MONTH_DAY_FULL.fullmatch(text):
        return _safe_date(int(m[3]), _month_number(m[1]), int(m[2]))
    return None


def in_period(d: date, start: date, end: date) -> bool:
    """True when ``d`` falls in the period, counting both the first and the last day.

    Both ends count because a board period "1 April to 31 March" includes 31 March; a period whose
    start is after its end contains nothing.
    """
    return start <= d <= end


# --------------------------------------------------------------------------------------------
# Action-plan targets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """How one action-plan target/evidence cell was read.

    ``kind`` is "date" (one day), "period" (a month, a term, a financial year, or several dates),
    "ongoing" (no deadline, continuing work), "completed" (done or "in place") or "unknown"
    (blank, no date, or a date that cannot be trusted).  ``end`` is the deadline: the last day of
    the latest period mentioned.  ``ongoing`` records that the text also says the work continues.
    ``note`` explains the reading in plain English so a reviewer can check it.
    """

    text: str
    kind: TargetKind
    start: date | None
    end: date | None
    ongoing: bool
    note: str


@dataclass(frozen=True)
class _Mention:
    """One date-like phrase found in a cell, as the period it stands for."""

    pos: int
    start: date
    end: date
    label: str


_ISO_IN_TEXT = re.compile(r"(?<![\d./-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d])")
_NUMERIC_IN_TEXT = re.compile(r"(?<![\d./-])(\d{1,2})([./-])(\d{1,2})\2(\d{2,4})(?![\d]|[./-]\d)")
_DAY_MONTH_IN_TEXT = re.compile(
    rf"(?<![\d.:/])(\d{{1,2}})\s*{_ORDINAL}?[\s.-]*(?:of\s+)?({_MONTH})\.?[\s.,-]{{0,2}}[{_APOS}]?\s?(\d{{4}}|\d{{2}})"
    rf"(?![\d:%])",
    re.IGNORECASE,
)
_TERM_IN_TEXT = re.compile(
    rf"\b(autumn|spring|summer)\s+term(?:\s+of)?[\s,]*[{_APOS}]?(\d{{1,4}})[{_APOS}]?(?![\d:%])"
    rf"|(?<![\d/])(\d{{4}})\s+(autumn|spring|summer)\s+term\b",
    re.IGNORECASE,
)
_TERM_WITHOUT_YEAR = re.compile(r"\b(autumn|spring|summer)\s+term\b", re.IGNORECASE)
_FINANCIAL_YEAR_IN_TEXT = re.compile(r"(?<![\d./-])(\d{4})\s?[/-]\s?(\d{4}|\d{2})(?![\d]|[./-]\d)")
# An optional leading month shares the year of the next one: "Feb & March '15".
_MONTH_YEAR_IN_TEXT = re.compile(
    rf"(?:\b({_MONTH})\.?\s*(?:&|and|to|-|–|/)\s*)?\b({_MONTH})\.?"
    rf"[\s.{_APOS}/-]{{0,3}}(?<!\d)(\d{{2,4}})(?![\d:%])(?!\s*{_ORDINAL}\b)",
    re.IGNORECASE,
)
_NUMERIC_MONTH_YEAR_IN_TEXT = re.compile(r"(?<![\d./-])(\d{1,2})[./-](\d{4})(?![\d]|[./-]\d)")
# A bare year only counts after a word that makes it a target ("by 2016"), and only when nothing
# more precise is written: "Children Act 2004" is legislation, not a deadline.
_CUE_YEAR_IN_TEXT = re.compile(
    r"\b(?:by|in|during|before|until|till|end\s+of)\s+(?:the\s+end\s+of\s+)?(\d{4})(?![\d/])",
    re.IGNORECASE,
)

_ONGOING_RE = re.compile(r"\bon[\s-]?going\b|\bonwards\b", re.IGNORECASE)
_COMPLETION_RE = re.compile(r"\b(?:completed?|in\s+place|done|achieved|finished)\b", re.IGNORECASE)
_LEADING_COMPLETION_RE = re.compile(r"^\W*(?:completed?|in\s+place|done|achieved|finished)\b", re.IGNORECASE)
# Words in the three before a completion word that make it future or negative ("to be completed").
_COMPLETION_GUARD = {"to", "will", "be", "being", "not", "yet", "once", "when", "until", "if", "awaiting"}
# Phrases that show a cell with dates is still looking forward, so it is not yet completed.
_FUTURE_RE = re.compile(
    r"\b(?:to\s+be|will|by|planned|target|on\s+track|due|booked|scheduled|proposed|for|further|next)\b",
    re.IGNORECASE,
)
_TBC_RE = re.compile(r"\b(?:tbc|tba|tbd|to\s+be\s+(?:confirmed|agreed|arranged))\b", re.IGNORECASE)
_NOT_APPLICABLE_RE = re.compile(r"^\W*(?:n/?a|not\s+applicable)\W*$", re.IGNORECASE)

# Terms as the board reads them; real term dates vary by school, so these are generous.
_TERMS = {"spring": ((1, 1), (3, 31)), "summer": ((4, 1), (7, 31)), "autumn": ((9, 1), (12, 31))}


class _Reader:
    """Collects the date phrases of one cell, masking each so it is not read twice."""

    def __init__(self, text: str, as_at: date | None) -> None:
        self.work = text
        self.as_at = as_at
        self.mentions: list[_Mention] = []
        self.problems: list[str] = []

    def plausible(self, year: int) -> bool:
        """Years before 2000 or far beyond ``as_at`` are typos, not deadlines."""
        latest = self.as_at.year + MAX_YEARS_AHEAD if self.as_at else MAX_YEAR_WITHOUT_AS_AT
        return MIN_YEAR <= year <= latest

    def implausible(self, year: int | str, phrase: str) -> None:
        self.problems.append(f"implausible year {year} in '{phrase.strip()}'")

    def mask(self, m: re.Match[str]) -> None:
        self.work = self.work[: m.start()] + "\0" * (m.end() - m.start()) + self.work[m.end() :]

    def add(self, pos: int, start: date, end: date, label: str) -> None:
        self.mentions.append(_Mention(pos, start, end, label))

    def add_day(self, m: re.Match[str], year: int, month: int, day: int) -> None:
        if not self.plausible(year):
            self.implausible(year, m[0])
        elif (d := _safe_date(year, month, day)) is None:
            self.problems.append(f"'{m[0].strip()}' is not a real day-first date")
        else:
            self.add(m.start(), d, d, f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}")

    def add_month(self, pos: int, phrase: str, year: int, month: int) -> None:
        if not self.plausible(year):
            self.implausible(year, phrase)
        else:
            self.add(pos, date(year, month, 1), _last_day(year, month), f"{MONTH_NAMES[month - 1]} {year}")

    def read(self) -> None:
        for m in list(_ISO_IN_TEXT.finditer(self.work)):
            self.add_day(m, int(m[1]), int(m[2]), int(m[3]))
            self.mask(m)
        for m in list(_NUMERIC_IN_TEXT.finditer(self.work)):
            digits = m[4]
            if len(digits) == 3:  # "30.1.205": a typo, and maybe the real deadline
                self.implausible(digits, m[0])
            else:
                self.add_day(m, _year(digits), int(m[3]), int(m[1]))
            self.mask(m)
        for m in list(_DAY_MONTH_IN_TEXT.finditer(self.work)):
            # "Dec 14 March 15" is two months, not 14 March 2015.
            if re.search(rf"\b{_MONTH}\.?[\s.{_APOS}-]{{0,3}}$", self.work[: m.start()], re.IGNORECASE):
                continue
            self.add_day(m, _year(m[3]), _month_number(m[2]), int(m[1]))
            self.mask(m)
        self.read_terms()
        for m in list(_FINANCIAL_YEAR_IN_TEXT.finditer(self.work)):
            first = int(m[1])
            second = int(m[2]) if len(m[2]) == 4 else first // 100 * 100 + int(m[2])
            if second != first + 1:
                continue  # "2014-2016" or a reference number, not one financial year
            if not self.plausible(first) or not self.plausible(second):
                self.implausible(first, m[0])
            else:
                self.add(
                    m.start(),
                    date(first, 4, 1),
                    date(second, 3, 31),
                    f"financial year {first}/{second % 100:02d} (1 April {first} to 31 March {second})",
                )
            self.mask(m)
        for m in list(_MONTH_YEAR_IN_TEXT.finditer(self.work)):
            digits = m[3]
            year: int | str = _year(digits) if len(digits) in (2, 4) else digits
            if isinstance(year, str):
                self.implausible(year, m[0])
            else:
                if m[1]:
                    self.add_month(m.start(1), m[0], year, _month_number(m[1]))
                self.add_month(m.start(2), m[0], year, _month_number(m[2]))
            self.mask(m)
        for m in list(_NUMERIC_MONTH_YEAR_IN_TEXT.finditer(self.work)):
            if 1 <= int(m[1]) <= 12:
                self.add_month(m.start(), m[0], int(m[2]), int(m[1]))
                self.mask(m)
        if not self.mentions and not self.problems:
            for m in _CUE_YEAR_IN_TEXT.finditer(self.work):
                year = int(m[1])
                if self.plausible(year):  # "in 1989" is history, not a typo'd deadline
                    self.add(m.start(1), date(year, 1, 1), date(year, 12, 31), f"the year {year}")

    def read_terms(self) -> None:
        for m in list(_TERM_IN_TEXT.finditer(self.work)):
            season = (m[1] or m[4]).lower()
            digits = m[2] or m[3]
            if len(digits) not in (2, 4):
                self.implausible(digits, m[0])
                self.mask(m)
                continue
            year = _year(digits)
            if not self.plausible(year):
                self.implausible(year, m[0])
            else:
                (sm, sd), (em, ed) = _TERMS[season]
                start, end = date(year, sm, sd), date(year, em, ed)
                self.add(
                    m.start(),
                    start,
                    end,
                    f"{season} term {year} (taken as {start.day} {MONTH_NAMES[sm - 1]}"
                    f" to {end.day} {MONTH_NAMES[em - 1]})",
                )
            self.mask(m)


def _says_completed(text: str) -> bool:
    """True when some completion phrase ("completed", "in place") is not future or negated."""
    for m in _COMPLETION_RE.finditer(text):
        before = re.findall(r"[a-z]+", text[: m.start()].lower())[-3:]
        if not _COMPLETION_GUARD.intersection(before):
            return True
    return False


def _completion_word(text: str) -> str:
    """Name the completion word in the note: "in place" is only counted as completed."""
    m = _COMPLETION_RE.search(text)
    return "in place (counted as completed)" if m and "place" in m[0].lower() else "completed"


@lru_cache(maxsize=8192)  # pure, and action plans repeat targets ("Ongoing", "Completed"): read each once
def parse_target(text: str | None, as_at: date | None = None) -> Target:
    """Read a free-text action-plan target/evidence cell; never raises.

    The deadline (``end``) is the end of the *latest* date mentioned, because a cell such as "Nov
    14 & Audit March 15" is only finished when its last step is; ``start`` is the start of the
    earliest.  Months are whole months ("Jun-15" ends 30 June 2015), terms are spring 1 Jan-31 Mar,
    summer 1 Apr-31 Jul and autumn 1 Sep-31 Dec, and "2015/16" is the financial year 1 April 2015
    to 31 March 2016.

    A year before 2000, or more than ten years after ``as_at`` (after 2100 without ``as_at``),
    makes the whole cell "unknown": a typo such as "summer term 205" may be the real deadline,
    and a wrong deadline is worse than none.  A cell that starts "Completed"/"In place", or says
    so without looking forward, is "completed" (any dates are kept for information).
    """
    if isinstance(text, datetime | date):
        d = text.date() if isinstance(text, datetime) else text
        label = f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}"
        return Target(d.isoformat(), "date", d, d, False, f"read as {label} (a date cell)")
    original = "" if text is None else str(text)
    cleaned = _clean(original)
    if not cleaned or not re.search(r"[0-9A-Za-z]", cleaned):
        return Target(original, "unknown", None, None, False, "blank")

    ongoing = bool(_ONGOING_RE.search(cleaned))
    reader = _Reader(cleaned, as_at)
    reader.read()

    if reader.problems:
        note = "; ".join(reader.problems) + ": not read as a date"
        if reader.mentions:
            note += " (also mentions " + ", ".join(m.label for m in _ordered(reader.mentions)) + ")"
        return Target(original, "unknown", None, None, ongoing, note)

    leading_completion = bool(_LEADING_COMPLETION_RE.search(cleaned))
    if reader.mentions:
        mentions = _ordered(reader.mentions)
        start = min(m.start for m in mentions)
        end = max(m.end for m in mentions)
        reading = _describe(mentions, start, end)
        if leading_completion or (_says_completed(cleaned) and not _FUTURE_RE.search(cleaned)):
            note = _completion_word(cleaned) + (", and ongoing" if ongoing else "")
            note += f"; mentions {', '.join(m.label for m in mentions)}"
            return Target(original, "completed", start, end, ongoing, note)
        single_day = len(mentions) == 1 and mentions[0].start == mentions[0].end
        kind: TargetKind = "date" if single_day else "period"
        if ongoing:
            reading += " and ongoing" if len(mentions) == 1 else "; the text also says ongoing"
        return Target(original, kind, start, end, ongoing, reading)

    if leading_completion or _says_completed(cleaned):
        note = _completion_word(cleaned) + (", and ongoing" if ongoing else "") + "; no date"
        return Target(original, "completed", None, None, ongoing, note)
    undated_term = _TERM_WITHOUT_YEAR.search(cleaned)
    caveat = f" ('{undated_term[0]}' has no year, so it is not read as a date)" if undated_term else ""
    if ongoing:
        return Target(original, "ongoing", None, None, True, "ongoing, no date" + caveat)
    if _NOT_APPLICABLE_RE.search(cleaned):
        return Target(original, "unknown", None, None, False, "marked not applicable")
    if _TBC_RE.search(cleaned):
        return Target(original, "unknown", None, None, False, "date to be confirmed, no date found")
    return Target(original, "unknown", None, None, False, "no date found" + caveat)


def _ordered(mentions: list[_Mention]) -> list[_Mention]:
    """Mentions in the order they are written, each period once ("Feb'15 ... Feb & March '15")."""
    seen: set[tuple[date, date]] = set()
    ordered = []
    for m in sorted(mentions, key=lambda m: m.pos):
        if (m.start, m.end) not in seen:
            seen.add((m.start, m.end))
            ordered.append(m)
    return ordered


def _describe(mentions: list[_Mention], start: date, end: date) -> str:
    """Plain-English account of a reading, naming the deadline when several dates compete."""
    if len(mentions) == 1:
        return f"read as {mentions[0].label}"
    labels = ", ".join(m.label for m in mentions)
    first = f"{start.day} {MONTH_NAMES[start.month - 1]} {start.year}"
    last = f"{end.day} {MONTH_NAMES[end.month - 1]} {end.year}"
    return f"read as {first} to {last}: the deadline is the end of the latest of {labels}"


def is_overdue(target: Target, as_at: date) -> bool:
    """True when the target's deadline (``end``) is before ``as_at`` and it is not completed.

    A target with no deadline - ongoing work, a blank or unreadable cell - is never overdue:
    an overdue flag must point at a date someone actually wrote.  A dated target that also says
    "and ongoing" is overdue once its date has passed, because the dated step is what was promised.
    """
    return target.end is not None and target.end < as_at and target.kind != "completed"
