"""Retrain the known-answer checkpoints from scratch and check them twice: the training's own
acceptance checks on the dev clips, then the whole pipeline on the held-out clips against every
planted band (known_answer.contrast). Not part of `make test` (it trains: several minutes per
checkpoint on one CPU thread); run it after changing the task or the training, and under each of
torch's CPU kernel sets to show the rule holds on other machines:

    ATEN_CPU_CAPABILITY=avx2 python scripts/retrain_known_answer.py --workdir /tmp/ka-avx2
    ATEN_CPU_CAPABILITY=default python scripts/retrain_known_answer.py --workdir /tmp/ka-default

`make validate-retrain` runs it under the machine's default kernels. Exit status 0 only when every
planted band holds. ``--ship`` then replaces the shipped checkpoints (maintainers only).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("retrain_known_answer")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="where the checkpoints, their cache and outputs go")
    parser.add_argument("--variants", nargs="+", default=["faithful", "posthoc"], choices=["faithful", "posthoc"])
    parser.add_argument("--ship", action="store_true",
                        help="after every check passes, replace audiofaith/checkpoints/known_answer/checkpoints with these")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    work = Path(args.workdir)
    os.environ["AUDIOFAITH_CACHE"] = str(work / "cache")  # an empty cache: train, never reuse

    import torch

    from audiofaith.checkpoints.known_answer import contrast, train
    from audiofaith.checkpoints.known_answer.pipeline import run_pipeline

    log.info("torch %s, CPU kernels %s", torch.__version__, torch.backends.cpu.get_cpu_capability())
    train.train_missing(args.variants)
    folders, info = {}, {}
    for variant in args.variants:
        checkpoint = train.build_known_answer(work / "checkpoints" / variant, variant, retrain=True)
        info[variant] = json.loads((checkpoint / train.INFO_FILE).read_text(encoding="utf-8"))
        folders[variant] = run_pipeline(checkpoint, work / "output" / variant)
    table = contrast.measure(folders, manifest_dir=work / "checkpoints" / args.variants[0] / "task")
    print(contrast.markdown_table(table, args.variants))
    for variant in args.variants:
        print(f"{variant}: {info[variant]['steps']} steps, {info[variant]['train_seconds']} s, kernels "
              f"{info[variant]['cpu_capability']}; dev checks {json.dumps(info[variant]['dev_checks'])}")
    failed = [f for f in contrast.failures(table) if f[1] in args.variants]
    for name, variant, why in failed:
        print(f"FAILED {variant}: {name}: {why}")
    if failed:
        return 1
    if args.ship:
        train.ship(args.variants)
        print(f"shipped: {train.SHIPPED}")
    print("every planted band holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
