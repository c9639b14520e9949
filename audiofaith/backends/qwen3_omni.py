"""Qwen3-Omni-30B-A3B, Instruct and Thinking, text output only
(``Qwen3OmniMoeThinkerForConditionalGeneration``).

- The thinker class loads just the thinker (audio encoder, vision encoder, MoE language model)
  from the full checkpoint; no talker or code2wav is built.
- Size: a mixture of experts with 30B parameters (3B active per token), about 60 GB in bf16:
  more than one 40/48 GB GPU holds. ``--device_map auto`` spreads the layers over every visible
  GPU (accelerate's ``device_map``); inputs go to the GPU of the embeddings.
- Audio window: the processor pads the batch's clips to the longest and never cuts them; the
  encoder works through a clip in ``n_window`` blocks. Qwen's model card gives 40 minutes as the
  longest audio input, so the runner cuts longer clips to that, with a warning on the item.
- ``qwen3_omni_thinking`` (the Thinking checkpoint) thinks natively: its template opens a
  ``<think>`` trace in the generation prompt and the model closes it with ``</think>`` before
  its visible answer. The trace is the CoT (``prompts.QWEN3_THINKING``): it is generated with its
  own budget (``--max_thinking_tokens``) before the answer's ``--max_new_tokens``, and re-injected
  inside the same markers when it is edited (``HFAudioBackend.generate`` / ``render``).
"""

from __future__ import annotations

from typing import Any, Optional

from audiofaith.backends.hf import DEFAULT_MAX_THINKING_TOKENS, HFAudioBackend, add_thinking_arguments

#: Longest audio input in Qwen's model card (40 minutes).
QWEN3_OMNI_MAX_AUDIO_SECONDS = 2400.0


class Qwen3OmniBackend(HFAudioBackend):
    key = "qwen3_omni"
    model_class_name = "Qwen3OmniMoeThinkerForConditionalGeneration"
    max_audio_seconds = QWEN3_OMNI_MAX_AUDIO_SECONDS

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto",
                 device_map: Optional[str] = None, **kwargs: Any) -> None:
        self.device_map = device_map
        super().__init__(model_path, device=device, dtype=dtype, **kwargs)

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        parser.add_argument("--device_map", default=None, choices=["auto"],
                            help="auto: spread the model's layers over every visible GPU (Qwen3-Omni-30B-A3B is "
                                 "about 60 GB in bf16); default: the whole model on --device")

    def load_model(self, model_class):
        if self.device_map is None:
            return super().load_model(model_class)
        model = model_class.from_pretrained(self.model_path, dtype=self.dtype, device_map=self.device_map).eval()
        self.device = str(model.get_input_embeddings().weight.device)  # where the inputs go
        return model


class Qwen3OmniThinkingBackend(Qwen3OmniBackend):
    key = "qwen3_omni_thinking"
    max_thinking_tokens = DEFAULT_MAX_THINKING_TOKENS

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        add_thinking_arguments(parser)
