"""kubeguard fixes: minimal, verified text edits that turn findings into the healthy shape.

Pure: text, findings and configuration in, edits out. ``fix_file`` applies every allowed fix
of a file; ``fix_finding`` proves a single fix; ``suggestion`` and ``unified_diff`` render them.
"""

from fixes._edit import Edit, Unfixable, apply
from fixes._model import FixSettings, FixSpec, Safety
from fixes._plan import FileFix, FixResult, fix_file, fix_finding
from fixes._registry import all_fixes, fix_for
from fixes._render import Suggestion, suggestion, unified_diff
from fixes._settings import settings_from_config

__all__ = [
    "Edit", "FileFix", "FixResult", "FixSettings", "FixSpec", "Safety", "Suggestion", "Unfixable", "all_fixes",
    "apply", "fix_file", "fix_finding", "fix_for", "settings_from_config", "suggestion", "unified_diff",
]
