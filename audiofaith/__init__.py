"""audiofaith: chain-of-thought faithfulness experiments for large audio-language models.

The core modules (records, manifest, jsonl, prompts, cot, answers, audio, provenance, runners)
import no torch or transformers, so they also run in SALMONN's old environment. Model code lives
in ``audiofaith.backends`` and is imported lazily through the registry.
"""

__version__ = "0.1.0"
