"""Turn a model spec into a Model: `local` (the embedded model), `fake`, or an OpenAI-compatible URL."""

from __future__ import annotations

from rungwise.errors import ModelUnavailable
from rungwise.models.base import Model
from rungwise.models.urls import redact_url


def resolve_model(
    spec: str | Model = "local",
    *,
    model_name: str | None = None,
    api_key_env: str | None = None,
    concurrency: int | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    capabilities: str | None = None,
) -> Model:
    """`local` | `fake` | `http(s)://host:port/v1` (with `model_name`; the key comes from `api_key_env`).

    `rpm`/`tpm` limit requests and tokens per minute; `capabilities` forces a profile (see `models.base.PROFILES`)."""
    if isinstance(spec, Model):
        return spec
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
