"""Gradio sessions that build each block's config only when something reads it.

Every API call is a new Gradio session, and Gradio's ``SessionState`` builds the config of every block
on the page as it opens one (``get_config`` runs ``inspect.signature`` for each): with this app's 36
blocks that was about a fifth of a one-beat request, in proportion to the page's size rather than to
the work asked for. Those configs are read only for deep links (``SessionState.components``), and
Gradio already fills an entry itself wherever a call changes a block. Here the rest are built on
first iteration, from the same blocks, so every reader sees what Gradio's eager copy would give.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import copy
from types import SimpleNamespace

from gradio import state_holder
from gradio.blocks import Blocks, BlocksConfig


class LazyConfigValues(dict):
    """Block id -> config, as Gradio's eager dict holds it; a missing entry is built when iterated over."""

    def __init__(self, blocks_config: BlocksConfig, block_ids: list[int]) -> None:
        super().__init__()
        self._blocks_config, self._block_ids = blocks_config, block_ids
        self._filled = False

    def _fill(self) -> None:
        """Every missing entry built, in the page's order as Gradio's eager copy keeps it."""
        if self._filled:
            return
        built = {key: self[key] if key in self else
                 self._blocks_config.config_for_block(key, [], self._blocks_config.blocks[key])
                 for key in self._block_ids}
        later = {key: value for key, value in super().items() if key not in built}
        self.clear()
        self.update(built | later)
        self._filled = True

    def items(self):
        self._fill()
        return super().items()

    def values(self):
        self._fill()
        return super().values()

    def keys(self):
        self._fill()
        return super().keys()

    def __iter__(self) -> Iterator[int]:
        self._fill()
        return super().__iter__()


class _NoBlocks:
    """A page without blocks: what Gradio's own SessionState.__init__ is given, so that it sets every other
    attribute its version has while building no configs."""

    blocks: dict = {}

    def __init__(self) -> None:
        self.default_config = BlocksConfig(SimpleNamespace(renderables=[]))


EAGER_INIT = state_holder.SessionState.__init__
_NO_BLOCKS = _NoBlocks()


def _lazy_session_init(session: state_holder.SessionState, blocks: Blocks) -> None:
    EAGER_INIT(session, _NO_BLOCKS)
    session.blocks_config = copy(blocks.default_config)
    session.config_values = LazyConfigValues(
        session.blocks_config, [key for key in session.blocks_config.blocks if key in blocks.blocks])


def install() -> None:
    """Make every Gradio session of this process build its block configs lazily."""
    state_holder.SessionState.__init__ = _lazy_session_init
