from __future__ import annotations

from collections.abc import Iterator

import pytest

from rungwise.models.embedded import EmbeddedModel, EmbeddedServer


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedModel]:
    """The real embedded model, its llama.cpp server started once for the whole session (the climbs use it
    and leave it running: the model does not own it)."""
    server = EmbeddedServer()
    server.start()
    yield EmbeddedModel(server=server)
    server.stop()

