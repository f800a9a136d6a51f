"""Stand-in for PHALP (brjathu/PHALP@96f7e6c)."""
import os

import standin_record

standin_record.event("import phalp", os.environ.get("PYOPENGL_PLATFORM"))
