"""Running the app in Streamlit's AppTest, and reading what it shows."""

import re

from streamlit.testing.v1 import AppTest

from app.settings import Settings
from tests.app.ui.stored import APP

TIMEOUT_S = 300  # the first question loads (and may convert) the default model


def start(settings: Settings) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    return app


def show(app: AppTest, view: str) -> AppTest:
    app.radio(key="view").set_value(view).run()
    assert not app.exception, app.exception
    return app


def texts(elements) -> list[str]:
    """The elements' Markdown as it reads on the page (backslash escapes resolved)."""
    return [rendered(element.value) for element in elements]


def rendered(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def alerts(app: AppTest) -> list[str]:
    """Every success, info, warning and error message on the page, as it reads."""
    return texts([*app.success, *app.info, *app.warning, *app.error])
