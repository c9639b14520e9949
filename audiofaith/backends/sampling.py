"""Per-row seeded sampling for transformers' ``generate`` (torch is imported when used; shared by
the Hugging Face backends and SALMONN, so Python 3.9 syntax).

``generate(do_sample=True)`` draws every row of a batch from one global random stream, so a row's
sample depends on the batch size, on its neighbours and on how many tokens they drew before. Here
each row (one run of one item) owns a ``torch.Generator`` seeded from the runner's
(seed, item id, run); the logits processor applies temperature and top-p exactly as transformers'
warpers do, draws the row's token from its own generator, and leaves only that token possible, so
``generate`` runs greedily over the drawn tokens. Each row draws once per step, so its tokens
depend only on its own seed and its own logits.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence


class RowSeededSampler:
    """A transformers logits processor (a callable ``(input_ids, scores) -> scores``)."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device: Any) -> None:
        import torch

        if temperature <= 0:
            raise ValueError(f"sampling needs a temperature > 0, got {temperature}")
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.generators: List[Any] = []
        for seed in seeds:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed))
            self.generators.append(generator)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if scores.shape[0] != len(self.generators):
            raise ValueError(f"{scores.shape[0]} rows to sample but {len(self.generators)} seeds")
        warped = scores.float() / self.temperature
        if self.top_p < 1.0:  # transformers' TopPLogitsWarper, min_tokens_to_keep = 1
            sorted_logits, sorted_indices = torch.sort(warped, descending=False)
            cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - self.top_p)
            remove[..., -1:] = False
            warped = warped.masked_fill(remove.scatter(1, sorted_indices, remove), -float("inf"))
        probs = warped.softmax(dim=-1)
        chosen = torch.stack([torch.multinomial(probs[row], 1, generator=generator)[0]
                              for row, generator in enumerate(self.generators)])
        forced = torch.full_like(scores, -float("inf"))
        forced[torch.arange(scores.shape[0], device=scores.device), chosen] = 0.0
        return forced


def row_seeds(inputs: Sequence, num_return_sequences: int, base_seed: int) -> List[int]:
    """One seed per generated row (inputs × return sequences, in transformers' row order). An input
    without ``run_seeds`` (a caller outside the runners) gets seeds from (base seed, row index)."""
    seeds: List[int] = []
    for index, inp in enumerate(inputs):
        given: Optional[Sequence[int]] = getattr(inp, "run_seeds", None)
        if given is not None and len(given) != num_return_sequences:
            raise ValueError(f"input {index} has {len(given)} run seeds for {num_return_sequences} sequences")
        seeds += list(given) if given is not None else [
            (base_seed * 1_000_003 + index * num_return_sequences + run) & 0x7FFFFFFF
            for run in range(num_return_sequences)]
    return seeds
