"""Sessions build block configs only when read, and then read exactly as Gradio's own eager copy."""

import pytest
from gradio import state_holder
from gradio.blocks import BlocksConfig

import app
import lazy_sessions


@pytest.fixture
def page():
    return app.build()


@pytest.fixture
def counted_configs(monkeypatch):
    """How many block configs have been built since the fixture started."""
    built = []
    original = BlocksConfig.config_for_block

    def counting(*args, **kwargs):
        built.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(BlocksConfig, "config_for_block", staticmethod(counting))
    return built


def lazy_session(page) -> state_holder.SessionState:
    session = state_holder.SessionState.__new__(state_holder.SessionState)
    lazy_sessions._lazy_session_init(session, page)
    return session


def test_a_new_session_builds_no_block_config(page, counted_configs):
    lazy_session(page)
    assert counted_configs == []
    lazy_sessions.EAGER_INIT(state_holder.SessionState.__new__(state_holder.SessionState), page)
    assert len(counted_configs) == len(page.blocks) > 30


def test_deep_link_view_matches_gradios_eager_session_after_an_update(page):
    eager = state_holder.SessionState.__new__(state_holder.SessionState)
    lazy_sessions.EAGER_INIT(eager, page)
    lazy = lazy_session(page)
    verdict = next(key for key, block in page.blocks.items() if getattr(block, "elem_id", None) == "verdict")
    for session in (eager, lazy):
        session._update_value_in_config(verdict, "<b>changed</b>")
    assert list(lazy.components) == list(eager.components)
    assert any(c["props"].get("value") == "<b>changed</b>" for c in lazy.components)
    assert sorted(vars(lazy)) == sorted(vars(eager))


def test_install_makes_the_apps_sessions_lazy(page, counted_configs, monkeypatch):
    monkeypatch.setattr(state_holder.SessionState, "__init__", lazy_sessions.EAGER_INIT)
    lazy_sessions.install()
    state_holder.SessionState(page)
    assert counted_configs == []
