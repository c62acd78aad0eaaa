"""HyperNet evaluator benchmark on digits: throughput and rank fidelity (issue 5, DESIGN §1).

- throughput: sub-network evaluations (BN recalibration + validation accuracy) per second on CPU;
- rank fidelity: Kendall tau between HyperNet (inherited-weight) accuracy and stand-alone accuracy
  of the same sampled architectures, both on the same validation split.

    .venv/bin/python benchmarks/bench_supernet.py                    # trains the HyperNet first
    .venv/bin/python benchmarks/bench_supernet.py --ckpt logs/train/runs/<run>/checkpoints/last.ckpt

Digits is easy: stand-alone networks all reach ~97-99% validation accuracy (a few images apart, with
ties), so tau is capped by that ceiling. ``--standalone-epochs 3`` or a smaller training split (e.g.
``data.test_fraction=0.6 model.epochs=60``, without --ckpt so the HyperNet trains on the same split)
spreads the stand-alone accuracies out.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("YOSO_ROOT", str(ROOT))


def config(overrides: list[str]) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        cfg = compose(config_name="train", overrides=overrides)
    return cfg


def trainer(epochs: int, out: Path) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, help="a trained HyperNet checkpoint (default: train one now)")
    parser.add_argument("--archs", type=int, default=20, help="architectures for rank fidelity (>= 20)")
    parser.add_argument("--throughput-archs", type=int, default=40)
    parser.add_argument("--standalone-epochs", type=int, default=None, help="default: model.standalone.epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the train config, e.g. model.epochs=30")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from yoso.nn import ChildModule, SupernetModule

    out = Path(tempfile.mkdtemp(prefix="bench_supernet_"))
    cfg = config([f"seed={args.seed}", f"paths.output_dir={out}", *args.overrides])
    plain = OmegaConf.to_container(cfg, resolve=True)
    import hydra

    pl.seed_everything(args.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    if args.ckpt is None:
        start = time.perf_counter()
        module = SupernetModule.from_config(plain)
        trainer(cfg.model.epochs, out).fit(module, datamodule=datamodule)
        print(f"HyperNet trained: {cfg.model.epochs} epochs in {time.perf_counter() - start:.0f} s")
    else:
        module = SupernetModule.load_from_checkpoint(args.ckpt, map_location="cpu")
        print(f"HyperNet loaded from {args.ckpt}")
    module.eval()
    space = module.space
    rng = np.random.default_rng(args.seed + 12345)

    # ---------------------------------------------------------------- throughput
    genotypes = [space.decode(v)[0] for v in space.sample(args.throughput_archs, rng)]
    evaluator = module.evaluator(datamodule)
    start = time.perf_counter()
    acc = evaluator.accuracy(genotypes)
    elapsed = time.perf_counter() - start
    print(f"throughput: {len(genotypes)} architectures in {elapsed:.2f} s = {len(genotypes) / elapsed:.1f} arch/s "
          f"(threads={args.threads}, {module.hparams.bn_recalibration_batches} BN recalibration batches of "
          f"{datamodule.batch_size}, {evaluator.total} validation images); mean accuracy {acc.mean():.4f}")
    start = time.perf_counter()
    again = evaluator.accuracy(genotypes)
    print(f"cached re-evaluation: {time.perf_counter() - start:.4f} s, identical: {np.array_equal(acc, again)}")

    # ---------------------------------------------------------------- rank fidelity
    archs = [space.decode(v)[0] for v in space.sample(args.archs, rng)]
    hyper = evaluator.accuracy(archs)
    epochs = args.standalone_epochs or cfg.model.standalone.epochs
    standalone = []
    start = time.perf_counter()
    for i, genotype in enumerate(archs):
        pl.seed_everything(args.seed + i, workers=True)
        child = ChildModule.from_config(plain, genotype)
        t = trainer(epochs, out)
        t.fit(child, datamodule=datamodule)
        (result,) = t.validate(child, datamodule=datamodule, verbose=False)
        standalone.append(result["val/acc"])
        print(f"  arch {i:2d}: hypernet {hyper[i]:.4f}  stand-alone {standalone[-1]:.4f}", flush=True)
    standalone = np.array(standalone)
    tau, p_value = stats.kendalltau(hyper, standalone)
    rho = stats.spearmanr(hyper, standalone).statistic
    print(f"stand-alone training: {len(archs)} networks x {epochs} epochs in {time.perf_counter() - start:.0f} s")
    print("hypernet accuracy:   ", np.round(hyper, 4).tolist())
    print("stand-alone accuracy:", np.round(standalone, 4).tolist())
    print(f"Kendall tau = {tau:.3f} (p = {p_value:.3g}), Spearman rho = {rho:.3f}, over {len(archs)} architectures")


if __name__ == "__main__":
    sys.exit(main())
