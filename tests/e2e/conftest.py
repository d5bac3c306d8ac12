from __future__ import annotations

from collections.abc import Iterator

import pytest

from rungwise.models.embedded import EmbeddedModel


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedModel]:
    """The real embedded model, its llama.cpp server started once for the whole session."""
    model = EmbeddedModel()
    model.server.start()
    model.base_url = model.server.base_url or ""
    yield model
    model.close()

