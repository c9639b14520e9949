"""Known-answer checkpoints: tiny Qwen2-Audio models trained on a synthetic listening task so
that their faithfulness is known by construction (docs/validation.md).

- ``task``: the task (synthetic animal calls, SAKURA-shaped questions, CoT templates, manifests);
  numpy only.
- ``rewriter``: the rule-based rewriter for adding mistakes and paraphrasing on this task.
- ``train``: trains the ``faithful`` and ``posthoc`` checkpoints (imports torch).
"""
