"""The paper's searcher (§II.D, DESIGN §5): an LSTM controller trained by REINFORCE.

:class:`Controller` is a plain ``nn.Module``: one LSTM cell, one embedding and one softmax
head per decision (vocabularies differ), a zero input at the first step and the embedding
of each choice as the next input. :class:`ControllerModule` is the LightningModule whose
training step is the REINFORCE update with a moving-average baseline and an entropy bonus;
:class:`ReinforceStrategy` exposes it to the search loop through ``ask``/``tell`` and drives
each update with a Lightning Trainer.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from yoso.config import check_float, check_int
from yoso.search.strategy import Evaluation, Strategy
from yoso.space.joint import JointSpace


class Controller(nn.Module):
    """Autoregressive policy over categorical decisions of the given vocabulary sizes."""

    def __init__(self, vocab_sizes: Sequence[int], hidden: int = 120):
        super().__init__()
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        self.hidden = int(hidden)
        self.lstm = nn.LSTMCell(self.hidden, self.hidden)
        self.embeddings = nn.ModuleList(nn.Embedding(v, self.hidden) for v in self.vocab_sizes)
        self.heads = nn.ModuleList(nn.Linear(self.hidden, v) for v in self.vocab_sizes)

    def _steps(self, n: int, actions: torch.Tensor | None, generator: torch.Generator | None):
        """Run the 44 steps, sampling (``actions`` None) or teacher-forcing ``actions``; yields per-step results."""
        device = self.lstm.weight_ih.device
        x = torch.zeros(n, self.hidden, device=device)
        state = None
        for i, head in enumerate(self.heads):
            state = self.lstm(x, state)
            logits = head(state[0])
            if actions is None:
                probs = F.softmax(logits, dim=-1)
                choice = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            else:
                choice = actions[:, i]
            yield logits, choice
            x = self.embeddings[i](choice)

    def forward(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy (summed over decisions) of given ``(n, D)`` actions."""
        log_prob = torch.zeros(len(actions), device=actions.device)
        entropy = torch.zeros(len(actions), device=actions.device)
        for logits, choice in self._steps(len(actions), actions, None):
            log_p = F.log_softmax(logits, dim=-1)
            log_prob = log_prob + log_p.gather(1, choice[:, None]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(-1)
        return log_prob, entropy

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` action vectors drawn from the policy, as an ``(n, D)`` long tensor."""
        return torch.stack([choice for _, choice in self._steps(int(n), None, generator)], dim=1)


class ControllerModule(pl.LightningModule):
    """REINFORCE on a batch ``(actions, rewards)``: loss = -(R - b) log p - w H, then b <- d b + (1 - d) mean R.

    The baseline starts at the first batch's mean reward. The Adam optimiser is created once
    and kept, so its moments survive the repeated ``Trainer.fit`` calls of the search.
    """

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        lstm_hidden: int = 120,
        lr: float = 3.5e-4,
        entropy_weight: float = 1e-4,
        baseline_decay: float = 0.95,
    ):
        super().__init__()
        self.save_hyperparameters(
            {
                "vocab_sizes": [check_int("space.vocab_sizes", v, 1) for v in vocab_sizes],
                "lstm_hidden": check_int("strategy.lstm_hidden", lstm_hidden, 1),
                "lr": check_float("strategy.lr", lr, greater_than=0.0),
                "entropy_weight": check_float("strategy.entropy_weight", entropy_weight, at_least=0.0),
                "baseline_decay": check_float("strategy.baseline_decay", baseline_decay, at_least=0.0, less_than=1.0),
            }
        )
        self.controller = Controller(self.hparams.vocab_sizes, self.hparams.lstm_hidden)
        self.register_buffer("baseline", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("updates", torch.tensor(0, dtype=torch.long))
        self.last_metrics: dict[str, float] = {}
        self._optimizer: torch.optim.Optimizer | None = None

    def forward(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.controller(actions)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        actions, rewards = batch
        log_prob, entropy = self.controller(actions)
        rewards = rewards.to(torch.float64)
        if int(self.updates) == 0:
            self.baseline.fill_(rewards.mean())
        advantage = (rewards - self.baseline).to(log_prob.dtype)
        loss = -(advantage * log_prob).mean() - self.hparams.entropy_weight * entropy.mean()
        decay = self.hparams.baseline_decay
        self.baseline.mul_(decay).add_((1.0 - decay) * rewards.mean())
        self.updates += 1
        self.last_metrics = {
            "controller/loss": float(loss.detach()),
            "controller/entropy": float(entropy.detach().mean()),
            "controller/baseline": float(self.baseline),
            "controller/advantage": float(advantage.detach().mean()),
        }
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.hparams.lr)
        return self._optimizer

    def optimizer(self) -> torch.optim.Optimizer:
        """The one Adam optimiser of this module (created on first use)."""
        return self.configure_optimizers()


class ReinforceStrategy(Strategy):
    """The paper's LSTM controller as a search strategy: ``ask`` samples it, ``tell`` runs one REINFORCE step."""

    name = "reinforce"

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        lstm_hidden: int = 120,
        entropy_weight: float = 1e-4,
        baseline_decay: float = 0.95,
        samples_per_step: int = 1,
        lr: float = 3.5e-4,
    ):
        super().__init__(space, seed)
        self.batch_size = check_int("strategy.samples_per_step", samples_per_step, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed_sequence().generate_state(1)[0]))
            self.module = ControllerModule(space.vocab_sizes.tolist(), lstm_hidden, lr, entropy_weight, baseline_decay)
        self.generator = torch.Generator().manual_seed(self.seed)
        self._trainer: pl.Trainer | None = None

    def ask(self, n: int) -> np.ndarray:
        return self.module.controller.sample(n, self.generator).numpy().astype(np.int64)

    def tell(self, candidates: np.ndarray, results: Evaluation) -> None:
        batch = (torch.as_tensor(np.asarray(candidates), dtype=torch.long),
                 torch.as_tensor(self.score(results), dtype=torch.float64))  # fmt: skip
        loader = torch.utils.data.DataLoader([batch], batch_size=None)
        trainer = self.trainer
        trainer.fit_loop.epoch_loop.max_steps = trainer.global_step + 1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(does not have many workers|LeafSpec|eval mode).*")
            trainer.fit(self.module, train_dataloaders=loader)

    @property
    def trainer(self) -> pl.Trainer:
        """A quiet CPU Trainer, one optimisation step per ``fit`` (the controller is tiny)."""
        if self._trainer is None:
            for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
                logging.getLogger(name).setLevel(logging.WARNING)
            self._trainer = pl.Trainer(
                accelerator="cpu", devices=1, max_epochs=-1, max_steps=0, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            )  # fmt: skip
        return self._trainer

    def metrics(self) -> dict[str, float]:
        return dict(self.module.last_metrics)

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (copies, not live tensors: later steps do not change it)."""
        return copy.deepcopy({
            "module": self.module.state_dict(),
            "optimizer": self.module.optimizer().state_dict(),
            "generator": self.generator.get_state(),
            "last_metrics": dict(self.module.last_metrics),
        })  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.module.optimizer().load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"])
        self.module.last_metrics = dict(state.get("last_metrics", {}))
