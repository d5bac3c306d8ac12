"""Fine-tuning the embedded model: LoRA training with transformers + peft, export of the adapter as a GGUF
LoRA for llama.cpp, and training files for fine-tuning elsewhere.

    base_model   the GGUF as a transformers model, converted once and cached
    dataset      rows as token sequences (llama.cpp's prompt, loss on the answer), length-grouped batches
    train        `TrainingJob` / `train_lora`: seeded, resumable, cancellable, budgeted
    checkpoint   what a resumed run continues from
    export_gguf  peft adapter -> GGUF LoRA (llama.cpp's converter layout, q/k rows permuted)
    hosted       OpenAI chat JSONL and prompt/completion JSONL

Importing this package needs none of torch, transformers, peft or gguf: they load when a function needs
them, and a missing one raises `MissingExtra` naming the `finetune` extra.
"""

from rungwise.finetune.base_model import ensure_hf_copy, load_base_model, load_tokenizer, load_tuned_model
from rungwise.finetune.dataset import TrainingExample
from rungwise.finetune.export_gguf import export_lora_gguf
from rungwise.finetune.hosted import write_openai_jsonl, write_prompt_completion_jsonl
from rungwise.finetune.train import LoraConfig, Progress, TrainingJob, TrainingResult, train_lora

__all__ = [
    "LoraConfig",
    "Progress",
    "TrainingExample",
    "TrainingJob",
    "TrainingResult",
    "ensure_hf_copy",
    "export_lora_gguf",
    "load_base_model",
    "load_tokenizer",
    "load_tuned_model",
    "train_lora",
    "write_openai_jsonl",
    "write_prompt_completion_jsonl",
]
