"""The browser app's pieces; `streamlit_app.py` at the top of the repository calls `main.run`.

Every action is one call into `app.service.Scholar`, the facade the command line uses too.
Everything derived from documents or the model is shown as escaped Markdown or plain text.
"""
