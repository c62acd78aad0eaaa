"""Differentiable co-search (DANCE/DIAN style) with HDX hard constraints by gradient manipulation.

A one-shot strategy in NNI's shape: :class:`DifferentiableStrategy` (the ``strategy`` config
group) turns the trained HyperNet and a differentiable cost model into
:class:`DifferentiableSearchModule`, a LightningModule that owns the training loop and exports
one candidate per epoch.

* Network: DARTS relaxation of the 40 DNN decisions. Each computed node ``i`` holds logits
  ``alpha[i][j, o]`` per incoming edge ``j -> i`` and op ``o``. A node's two edges are read as two
  draws without replacement (Plackett-Luce) over its edges, whose logits are
  ``logsumexp_o alpha[i][j, o]``; edge ``j`` carries op ``o`` with ``softmax_o alpha[i][j]``. The
  mixed node is the expectation of ``op_a(I_a) + op_b(I_b)``: ``sum_{j,o} w[j,o] op_o(x_j)`` with
  ``w`` = P(edge ``j`` drawn) x P(op ``o`` | ``j``), over the HyperNet's own candidate modules.
  The derived genotype keeps per node the two most probable edges with their strongest op.
* Accelerator: Gumbel-softmax over the accelerator decisions, temperature annealed per
  epoch from ``tau_max`` to ``tau_min``.
* Cost: :class:`yoso.predictor.relaxed.CostMLP` on the expected encoding (edge occupancies and
  accelerator probabilities) gives log-energy and log-latency. Its value is taken at the hard
  design (the derived network with the Gumbel-sampled accelerator; straight-through), where the
  MLP was trained, and its gradient at the relaxed one. The loss is cross-entropy minus eq. 2's
  hardware terms. First-order bilevel: logits on validation batches, weights on training batches.
* Calibration: every epoch the exported candidate is simulated; ``log(simulated / predicted)`` of
  it is added to the cost model's output from then on (a constant per target, so gradients are
  unchanged): the constraint and the reward act on the simulator's figures near the current design
  even where the cost model is biased (``calibrate: false`` turns it off).
* Constraints: ``constraints=hard`` applies the HDX rule (:func:`hdx_gradient`) whenever the
  relaxed design's predicted cost exceeds a threshold; ``constraints=soft`` adds
  ``penalty x violation`` to the loss instead.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from yoso.config import ConfigError, check_bool, check_choice, check_float, check_int, check_keys
from yoso.predictor.relaxed import CostMLP, MLPSettings, RelaxedEncoding
from yoso.search.constraints import Constraints
from yoso.search.evaluator import CandidateEvaluator
from yoso.search.history import History
from yoso.search.reward import Reward
from yoso.search.strategy import STRATEGY_RNG_KEY, OneShotStrategy, RunResources
from yoso.space.genotype import CELL_TYPES, NUM_INPUT_NODES
from yoso.space.joint import JointSpace

if TYPE_CHECKING:
    from pytorch_lightning.core.optimizer import LightningOptimizer

    from yoso.nn.hypernet import HyperNet

log = logging.getLogger("yoso")

#: Optimisers of the architecture logits.
ARCH_OPTIMIZERS = ("adam", "sgd")
#: Columns the differentiable search adds to history.csv: the simulator's figures of each exported candidate.
SIMULATED_COLUMNS = ("simulated_energy_mj", "simulated_latency_ms")


# --------------------------------------------------------------------------- the HDX rule


def hdx_gradient(grad_loss: torch.Tensor, grad_violation: torch.Tensor, margin: float) -> torch.Tensor:
    """HDX's gradient manipulation: ``grad_loss + lam * grad_violation`` with the least ``lam >= 0`` such that
    ``<result, grad_violation> >= margin * |grad_violation|^2``.

    A descent step ``-lr * result`` then changes the violation by ``-lr * <result, grad_violation>``
    ``<= -lr * margin * |grad_violation|^2 < 0`` to first order: it reduces the violation whatever
    the loss wants. Call it only while a constraint is violated (a feasible design keeps its gradient).
    """
    norm2 = grad_violation.pow(2).sum()
    if not torch.isfinite(norm2) or norm2 <= 0:
        return grad_loss
    lam = torch.clamp((margin * norm2 - (grad_loss * grad_violation).sum()) / norm2, min=0.0)
    return grad_loss + lam * grad_violation


def _flat_grad(value: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool = False) -> torch.Tensor:
    """The gradient of ``value`` with respect to ``params`` as one flat vector (zeros where a parameter is unused)."""
    grads = torch.autograd.grad(value, params, retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])


# --------------------------------------------------------------------------- the relaxed design


def pair_inclusion(edge_logits: torch.Tensor) -> torch.Tensor:
    """P(edge ``j`` is one of two draws without replacement), Plackett-Luce over ``edge_logits`` (sums to 2).

    ``P(j) = p_j (1 + sum_{k != j} p_k / (1 - p_k))``, computed in log space so that very sharp logits
    (a one-hot design) stay exact.
    """
    n = edge_logits.shape[-1]
    if n <= 2:
        return torch.ones_like(edge_logits)
    eye = torch.eye(n, dtype=torch.bool, device=edge_logits.device)
    others = edge_logits.unsqueeze(-2).masked_fill(eye, -math.inf)  # row k: every logit but k's
    log_odds = edge_logits - torch.logsumexp(others, dim=-1)  # log p_k / (1 - p_k)
    second = log_odds.unsqueeze(-2).masked_fill(eye, -math.inf)  # row j: log odds of every k != j
    log_second = torch.logsumexp(torch.cat([torch.zeros_like(edge_logits).unsqueeze(-1), second], -1), dim=-1)
    return torch.exp(torch.log_softmax(edge_logits, -1) + log_second)


class RelaxedDesign(nn.Module):
    """The continuous relaxation of the 44 decisions: per cell and node ``(inputs, ops)`` logits, and
    one logit vector per accelerator decision."""

    def __init__(self, space: JointSpace, init_noise: float = 1e-3, generator: torch.Generator | None = None):
        super().__init__()
        self.space = space
        self.encoding = RelaxedEncoding(space)
        self.nodes = self.encoding.nodes
        n_ops = len(space.cells.ops)
        self.alphas = nn.ParameterList(
            nn.Parameter(init_noise * torch.randn(node, n_ops, generator=generator))
            for _ in CELL_TYPES
            for node in self.nodes
        )
        self.accel_logits = nn.ParameterList(
            nn.Parameter(init_noise * torch.randn(v, generator=generator)) for v in self.encoding.accel_vocab
        )

    def node_alphas(self, cell: int) -> list[nn.Parameter]:
        n = len(self.nodes)
        return list(self.alphas)[cell * n : (cell + 1) * n]

    # ----------------------------------------------------------------- relaxed views

    def edge_weights(self) -> dict[str, list[torch.Tensor]]:
        """Per cell type, each node's ``(inputs, ops)`` expected edge occupancy (sums to 2 per node)."""
        out = {}
        for c, cell in enumerate(CELL_TYPES):
            weights = []
            for alpha in self.node_alphas(c):
                edge = pair_inclusion(torch.logsumexp(alpha, dim=1))
                weights.append(edge.unsqueeze(1) * torch.softmax(alpha, dim=1))
            out[cell] = weights
        return out

    @staticmethod
    def output_weights(edges: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Per cell type, each node's probability of feeding no later node (being in the output concat)."""
        out = {}
        for cell, weights in edges.items():
            used = [w.sum(1) for w in weights]  # P(node i reads input j), j < i
            loose = []
            for k in range(len(weights)):
                node = NUM_INPUT_NODES + k
                p = torch.ones((), device=weights[0].device)
                for later in range(k + 1, len(weights)):
                    p = p * (1 - used[later][node].clamp(0, 1))
                loose.append(p)
            out[cell] = torch.stack(loose)
        return out

    def accel_probs(self, tau: float = 1.0, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Choice probabilities of the accelerator decisions: Gumbel-softmax samples at temperature ``tau``
        with a ``generator``, else the plain softmax (the expected design)."""
        probs = []
        for logits in self.accel_logits:
            if generator is None:
                probs.append(torch.softmax(logits, -1))
                continue
            u = torch.rand(logits.shape, generator=generator).to(logits.device).clamp(1e-10, 1 - 1e-10)
            probs.append(torch.softmax((logits - torch.log(-torch.log(u))) / tau, -1))
        return probs

    def relaxed_encoding(
        self, edges: dict[str, list[torch.Tensor]] | None = None, accel: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The cost model's input for this design (expected one-hots); a hard design gives its exact encoding."""
        edges = edges if edges is not None else self.edge_weights()
        accel = accel if accel is not None else self.accel_probs()
        return self.encoding.join([w for cell in CELL_TYPES for w in edges[cell]], accel)

    def straight_through(
        self, edges: dict[str, list[torch.Tensor]] | None = None, accel: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """The exact encoding of the hard design (derived network, most probable accelerator choices of
        ``accel``) with the gradient of the relaxed encoding (straight-through estimator).

        The cost model is trained on hard designs only, so its value is taken where it is accurate;
        its gradient flows to every logit through the expected one-hots.
        """
        relaxed = self.relaxed_encoding(edges, accel)
        vector = self.derive()
        if accel is not None:
            vector[self.space.num_dnn_decisions :] = [int(p.argmax()) for p in accel]
        hard = torch.as_tensor(self.encoding.hard(vector[None])[0], dtype=relaxed.dtype, device=relaxed.device)
        return hard + relaxed - relaxed.detach()

    # ----------------------------------------------------------------- hard designs

    @torch.no_grad()
    def derive(self) -> np.ndarray:
        """The discrete candidate: per node its two most probable edges (as ``a`` the one from the lower
        input) with their strongest op, each accelerator decision's most probable choice; a ``(44,)`` encoding."""
        out: list[int] = []
        for c in range(len(CELL_TYPES)):
            for alpha in self.node_alphas(c):
                strength = torch.logsumexp(alpha, dim=1)
                first, second = sorted(torch.topk(strength, 2).indices.tolist())  # canonical order: lower input first
                ops = alpha.argmax(dim=1)
                out += [first, int(ops[first]), second, int(ops[second])]
        out += [int(logits.argmax()) for logits in self.accel_logits]
        return self.space.check(np.asarray(out, dtype=np.int64))[0]

    @torch.no_grad()
    def set_candidate(self, vector: Any, sharpness: float = 30.0) -> None:
        """Logits at the one-hot point of a candidate (each node's two edges must read distinct inputs)."""
        (vec,) = self.space.check(vector)
        nd = self.space.num_dnn_decisions
        for k, alpha in enumerate(self.alphas):
            in_a, op_a, in_b, op_b = vec[4 * k : 4 * k + 4]
            if in_a == in_b:
                raise ValueError(
                    f"{self.space.names[4 * k]}: both edges read input {in_a}; a relaxed node holds two distinct edges"
                )
            alpha.zero_()
            alpha[in_a, op_a] = alpha[in_b, op_b] = sharpness
        for d, logits in enumerate(self.accel_logits):
            logits.zero_()
            logits[vec[nd + d]] = sharpness

    def entropy(self) -> dict[str, float]:
        """Mean entropy of the edge and op distributions and of the accelerator choices (how decided the design is)."""
        with torch.no_grad():
            op = torch.stack([-(torch.softmax(a, 1) * torch.log_softmax(a, 1)).sum(1).mean() for a in self.alphas])
            acc = torch.stack([-(torch.softmax(a, 0) * torch.log_softmax(a, 0)).sum() for a in self.accel_logits])
        return {"op_entropy": float(op.mean()), "accel_entropy": float(acc.mean())}


# --------------------------------------------------------------------------- the strategy (config)


@dataclass(frozen=True)
class DifferentiableSettings:
    """The ``strategy=differentiable`` group, validated at start-up."""

    epochs: int = 20  # training epochs = candidates exported (one per epoch) to history.csv
    batches_per_epoch: int | None = None  # None: the whole training split (as trainer.limit_train_batches allows)
    weight_lr: float = 0.025  # HyperNet weights: SGD on the training split (DARTS' values)
    weight_momentum: float = 0.9
    weight_decay: float = 3e-4
    arch_optimizer: str = "adam"  # architecture + accelerator logits on the validation split: adam | sgd
    arch_lr: float = 0.2
    arch_weight_decay: float = 1e-3
    tau_max: float = 5.0  # Gumbel-softmax temperature of the accelerator decisions, annealed exponentially
    tau_min: float = 0.2  # ... from tau_max (first epoch) to tau_min (last epoch)
    hdx_margin: float = 2.0  # HDX: a violating step decreases the violation by >= this x |grad violation|^2
    safety_margin: float = 0.05  # the relaxed design must meet (1 - this) x each threshold (the cost model's error)
    init_noise: float = 1e-3  # logits start at this x N(0, 1) (seeded)
    calibrate: bool = True  # add log(simulated / predicted) of each exported candidate to the cost model's output
    cost_model: MLPSettings = MLPSettings()  # the differentiable cost MLP on the simulator samples of hw.predictor

    def __post_init__(self) -> None:
        p = "strategy"
        check_int(f"{p}.epochs", self.epochs, 1)
        if self.batches_per_epoch is not None:
            check_int(f"{p}.batches_per_epoch", self.batches_per_epoch, 1)
        check_float(f"{p}.weight_lr", self.weight_lr, at_least=0.0)
        check_float(f"{p}.weight_momentum", self.weight_momentum, at_least=0.0, less_than=1.0)
        check_float(f"{p}.weight_decay", self.weight_decay, at_least=0.0)
        check_choice(f"{p}.arch_optimizer", self.arch_optimizer, ARCH_OPTIMIZERS)
        check_float(f"{p}.arch_lr", self.arch_lr, greater_than=0.0)
        check_float(f"{p}.arch_weight_decay", self.arch_weight_decay, at_least=0.0)
        check_float(f"{p}.tau_min", self.tau_min, greater_than=0.0)
        check_float(f"{p}.tau_max", self.tau_max, at_least=self.tau_min)
        check_float(f"{p}.hdx_margin", self.hdx_margin, greater_than=0.0)
        check_float(f"{p}.safety_margin", self.safety_margin, at_least=0.0, less_than=1.0)
        check_float(f"{p}.init_noise", self.init_noise, at_least=0.0)
        check_bool(f"{p}.calibrate", self.calibrate)

    def tau(self, epoch: int) -> float:
        """Gumbel-softmax temperature of ``epoch``: exponential from ``tau_max`` (first) to ``tau_min`` (last)."""
        if self.epochs == 1:
            return self.tau_min
        return self.tau_max * (self.tau_min / self.tau_max) ** (min(epoch, self.epochs - 1) / (self.epochs - 1))


class DifferentiableStrategy(OneShotStrategy):
    """``strategy=differentiable``: :meth:`search` trains the LightningModule of :meth:`module` epoch by epoch under
    the engine, which checkpoints after every exported candidate; the pipeline hands them to the shared final step."""

    name = "differentiable"
    history_columns = SIMULATED_COLUMNS

    def __init__(self, space: JointSpace, seed: int = 0, cost_model: Mapping[str, Any] | None = None, **settings: Any):
        if space.precision is not None:  # the relaxation covers cells and accelerator only: never drop a decision
            raise ConfigError(
                "space.precisions",
                list(space.precision.bits),
                "null for strategy=differentiable (it relaxes cells and accelerator only, not precision), "
                "e.g. space=yoso",
            )
        if space.elastic:  # the relaxation covers cells and accelerator only: never drop a decision silently
            raise ConfigError(
                "space",
                "an elastic space (net.width, net.depth decisions)",
                "a space without network-scale decisions for strategy=differentiable, e.g. space=yoso "
                "(it relaxes cells and accelerator only)",
            )
        super().__init__(space, seed)
        known = set(DifferentiableSettings.__dataclass_fields__)
        check_keys("strategy", settings, sorted(known))
        self.settings = DifferentiableSettings(
            **settings, cost_model=MLPSettings.from_config(cost_model, "strategy.cost_model")
        )

        self.inputs: OneShotInputs | None = None

    @property
    def exports(self) -> int:
        return self.settings.epochs

    def prepare(self, run: RunResources) -> None:
        """Take from the run what the search trains and measures: the HyperNet, the cost MLP of this strategy's
        ``cost_model`` settings, the reference cost scoring each export, the data and a Trainer factory."""
        datamodule = run.datamodule()
        mlp = run.cost_model("mlp", settings=self.settings.cost_model)
        supernet = run.hypernet()
        cost, errors = mlp.module, mlp.held_out_errors()
        log.info(
            "differentiable cost model (MLP on %d reference samples): held-out MAPE energy %.2f %%, latency %.2f %%",
            mlp.setup.predictor.n_train,
            errors["energy_mape"],
            errors["latency_mape"],
        )
        self.inputs = OneShotInputs(
            supernet.net,
            cost,
            run.reward,
            run.reference_cost(),
            datamodule,
            int(supernet.hparams.bn_recalibration_batches),
            run.trainer,
        )

    def module(
        self,
        net: HyperNet,
        cost: CostMLP,
        reward: Reward,
        history: History,
        simulator: Any,
        datamodule: Any,
        bn_recalibration_batches: int,
        clock: Callable[[], float] | None = None,
    ) -> DifferentiableSearchModule:
        """The LightningModule searching this space with ``net``'s weights (trained further in place)."""
        return DifferentiableSearchModule(
            self.space,
            net,
            cost,
            reward,
            self.constraints or reward.constraints,
            self.settings,
            self.seed,
            history,
            simulator,
            datamodule,
            bn_recalibration_batches,
            clock,
        )

    def search(self, experiment: Any) -> None:
        """Train the module epoch by epoch; the engine's callback commits after each epoch's export."""
        from pytorch_lightning.utilities import CombinedLoader

        if self.inputs is None:
            raise RuntimeError("DifferentiableStrategy.search before prepare(): the pipeline hands it its inputs")
        i = self.inputs
        module = self.module(
            i.net,
            i.cost,
            i.reward,
            experiment.history,
            i.simulator,
            i.datamodule,
            i.bn_recalibration_batches,
            experiment.elapsed,
        )
        batches = self.settings.batches_per_epoch
        trainer = i.trainer(
            self.settings.epochs,
            [experiment.commit_callback()],
            **({"limit_train_batches": batches} if batches is not None else {}),
        )
        loaders = CombinedLoader(
            {"train": i.datamodule.train_dataloader(), "val": i.datamodule.val_dataloader()}, mode="max_size_cycle"
        )
        # the engine's file (plain data: its rows and RNG states beside Lightning's keys) opens with the safe loader
        trainer.fit(module, train_dataloaders=loaders, ckpt_path=experiment.resume_path, weights_only=True)

    def state_dict(self) -> dict[str, Any]:
        """Nothing beyond Lightning's keys: module, optimisers and the Gumbel RNG travel in the engine's checkpoint file."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore here: :meth:`search` resumes Lightning from the engine's checkpoint file."""


@dataclass(frozen=True)
class OneShotInputs:
    """What a differentiable search trains and measures: the HyperNet's network, the differentiable cost model, the
    reference cost scoring each export, the data and a ``(epochs, callbacks, **overrides) -> Trainer`` factory."""

    net: HyperNet
    cost: CostMLP
    reward: Reward
    simulator: Any
    datamodule: Any
    bn_recalibration_batches: int
    trainer: Callable[..., Any]


# --------------------------------------------------------------------------- the LightningModule


class DifferentiableSearchModule(pl.LightningModule):
    """Owns the bilevel training loop; appends each epoch's derived candidate to the history."""

    #: buffers (registered in __init__)
    log_limits: torch.Tensor
    log_cost_offset: torch.Tensor

    def __init__(
        self,
        space: JointSpace,
        net: HyperNet,
        cost: CostMLP,
        reward: Reward,
        constraints: Constraints,
        settings: DifferentiableSettings,
        seed: int,
        history: History,
        simulator: Any,
        datamodule: Any,
        bn_recalibration_batches: int,
        clock: Callable[[], float] | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.space, self.net, self.reward, self.constraints = space, net, reward, constraints
        self.settings, self.history, self.simulator = settings, history, simulator
        self.datamodule, self.bn_recalibration_batches = datamodule, bn_recalibration_batches
        self.cost = cost.requires_grad_(False).eval()
        # the shared candidate evaluator scores each export: accuracy of the current weights, the cost model's figures
        self.evaluator = CandidateEvaluator(self.candidate_accuracy, self.cost.predict, reward, constraints=constraints)
        started = time.perf_counter()
        self.clock = clock or (lambda: time.perf_counter() - started)  # the search's wall time (the engine's, resumed)
        seeds = np.random.SeedSequence(seed, spawn_key=(STRATEGY_RNG_KEY,)).generate_state(2)
        self.design = RelaxedDesign(space, settings.init_noise, torch.Generator().manual_seed(int(seeds[0])))
        self.gumbel = torch.Generator().manual_seed(int(seeds[1]))
        # the constraint of the relaxed design: predicted log cost <= log threshold + log(1 - safety margin)
        shrink = math.log(1.0 - settings.safety_margin)
        self.register_buffer(
            "log_limits", torch.tensor([math.log(constraints.t_eer_mj), math.log(constraints.t_lat_ms)]) + shrink
        )
        # log(simulated / predicted) of the last exported candidate: the cost model's bias near the current design,
        # measured by the simulator every epoch and added to every prediction (a constant: gradients unchanged)
        self.register_buffer("log_cost_offset", torch.zeros(2))
        self._stats: dict[str, list[float]] = {}

    # ----------------------------------------------------------------- optimisers

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        s = self.settings
        weights = torch.optim.SGD(
            self.net.parameters(), lr=s.weight_lr, momentum=s.weight_momentum, weight_decay=s.weight_decay
        )
        arch: torch.optim.Optimizer
        if s.arch_optimizer == "adam":
            arch = torch.optim.Adam(
                self.design.parameters(), lr=s.arch_lr, betas=(0.5, 0.999), weight_decay=s.arch_weight_decay
            )
        else:
            arch = torch.optim.SGD(self.design.parameters(), lr=s.arch_lr, weight_decay=s.arch_weight_decay)
        return [weights, arch]

    # ----------------------------------------------------------------- losses

    def predicted_log_cost(
        self, accel: list[torch.Tensor] | None = None, edges: dict[str, list[torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """``(2,)`` predicted log-energy (mJ) and log-latency (ms) of the design (straight-through: the value of
        the derived design, with ``accel``'s sampled accelerator if given; the gradient of the relaxed one)."""
        return self.cost(self.design.straight_through(edges, accel)) + self.log_cost_offset

    def violation(self, log_cost: torch.Tensor) -> torch.Tensor:
        """Sum of the log excesses over the (safety-shrunk) thresholds; 0 when feasible."""
        return F.relu(log_cost - self.log_limits).sum(-1)

    def arch_gradients(self, x: torch.Tensor, y: torch.Tensor, tau: float) -> dict[str, float]:
        """Set the logits' gradients for one validation batch (HDX-manipulated under hard constraints)."""
        params = list(self.design.parameters())
        edges = self.design.edge_weights()
        outputs = self.design.output_weights(edges)
        ce = F.cross_entropy(self.net.forward_relaxed(x, edges, outputs), y)
        sampled = self.predicted_log_cost(self.design.accel_probs(tau, self.gumbel), edges)
        energy, latency = torch.exp(sampled).unbind(-1)
        loss = ce - self.reward.hardware_terms(latency, energy)  # eq. 2's hardware terms, to maximise
        expected = self.predicted_log_cost(edges=edges)
        violation = self.violation(expected)
        if self.constraints.penalty > 0 and not self.constraints.hard:
            loss = loss + self.constraints.penalty * violation
        flat = _flat_grad(loss, params, retain_graph=True)
        manipulated = 0.0
        if self.constraints.hard and float(violation.detach()) > 0:
            flat = hdx_gradient(flat, _flat_grad(violation, params), self.settings.hdx_margin)
            manipulated = 1.0
        offset = 0
        for p in params:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        return {
            "arch_ce": float(ce.detach()),
            "violation": float(violation.detach()),
            "hdx_active": manipulated,
            "pred_energy_mj": float(torch.exp(expected[0]).detach()),
            "pred_latency_ms": float(torch.exp(expected[1]).detach()),
        }

    def training_step(self, batch: Mapping[str, tuple[torch.Tensor, torch.Tensor]], batch_idx: int) -> None:
        weights_opt, arch_opt = cast("list[LightningOptimizer]", self.optimizers())  # configure_optimizers' two
        tau = self.settings.tau(self.current_epoch)
        # 1. logits on a validation batch (first order: the weights are held fixed)
        arch_opt.zero_grad(set_to_none=True)
        stats = self.arch_gradients(*batch["val"], tau)
        arch_opt.step()
        # 2. weights on a training batch, at the updated (held fixed) logits
        with torch.no_grad():
            edges = self.design.edge_weights()
            outputs = self.design.output_weights(edges)
        x, y = batch["train"]
        weights_opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.net.forward_relaxed(x, edges, outputs), y)
        self.manual_backward(loss)
        weights_opt.step()
        stats["train_ce"] = float(loss.detach())
        for k, v in stats.items():
            self._stats.setdefault(k, []).append(v)

    # ----------------------------------------------------------------- per-epoch candidates

    def candidate_accuracy(self, vectors: np.ndarray) -> np.ndarray:
        """HyperNet accuracy of candidates with the current weights (BatchNorm recalibrated per candidate)."""
        from yoso.nn.evaluate import SubnetEvaluator

        calibration = [x.to(self.device) for x in self.datamodule.calibration_batches(self.bn_recalibration_batches)]
        evaluator = SubnetEvaluator(self.net, calibration, self.datamodule.val_tensors())
        return evaluator.accuracy([self.space.decode(v)[0] for v in vectors])

    def on_train_epoch_end(self) -> None:
        """Derive the epoch's candidate, measure it (HyperNet accuracy, predicted and simulated cost), append it."""
        vector = self.design.derive()
        _, accelerator = self.space.decode(vector)
        results = self.evaluator(vector[None])
        accuracy, energy, latency, reward = results.accuracy, results.energy_mj, results.latency_ms, results.reward
        sim_energy, sim_latency = (np.asarray(v, dtype=float) for v in self.simulator(vector[None]))
        if self.settings.calibrate:
            residual = np.log([sim_energy[0] / energy[0], sim_latency[0] / latency[0]])
            self.log_cost_offset.copy_(torch.as_tensor(residual, dtype=self.log_cost_offset.dtype))
        step = len(self.history)
        self.history.append(
            vector[None],
            results,
            step + 1,
            self.clock(),
            extra={SIMULATED_COLUMNS[0]: sim_energy, SIMULATED_COLUMNS[1]: sim_latency},
        )
        means = {k: float(np.mean(v)) for k, v in self._stats.items()}
        self._stats = {}
        metrics = {
            "search/reward": float(reward[0]),
            "search/accuracy": float(accuracy[0]),
            "search/energy_mj": float(energy[0]),
            "search/latency_ms": float(latency[0]),
            "search/simulated_energy_mj": float(sim_energy[0]),
            "search/simulated_latency_ms": float(sim_latency[0]),
            "search/best_reward": float(np.max(self.history.reward)),
            "differentiable/tau": self.settings.tau(self.current_epoch),
            **{f"differentiable/{k}": v for k, v in {**means, **self.design.entropy()}.items()},
        }
        self.log_dict(metrics)  # to the Trainer's loggers, once per epoch
        log.info(
            "epoch %d/%d: %s | A %.4f, predicted %.3f mJ %.3f ms, simulated %.3f mJ %.3f ms, R %.4f%s",
            step + 1,
            self.settings.epochs,
            accelerator,
            accuracy[0],
            energy[0],
            latency[0],
            sim_energy[0],
            sim_latency[0],
            reward[0],
            f", violation {means.get('violation', 0):.3f}" if means else "",
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gumbel_rng"] = self.gumbel.get_state()  # the module's own RNG, beside its state_dict

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.gumbel.set_state(checkpoint["gumbel_rng"])
