"""Stand-in for 4D-Humans' `hmr2` package (shubham-goel/4D-Humans@6ec7965)."""
import os

import standin_record

standin_record.event("import hmr2", os.environ.get("PYOPENGL_PLATFORM"))
