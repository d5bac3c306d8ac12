"""Turn a model spec into a Model: `local` (the embedded model), `fake`, or an OpenAI-compatible URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rungwise.errors import ModelUnavailable
from rungwise.models.base import Model, ModelInfo
from rungwise.models.deadlines import apply_deadlines
from rungwise.models.urls import redact_url

if TYPE_CHECKING:
    from rungwise.models.adapter_serving import AdapterOffer


def resolve_model(
    spec: str | Model = "local",
    *,
    model_name: str | None = None,
    api_key_env: str | None = None,
    concurrency: int | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    capabilities: str | None = None,
    timeout_s: float | None = None,
    retries: int | None = None,
) -> Model:
    """`local` | `fake` | `http(s)://host:port/v1` (with `model_name`; the key comes from `api_key_env`).

    `rpm`/`tpm` limit requests and tokens per minute; `capabilities` forces a profile (see `models.base.PROFILES`);
    `timeout_s`/`retries` set the deadlines (None: RUNGWISE_TIMEOUT/RUNGWISE_RETRIES, else the backend's; a
    climb of a task applies the task's `[model]` values where these are None)."""
    if isinstance(spec, Model):
        return spec
    model = _resolve(spec, model_name, api_key_env, concurrency, rpm, tpm, capabilities)
    apply_deadlines(model, timeout_s, retries)
    return model


def open_model(model: Model) -> ModelInfo:
    """Open `model` once, in an event loop of its own, and close it: what it is and can do (`rungwise models`)."""
    import asyncio

    async def discover() -> ModelInfo:
        try:
            return await model.open()
        finally:
            await model.aclose()

    return asyncio.run(discover())


def offered_adapters(model: Model) -> AdapterOffer | None:
    """How `model`'s server serves LoRA adapters (`rungwise models`); None for a model not reached over HTTP."""
    import asyncio

    from rungwise.models.adapter_serving import AdapterOffer, probe_adapters
    from rungwise.models.embedded import EmbeddedModel
    from rungwise.models.openai_http import OpenAIHttpModel

    if isinstance(model, EmbeddedModel):
        return AdapterOffer("embedded", "the embedded model: rungwise trains LoRAs and serves them as GGUF LoRAs")
    if not isinstance(model, OpenAIHttpModel):
        return None

    async def ask() -> AdapterOffer:
        try:
            return await probe_adapters(model)
        finally:
            await model.aclose()

    return asyncio.run(ask())


def _resolve(spec: str, model_name: str | None, api_key_env: str | None, concurrency: int | None, rpm: int | None,
             tpm: int | None, capabilities: str | None) -> Model:
    if spec == "local":
        from rungwise.models.embedded import EmbeddedModel

        model = EmbeddedModel(capabilities=capabilities)
        model.set_rate_limits(rpm, tpm)
        return model
    if spec == "fake":
        from rungwise.models.fake import FakeModel

        return FakeModel()
    if spec.startswith(("http://", "https://")):
        from rungwise.models.openai_http import OpenAIHttpModel

        if not model_name:
            raise ModelUnavailable(
                f"--model-name is required with an endpoint URL ({redact_url(spec)}): the model's name on that server, "
                "for example --model-name gpt-4o-mini or the name vLLM/Ollama serves."
            )
        return OpenAIHttpModel(spec, model_name, api_key_env=api_key_env, max_concurrency=concurrency or 4, rpm=rpm,
                               tpm=tpm, capabilities=capabilities)
    raise ModelUnavailable(
        f"Unknown model {redact_url(spec)!r}. Use 'local' (the embedded model), or an OpenAI-compatible base URL "
        "such as http://localhost:8000/v1 together with --model-name."
    )
