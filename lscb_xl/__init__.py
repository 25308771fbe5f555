"""lscb-xl: a safeguarding children board's master workbook and the Python that keeps it right."""

__version__ = "0.1.0"
