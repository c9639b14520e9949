"""Nemotron 3 Nano Omni Reasoning (``NemotronH_Omni_Reasoning_V3``,
``nvidia/Nemotron-3-Nano-Omni-30B-A3B-Reasoning-BF16``): transformers' native class, no remote code.

- A hybrid Mamba-2 / attention / mixture-of-experts language model (NemotronH, 30B parameters, 3B
  active per token, about 60 GB in bf16) with a RADIO vision tower and a Parakeet (FastConformer)
  sound encoder. ``--device_map auto`` spreads it over every visible GPU. Without the
  ``mamba_ssm`` / ``causal_conv1d`` packages transformers runs Mamba in its reference PyTorch
  code (correct, slower).
- ``--thinking on|off`` (one checkpoint, both modes): the chat template's ``enable_thinking``
  variable. On (default), the generation prompt opens ``<think>`` and the trace up to ``</think>``
  is the CoT (``nemotron_omni_thinking`` profile, ``--max_thinking_tokens``); off, the template
  closes an empty trace and the reasoning is the response text (``nemotron_omni`` profile). The
  mode is recorded like Gemma 4's (sidecar, every line, report row label).
- The audio part renders as ``<so_embedding>``, which the processor expands to ``<so_start>`` +
  one token per encoder frame + ``<so_end>``. Audio window: the encoder's relative positions
  (``max_position_embeddings``) x its subsampling x the mel hop, read from the loaded model and
  processor (5000 x 8 x 10 ms = 400 s at the defaults).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from audiofaith.backends.hf import DEFAULT_MAX_THINKING_TOKENS, add_thinking_arguments, thinking_budget
from audiofaith.backends.qwen3_omni import Qwen3OmniBackend


class NemotronOmniBackend(Qwen3OmniBackend):
    key = "nemotron_omni"
    model_class_name = "NemotronH_Omni_Reasoning_V3"
    max_audio_seconds = 400.0  # replaced by the loaded encoder's positions (audio_window_seconds)

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto", thinking: str = "on",
                 max_thinking_tokens: Optional[int] = DEFAULT_MAX_THINKING_TOKENS, **kwargs: Any) -> None:
        budget = thinking_budget(thinking, max_thinking_tokens)
        self.thinking_mode = thinking
        super().__init__(model_path, device=device, dtype=dtype, max_thinking_tokens=budget, **kwargs)
        self.max_audio_seconds = self._encoder_window_seconds()

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        add_thinking_arguments(parser, "reasoning mode (the chat template's enable_thinking; default on): on, the "
                                       "<think> trace is the CoT; off, the response text is")

    def chat_template_kwargs(self) -> Dict[str, Any]:
        return {"enable_thinking": self.thinking_mode == "on"}

    def _encoder_window_seconds(self) -> float:
        audio = self.model.config.audio_config
        processor = self.processor
        frames = int(audio.max_position_embeddings) * int(audio.subsampling_factor)
        return frames * float(processor.audio_hop_length) / float(processor.audio_sampling_rate)

    def provenance(self):
        return {**super().provenance(), "thinking_mode": self.thinking_mode}
