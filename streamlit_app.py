"""llama-scholar in the browser: `streamlit run streamlit_app.py` (or `make run`)."""

import app  # noqa: F401 (first: it turns off downloads before any model library loads)
from app.ui.main import run

run()
