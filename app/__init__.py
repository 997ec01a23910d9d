"""Settings, the service facade shared by the UI and the command line, and the command line."""

import os

# Nothing downloads at run time: every model loads from files on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
