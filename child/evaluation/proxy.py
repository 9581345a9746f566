"""Zero-cost proxies (`evaluator=proxy`): score a child at initialisation, without training it.

Each proxy builds the child's network with the child's seed (as training would start it) and
scores it on `batches` fixed training minibatches of `batch_size` (the same ones for every
child of a run, drawn with the run's seed), in milliseconds on a CPU:

- `params`: trainable parameters; `flops`: forward FLOPs of one example (convolutions and
  matmuls, a multiply-add = 2, as `torch.utils.flop_counter` counts them). No data.
- `synflow` (Tanaka et al. 2020, as Abdelfattah et al. 2021 score a network): all weights and
  buffers made positive, in double precision, BatchNorm in eval mode (at initialisation an
  affine identity), one all-ones input; Σ |θ · ∂R/∂θ| over the conv and linear weights, with
  R the sum of the outputs. No data.
- `snip` (Lee et al. 2019): Σ |θ · ∂L/∂θ| over the conv and linear weights, L the
  cross-entropy of the minibatches (train mode: BatchNorm uses batch statistics).
- `grad_norm`: Σ over the conv and linear layers of ‖∂L/∂W‖ (Frobenius), same L.
- `jacob_cov` (Mellor et al. 2021 v1): J = ∂(Σ outputs)/∂x per example; the score is
  −Σ [log(λ + k) + 1/(λ + k)] over the eigenvalues λ of J's correlation matrix, k = 1e-5,
  averaged over the minibatches.
- `naswot` (Mellor et al. 2021): the binary code of an example is the sign of every
  pre-activation of every activation module (ReLU, and as a documented fallback Tanh, Sigmoid,
  GELU, LeakyReLU, whose output also flips where the input does); K_H[i, j] = units where
  examples i and j agree; the score is log|K_H|, averaged over the minibatches. A space whose
  networks have no activation modules (the recurrent space applies its activations as
  functions) is refused.

Proxies combine with `+` (`snip+params`): each is normalised on its own (below) and the
reward is the mean of their rewards, about the mean of the child's percentiles; the ranking
benchmark found such a pair closer to training alone than either proxy on the default space.

Larger is better for every proxy. The raw score is recorded (`val_acc` and
`report["proxy_<name>"]`, labelled by `ProxyEvaluatorConfig.value_label`); the controller's
reward is the score normalised against `reference` architectures sampled from the space with
the run's seed (`ProxyNormaliser`), a number in (0, 1) that grows with the score everywhere.
`proxy_scores` scores a list of architectures, for benchmarks.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from child.data.datasets import DataSplits, load_dataset
from child.evaluation.costs import count_params
from child.evaluation.evaluator import (
    ChildJob,
    Evaluator,
    EvaluatorDef,
    EvaluatorSetup,
    InTurnEvaluator,
    child_seed,
)
from child.evaluation.result import ChildResult, Status
from child.evaluation.trainer import resolve_device, torch_threads
from child.spaces import SpaceConfig, build_network, build_space
from core.architecture import Architecture
from core.errors import ConfigError, require

PROXIES = ("params", "flops", "synflow", "snip", "grad_norm", "jacob_cov", "naswot")
# Positive scores that multiply up through the layers: normalised on a log scale.
LOG_SCALED = frozenset({"params", "flops", "synflow", "snip", "grad_norm"})
# Proxies that read no data: their minibatch settings are not used.
DATA_FREE = frozenset({"params", "flops", "synflow"})
# Modules whose output is positive exactly where their input is (naswot's binary codes).
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.SiLU)
JACOB_K = 1e-5  # Mellor et al.'s regulariser of the correlation eigenvalues
# Seeds of the reference architectures and of the minibatches: apart from every child's seed.
_REFERENCE_STREAM = 0x70726F78  # "prox"
_BATCH_STREAM = 0x62617463  # "batc"


@dataclass
class ProxyEvaluatorConfig:
    """`evaluator=proxy`: score children by a zero-cost proxy at initialisation, untrained."""

    name: str = "proxy"
    proxy: str = "params"  # one of PROXIES, or several joined by + (snip+params)
    batches: int = 1  # training minibatches a data-reading proxy sees
    batch_size: int = 64
    # Architectures sampled from the space (with the run's seed) whose scores normalise the
    # reward: reward = Φ((t(score) − median) / (IQR / 1.349)), t = log for LOG_SCALED proxies.
    reference: int = 64

    def check(self, key: str = "evaluator") -> None:
        """A known proxy, counts that can work (errors name `<key>.<setting>`)."""
        self.check_proxy(f"{key}.proxy")
        require(self.batches >= 1, f"{key}.batches", self.batches, "an int >= 1")
        require(self.batch_size >= 2, f"{key}.batch_size", self.batch_size, "an int >= 2")
        require(self.reference >= 8, f"{key}.reference", self.reference, "an int >= 8")

    def check_proxy(self, key: str) -> None:
        """A known proxy, or distinct known ones joined by + (errors name `key`)."""
        parts = self.parts
        require(
            all(part in PROXIES for part in parts) and len(set(parts)) == len(parts),
            key,
            self.proxy,
            f"one of {list(PROXIES)}, or distinct ones joined by + (snip+params)",
        )

    @property
    def parts(self) -> tuple[str, ...]:
        """The proxies combined: ("snip", "params") for snip+params; one for a single proxy."""
        return tuple(self.proxy.split("+"))

    @property
    def value_label(self) -> str:
        """What a child's `val_acc` holds: `proxy_<name>`, the raw score (combined: the reward)."""
        return f"proxy_{self.proxy}"

    @property
    def value_meaning(self) -> str:
        """The label in words, for the summary."""
        if len(self.parts) > 1:
            return (
                f"mean of the normalised zero-cost proxies {', '.join(self.parts)} at "
                "initialisation (a score in (0, 1), not an accuracy)"
            )
        return f"zero-cost proxy {self.proxy} at initialisation (a score, not an accuracy)"


# ---------------------------------------------------------------------------------- the proxies


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    """The conv and linear layers: the weights the gradient proxies sum over."""
    return [m for m in net.modules() if isinstance(m, nn.Linear | nn.modules.conv._ConvNd)]


def synflow(net: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Σ |θ ∂R/∂θ| of the conv/linear weights, with |θ| everywhere, BN in eval, input 1s."""
    net = net.double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    device = next(net.parameters()).device
    net.zero_grad()
    net(torch.ones(1, *input_shape, dtype=torch.float64, device=device)).sum().backward()
    return _sum_layers(net, lambda w: (w * w.grad).abs().sum())


def _loss_gradients(net: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Accumulate ∂L/∂θ of the mean cross-entropy over the minibatches (train mode)."""
    net.train()
    net.zero_grad()
    for x, y in batches:
        (F.cross_entropy(net(x), y) / len(batches)).backward()


def snip(net: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Σ |θ ∂L/∂θ| of the conv/linear weights."""
    _loss_gradients(net, batches)
    return _sum_layers(net, lambda w: (w * w.grad).abs().sum())


def grad_norm(net: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Σ over conv/linear layers of ‖∂L/∂W‖."""
    _loss_gradients(net, batches)
    return _sum_layers(net, lambda w: w.grad.norm())


def _sum_layers(net: nn.Module, term) -> float:  # noqa: ANN001 (a tensor → tensor function)
    total = 0.0
    with torch.no_grad():
        for layer in _weighted_layers(net):
            if layer.weight.grad is not None:
                total += float(term(layer.weight))
    return total


def jacob_cov(net: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean over minibatches of −Σ [log(λ + k) + 1/(λ + k)], λ: eigenvalues of corr(J)."""
    net.train()
    scores = []
    for x, _ in batches:
        x = x.clone().requires_grad_(True)
        net.zero_grad()
        net(x).sum().backward()
        jacobian = x.grad.reshape(len(x), -1).double().cpu().numpy()
        scores.append(jacob_cov_score(jacobian))
    return float(np.mean(scores))


def jacob_cov_score(jacobian: np.ndarray) -> float:
    """−Σ [log(λ + k) + 1/(λ + k)] over the eigenvalues of the rows' correlation matrix."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jacobian)
    if not np.all(np.isfinite(corr)):
        return math.nan  # an example whose input gradient is constant: no correlation
    eig = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    return float(-np.sum(np.log(eig + JACOB_K) + 1.0 / (eig + JACOB_K)))


def activation_modules(net: nn.Module) -> list[nn.Module]:
    """The activation modules whose inputs' signs make naswot's binary codes."""
    return [m for m in net.modules() if isinstance(m, ACTIVATIONS)]


def naswot(net: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean over minibatches of log|K_H|, K_H[i, j] = units where i and j have the same sign."""
    modules = activation_modules(net)
    if not modules:
        raise ValueError("naswot needs activation modules (ReLU, Tanh, ...); this network has none")
    net.train()
    return float(np.mean([naswot_score(hamming_kernel(net, modules, x)) for x, _ in batches]))


def hamming_kernel(net: nn.Module, modules: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """K_H of one minibatch: for each pair of examples, the units whose codes agree."""
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        # A pre-hook: an in-place ReLU has not yet overwritten its input.
        code = (inputs[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(code @ code.T + (1 - code) @ (1 - code).T)

    handles = [m.register_forward_pre_hook(count) for m in modules]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    return kernel


def naswot_score(kernel: torch.Tensor) -> float:
    """log|K_H|; NaN when K_H is singular (two examples with the same code everywhere)."""
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else math.nan


def flops(net: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Forward FLOPs of one example (eval mode), as `torch.utils.flop_counter` counts them."""
    net.eval()
    weight = next(net.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, *input_shape, dtype=weight.dtype, device=weight.device))
    return float(counter.get_total_flops())


def score_network(
    net: nn.Module,
    proxy: str,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    input_shape: tuple[int, ...],
) -> float:
    """The raw score of `net` (freshly initialised; it may be changed) under `proxy`."""
    if proxy == "params":
        return float(count_params(net))
    if proxy == "flops":
        return flops(net, input_shape)
    if proxy == "synflow":
        return synflow(net, input_shape)
    if proxy == "snip":
        return snip(net, batches)
    if proxy == "grad_norm":
        return grad_norm(net, batches)
    if proxy == "jacob_cov":
        return jacob_cov(net, batches)
    if proxy == "naswot":
        return naswot(net, batches)
    raise ValueError(f"unknown proxy {proxy!r}: expected one of {', '.join(PROXIES)}")


# ------------------------------------------------------------------------- scoring children


def minibatches(
    data: DataSplits, batches: int, batch_size: int, seed: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`batches` disjoint training minibatches drawn with `seed` (fewer if the split is small)."""
    n = len(data.train_y)
    order = np.random.default_rng([seed, _BATCH_STREAM]).permutation(n)
    size = min(batch_size, n)
    chosen = [order[i * size : (i + 1) * size] for i in range(min(batches, n // size))]
    return [
        (
            data.train_x[torch.as_tensor(idx)].to(device),
            data.train_y[torch.as_tensor(idx)].to(device),
        )
        for idx in chosen
    ]


def score_child(
    arch: Architecture,
    seed: int,
    proxy: str,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    data: DataSplits,
    space_cfg: SpaceConfig,
    device: torch.device,
) -> tuple[float, int]:
    """(raw score, parameters) of `arch` initialised with `seed`; raises on a failed build."""
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = build_network(arch, data.input_shape, data.num_classes, space_cfg).to(device)
        params = count_params(net)
        score = score_network(net, proxy, batches, data.input_shape)
    return score, params


def proxy_scores(
    archs: Sequence[Architecture],
    data: DataSplits,
    space_cfg: SpaceConfig,
    proxy: str,
    seed: int,
    batches: int = 1,
    batch_size: int = 64,
    device: str = "cpu",
) -> list[float]:
    """Raw scores of `archs` (child i initialised with `child_seed(seed, i)`); NaN: undefined.

    The same minibatches (drawn with `seed`) serve every architecture. Larger is better.
    """
    where = resolve_device(device)
    chosen = minibatches(data, batches, batch_size, seed, where)
    return [
        score_child(arch, child_seed(seed, i), proxy, chosen, data, space_cfg, where)[0]
        for i, arch in enumerate(archs)
    ]


def proxy_rewards(
    archs: Sequence[Architecture],
    proxy: str,
    batch_size: int,
    data: DataSplits,
    space_cfg: SpaceConfig,
    seed: int,
) -> list[float]:
    """The rewards `evaluator=proxy` would give `archs`; an undefined score gets 0, the lowest.

    Child i is initialised with `child_seed(seed, i)`.
    """
    cfg = ProxyEvaluatorConfig(proxy=proxy, batch_size=batch_size)
    scorer = ProxyEvaluator(cfg, data, space_cfg, seed, data.train_x.device)
    jobs = [ChildJob(i, arch, child_seed(seed, i)) for i, arch in enumerate(archs)]
    results = [scorer.evaluate_one(job) for job in jobs]
    return [r.reward if r.status == Status.OK else 0.0 for r in results]


class ProxyNormaliser:
    """Score → reward in (0, 1): Φ of the score standardised against reference scores.

    t = log(score) for LOG_SCALED proxies (log 0 = −∞ → reward 0), else the score itself;
    reward = Φ((t − median t_ref) / (IQR(t_ref) / 1.349)): about the score's percentile among
    random architectures of the space, strictly increasing in the score (so every controller,
    and the best child, order children as the raw scores do), robust to outliers.
    """

    def __init__(self, proxy: str, reference: Sequence[float]) -> None:
        self.log = proxy in LOG_SCALED
        values = [t for t in (self.transform(s) for s in reference) if math.isfinite(t)]
        if len(values) < 2:
            self.center, self.scale = (values[0] if values else 0.0), 1.0
            return
        self.center = statistics.median(values)
        q1, _, q3 = statistics.quantiles(values, n=4)
        spread = (q3 - q1) / 1.349 or statistics.pstdev(values)
        self.scale = spread if spread > 0 else 1.0

    def transform(self, score: float) -> float:
        """The score on the scale it is standardised on."""
        if not self.log:
            return score
        return math.log(score) if score > 0 else -math.inf

    def __call__(self, score: float) -> float:
        """The reward of `score`."""
        z = (self.transform(score) - self.center) / self.scale
        return 0.5 * math.erfc(-z / math.sqrt(2))


class ProxyEvaluator(InTurnEvaluator):
    """Scores each child by its proxy at initialisation; reward = the normalised score."""

    def __init__(
        self,
        cfg: ProxyEvaluatorConfig,
        data: DataSplits,
        space_cfg: SpaceConfig,
        seed: int,
        device: torch.device,
        threads: int = 1,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.data = data
        self.space_cfg = space_cfg
        self.device = device
        self.threads = threads
        self.batches = minibatches(data, cfg.batches, cfg.batch_size, seed, device)
        reference = self._reference_scores(seed)
        self.normalisers = {p: ProxyNormaliser(p, reference[p]) for p in cfg.parts}

    def _reference_scores(self, seed: int) -> dict[str, list[float]]:
        """Each proxy's scores of `reference` architectures sampled apart from children."""
        space = build_space(self.space_cfg)
        rng = np.random.default_rng([seed, _REFERENCE_STREAM])
        scores: dict[str, list[float]] = {p: [] for p in self.cfg.parts}
        with torch_threads(self.threads):
            for i in range(self.cfg.reference):
                arch = space.sample(rng)
                init = int(
                    np.random.SeedSequence([seed, _REFERENCE_STREAM, i]).generate_state(1)[0]
                )
                try:
                    for part, score in self._scores(arch, init)[0].items():
                        scores[part].append(score)
                except Exception:  # noqa: BLE001 (an unbuildable sample just does not count)
                    continue
        return scores

    def _scores(self, arch: Architecture, seed: int) -> tuple[dict[str, float], int]:
        """Each proxy's raw score of `arch` initialised with `seed`, and its parameters."""
        scores, params = {}, 0
        for part in self.cfg.parts:  # a fresh network each: synflow rewrites the weights
            scores[part], params = score_child(
                arch, seed, part, self.batches, self.data, self.space_cfg, self.device
            )
        return scores, params

    def normalise(self, scores: dict[str, float]) -> float:
        """The reward: the mean of each proxy's normalised score."""
        return sum(self.normalisers[p](s) for p, s in scores.items()) / len(scores)

    def evaluate_one(self, job: ChildJob) -> ChildResult:
        """The job's proxy score; a failed build or an undefined score fails the child."""
        start = time.perf_counter()
        with torch_threads(self.threads):
            try:
                scores, params = self._scores(job.arch, job.seed)
            except Exception as err:  # any failure is this child's failure, not the search's
                message = f"{self.cfg.proxy} failed: {type(err).__name__}: {err}"
                return ChildResult.failed(job.index, job.arch, Status.ERROR, message)
        seconds = time.perf_counter() - start
        undefined = {p: s for p, s in scores.items() if not math.isfinite(s)}
        if undefined:
            part, score = next(iter(undefined.items()))
            message = f"{part} is undefined for this network (score {score})"
            return ChildResult.failed(job.index, job.arch, Status.ERROR, message, params, seconds)
        reward = self.normalise(scores)
        # One proxy: its raw score; several: their combined reward (raw scales do not add up).
        value = scores[self.cfg.proxy] if len(scores) == 1 else reward
        return ChildResult(
            index=job.index,
            arch=job.arch,
            reward=reward,
            val_acc=value,
            params=params,
            seconds=seconds,
            val_curve=(value,),
            report={self.cfg.value_label: value, **{f"proxy_{p}": s for p, s in scores.items()}},
        )


def check_proxy_reward(evaluator: str, reward: Any) -> None:
    """The reward of a proxy child is its normalised score: only reward=val_acc says so."""
    if getattr(reward, "name", "val_acc") != "val_acc" or reward.metric != "accuracy":
        raise ConfigError(
            f"reward={reward.name} (metric {reward.metric}) is invalid with "
            f"evaluator={evaluator}: expected reward=val_acc with metric accuracy (a proxy "
            "child's reward is its normalised proxy score)"
        )


def check_naswot_space(proxy: str, space_cfg: SpaceConfig, data: DataSplits) -> None:
    """Refuse naswot on a space whose networks have no activation modules to read codes from."""
    if proxy != "naswot":
        return
    probe = build_space(space_cfg).sample(np.random.default_rng(0))
    net = build_network(probe, data.input_shape, data.num_classes, space_cfg)
    if not activation_modules(net):
        raise ConfigError(
            f"evaluator.proxy='naswot' is invalid with search_space={space_cfg.name}: expected a "
            "space whose networks have activation modules to read binary codes from (its "
            "networks apply activations as functions; use another proxy)"
        )


def build_proxy(setup: EvaluatorSetup) -> tuple[Evaluator, DataSplits]:
    """The proxy evaluator, with the data set it draws minibatches from."""
    cfg: ProxyEvaluatorConfig = setup.evaluator
    check_proxy_reward(cfg.name, setup.reward)
    device = resolve_device(setup.child.device)
    data = load_dataset(setup.dataset, setup.seed).to(device)
    for part in cfg.parts:
        check_naswot_space(part, setup.space, data)
    evaluator = ProxyEvaluator(cfg, data, setup.space, setup.seed, device, setup.child.threads)
    return evaluator, data


EVALUATOR = EvaluatorDef(name="proxy", config=ProxyEvaluatorConfig, build=build_proxy)
