"""Voxtral (``VoxtralForConditionalGeneration``, ``mistralai/Voxtral-Mini-3B-2507``; Small 24B too).

- No chat template: the prompt is what ``mistral-common`` encodes from the request (its tekken
  tokenizer, ``MistralCommonBackend``; the processor's ``apply_chat_template`` calls the same).
  A user turn with audio is ``<s>[INST][BEGIN_AUDIO]`` + one ``[AUDIO]`` per 80 ms (375 per 30 s
  chunk, audio padded to whole chunks) + the text + ``[/INST]``. The prompt is built as token ids:
  the encoded request, then the assistant prefix encoded as plain text (what mistral-common's
  ``continue_final_message`` gives, checked in tests/backends/test_voxtral.py), so special tokens
  never pass through text. ``render`` is the same ids decoded with the special tokens kept.
- Audio goes to mistral-common as a lossless float WAV (its request format takes encoded audio,
  not arrays); it pads to 30 s chunks and the processor's feature extractor turns each chunk into
  128 x 3000 log-mel frames, chunks of a batch stacked in order.
- No system turn: mistral-common refuses a system message beside audio before tokenizer version 13
  (refused here first with a one-line error; the tiny tokenizer is v7), so the profile has none.
  No thinking mode.
- Audio window: 40 min (transformers' and Mistral's Voxtral docs: 32k tokens of context, up to
  40 minutes of audio for understanding).
- Letters are scored without the prefix cache: the shared-prefix path splits prompts as text.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from audiofaith.backends.base import ModelInput
from audiofaith.backends.hf import HFAudioBackend
from audiofaith.errors import UserError

log = logging.getLogger(__name__)

#: The special token that closes a user turn: the model's text starts after it.
END_OF_INSTRUCTION = "[/INST]"


def wav_base64(audio: np.ndarray, sample_rate: int) -> str:
    """A clip as a base64 float32 WAV: lossless, the form mistral-common's audio chunks take."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="FLOAT")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class VoxtralBackend(HFAudioBackend):
    key = "voxtral"
    model_class_name = "VoxtralForConditionalGeneration"
    max_audio_seconds = 2400.0
    prefix_cache = False

    def conversation(self, inp: ModelInput) -> List[Dict[str, Any]]:
        """The request's messages; the audio part carries the clip as base64 WAV (the keyed form
        transformers' MistralCommonBackend passes on to mistral-common)."""
        from mistral_common.tokens.tokenizers.base import TokenizerVersion

        system = inp.system_prompt if inp.system_prompt is not None else self.profile.system_prompt
        version = self._tekkenizer().version
        if system is not None and inp.audio is not None and version < TokenizerVersion.v13:
            raise UserError(f"Voxtral's tokenizer ({version.value}) refuses a system turn beside audio (mistral-common: "
                            "tokenizer versions before v13); use a profile without a system prompt")
        messages = super().conversation(inp)
        for message in messages:
            for index, part in enumerate(message["content"]):
                if part.get("type") == "audio":
                    message["content"][index] = {"type": "audio",
                                                 "base64": wav_base64(part["audio"], self.sample_rate)}
        return messages

    def _tekkenizer(self):
        """mistral-common's tokenizer inside transformers' MistralCommonBackend."""
        return self.tokenizer.tokenizer.instruct_tokenizer.tokenizer

    def _request(self, inp: ModelInput) -> Tuple[List[int], List[np.ndarray]]:
        """The token ids of the encoded request plus the assistant prefix, and the (chunk-padded)
        audio arrays mistral-common returns for it."""
        encoded = self.tokenizer.apply_chat_template(self.conversation(inp), tokenize=True, return_dict=True)
        ids = list(encoded["input_ids"])
        if inp.assistant_prefix:
            ids += self.tokenizer.encode(inp.assistant_prefix, add_special_tokens=False)
        return ids, list(encoded.get("audio", []))

    def render(self, inp: ModelInput) -> str:
        """The prompt as text: its token ids decoded with the special tokens kept."""
        ids, _ = self._request(inp)
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def encode(self, inputs: Sequence[ModelInput], texts: Optional[List[str]] = None):
        """The batch built from token ids (``texts``, renders of the same inputs, are not needed),
        left padded, with the log-mel features of every audio chunk in order."""
        torch = self._torch
        with_audio = [inp.audio is not None for inp in inputs]
        if any(with_audio) and not all(with_audio):
            raise ValueError("a batch must be all with audio or all text-only")
        rows, audio = [], []
        for inp in inputs:
            ids, clips = self._request(inp)
            rows.append(ids)
            audio += clips
        width, pad = max(len(ids) for ids in rows), self.tokenizer.pad_token_id
        batch: Dict[str, Any] = {
            "input_ids": torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows]),
            "attention_mask": torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows]),
        }
        if audio:
            batch["input_features"] = self._features(audio)
        moved = {}
        for name, value in batch.items():
            value = value.to(self.device)
            moved[name] = value.to(self.dtype) if value.is_floating_point() else value
        return moved

    def _features(self, audio: Sequence[np.ndarray]):
        """The processor's own feature path (30 s chunks of 128 x 3000 log-mel frames, stacked)."""
        audio_kwargs = dict(self.processor._merge_kwargs()["audio_kwargs"])
        max_source_positions = audio_kwargs.pop("max_source_positions")
        audio_kwargs.update(self.processor_kwargs())
        return self.processor._retrieve_input_features(list(audio), max_source_positions, **audio_kwargs)

    def _decode(self, new_tokens) -> List[str]:
        """The new tokens as text, special tokens dropped (Voxtral has no trace markers to keep)."""
        return self.tokenizer.batch_decode(new_tokens.tolist(), skip_special_tokens=True)

    def letter_token_ids(self, text: str, letters: Sequence[str]) -> List[int]:
        """Checked on the assistant text after ``[/INST]``: the prompt before it is token ids that
        end on that special token, so only the assistant text is tokenized as text."""
        head, marker, tail = text.rpartition(END_OF_INSTRUCTION)
        if not marker:
            raise ValueError(f"a Voxtral prompt ends its user turn with {END_OF_INSTRUCTION}: {text[-60:]!r}")
        return super().letter_token_ids(tail, letters)

    def provenance(self) -> Dict[str, Any]:
        import hashlib

        import mistral_common

        inner = self._tekkenizer()
        path = getattr(inner, "file_path", None)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path is not None else None
        info = super().provenance()
        return {**info, "chat_template_sha256": digest,  # of the tokenizer file, which fixes the encoding
                "libraries": {**info["libraries"], "mistral_common": mistral_common.__version__},
                "template": f"mistral-common request encoding, tokenizer {inner.version.value}"}
