"""Latency of a network on its device: the median time of one example's forward pass."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


@torch.no_grad()
def measure_latency_ms(
    net: nn.Module, input_shape: tuple[int, ...], device: torch.device, repeats: int = 20
) -> float:
    """Median milliseconds of `net` on one example (batch of 1), after two warm-up passes."""
    net.eval()
    x = torch.randn(1, *input_shape, device=device)
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        net(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:  # the first passes pay for allocation and kernel selection
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def count_params(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
