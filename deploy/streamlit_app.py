"""Streamlit Community Cloud's entrypoint: the app of the repository root, installed from deploy/requirements.txt.

Community Cloud looks for the dependency file next to the entrypoint first, then at the repository root
(docs.streamlit.io, "App dependencies"), so this folder's requirements.txt (the CPU build of torch) is used for
the deployment while laptops and CI keep the root's. It runs from the repository root; app.py does the rest.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
