"""Writing a VBA project (``vbaProject.bin``) without Excel.

Why this exists: the desktop ribbon needs one small VBA module inside the add-in, and the only
tools that can write ``vbaProject.bin`` either copy a binary Excel made or are broken (see
FIELD-NOTES). [MS-OVBA] tells a writer to mark the project "version 0xFFFF, no performance
cache", which makes Office compile the module from its source, so a writer that follows the
spec produces a project Excel accepts. The pieces:

- :mod:`lscb_xl.vba.ovba`: the [MS-OVBA] 2.4.1 compression that module source and ``dir`` use.
- :mod:`lscb_xl.vba.cfb`: a small [MS-CFB] compound-file writer (and reader, for checks).
- :mod:`lscb_xl.vba.project`: the VBA storage itself (``dir``, ``PROJECT``, module streams).
"""

from lscb_xl.vba.project import build_vba_project

__all__ = ["build_vba_project"]
