"""The paper's searcher (§II.D; docs/strategies.md): an LSTM controller trained by REINFORCE, in plain torch.

:class:`Controller` is the policy: one LSTM cell, one embedding and one softmax head per
decision (vocabularies differ), a zero input at the first step and the embedding of each
choice as the next input. :class:`PolicyGradient` adds REINFORCE's moving-average baseline
and entropy bonus; :class:`ReinforceStrategy` exposes it to the search loop through
``ask``/``tell``, each ``tell`` one step of its Adam optimiser. The hyperparameters' defaults
live in ``conf/strategy/reinforce.yaml`` only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from yoso.config import check_float, check_int
from yoso.search.strategy import Evaluation, Strategy
from yoso.space.joint import JointSpace


class Controller(nn.Module):
    """Autoregressive policy over categorical decisions of the given vocabulary sizes."""

    def __init__(self, vocab_sizes: Sequence[int], hidden: int):
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


class PolicyGradient(nn.Module):
    """REINFORCE on a batch ``(actions, rewards)``: loss = -(R - b) log p - w H, then b <- d b + (1 - d) mean R.

    The baseline (a float64 buffer) starts at the first batch's mean reward; ``state_dict`` holds
    the controller's weights, the baseline and the update count.
    """

    baseline: torch.Tensor  # buffers (register_buffer)
    updates: torch.Tensor

    def __init__(self, controller: Controller, entropy_weight: float, baseline_decay: float):
        super().__init__()
        self.controller = controller
        self.entropy_weight = check_float("strategy.entropy_weight", entropy_weight, at_least=0.0)
        self.baseline_decay = check_float("strategy.baseline_decay", baseline_decay, at_least=0.0, less_than=1.0)
        self.register_buffer("baseline", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("updates", torch.tensor(0, dtype=torch.long))
        self.last_metrics: dict[str, float] = {}

    def forward(self, actions: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
        """The loss of one batch at the current baseline; then advances the baseline and the update count."""
        log_prob, entropy = self.controller(actions)
        rewards = rewards.to(torch.float64)
        if int(self.updates) == 0:
            self.baseline.fill_(rewards.mean())
        advantage = (rewards - self.baseline).to(log_prob.dtype)
        loss = -(advantage * log_prob).mean() - self.entropy_weight * entropy.mean()
        self.baseline.mul_(self.baseline_decay).add_((1.0 - self.baseline_decay) * rewards.mean())
        self.updates += 1
        self.last_metrics = {
            "controller/loss": float(loss.detach()),
            "controller/entropy": float(entropy.detach().mean()),
            "controller/baseline": float(self.baseline),
            "controller/advantage": float(advantage.detach().mean()),
        }
        return loss


class ReinforceStrategy(Strategy):
    """The paper's LSTM controller as a search strategy: ``ask`` samples it, ``tell`` runs one REINFORCE step.

    Every hyperparameter is required: ``conf/strategy/reinforce.yaml`` holds their defaults.
    """

    name = "reinforce"

    def __init__(
        self,
        space: JointSpace,
        seed: int = 0,
        *,
        lstm_hidden: int,
        entropy_weight: float,
        baseline_decay: float,
        samples_per_step: int,
        lr: float,
    ):
        super().__init__(space, seed)
        self.batch_size = check_int("strategy.samples_per_step", samples_per_step, 1)
        hidden = check_int("strategy.lstm_hidden", lstm_hidden, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed_sequence().generate_state(1)[0]))
            self.module = PolicyGradient(Controller(space.vocab_sizes.tolist(), hidden), entropy_weight, baseline_decay)
        self.optimizer = torch.optim.Adam(
            self.module.controller.parameters(), lr=check_float("strategy.lr", lr, greater_than=0.0)
        )
        self.generator = torch.Generator().manual_seed(self.seed)

    def ask(self, n: int) -> np.ndarray:
        return self.module.controller.sample(n, self.generator).numpy().astype(np.int64)

    def tell(self, candidates: np.ndarray, results: Evaluation) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.module(
            torch.as_tensor(np.asarray(candidates), dtype=torch.long),
            torch.as_tensor(self.score(results), dtype=torch.float64),
        )
        loss.backward()
        self.optimizer.step()

    def metrics(self) -> dict[str, float]:
        return dict(self.module.last_metrics)

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (copies, not live tensors: later steps do not change it)."""
        return copy.deepcopy(
            {
                "module": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "last_metrics": dict(self.module.last_metrics),
            }
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"])
        self.module.last_metrics = dict(state.get("last_metrics", {}))
