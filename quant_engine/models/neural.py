"""PyTorch alpha models: an MLP on each day's features, and LSTM, TCN and Transformer
encoders over the last ``lookback`` days. One trainer serves them all: seeded, deterministic on
CPU, early stopping on the validation slice, on a GPU when one is present."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import torch
from torch import nn

from quant_engine.models.base import Validation
from quant_engine.models.panel import Panel

Architecture = Literal["mlp", "lstm", "tcn", "transformer"]


@dataclass(frozen=True)
class NeuralConfig:
    """Architecture and training settings of a neural alpha model."""

    architecture: Architecture = "lstm"
    lookback: int = 20  # days per window (the MLP sees one day)
    hidden: int = 32
    layers: int = 2
    heads: int = 4  # transformer attention heads
    dropout: float = 0.1
    epochs: int = 20
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 3  # epochs without validation improvement before stopping
    seed: int = 0
    device: str = "auto"  # auto: CUDA when available, else CPU

    def __post_init__(self) -> None:
        if self.architecture not in ("mlp", "lstm", "tcn", "transformer"):
            raise ValueError(f"unknown architecture {self.architecture!r}")
        if self.hidden % self.heads and self.architecture == "transformer":
            raise ValueError("hidden must be a multiple of heads for the transformer")
        if min(self.lookback, self.hidden, self.layers, self.epochs, self.batch_size) < 1:
            raise ValueError("lookback, hidden, layers, epochs and batch_size must be positive")

    @property
    def sequential(self) -> bool:
        return self.architecture != "mlp"


class _MLP(nn.Module):
    def __init__(self, n_features: int, cfg: NeuralConfig) -> None:
        super().__init__()
        blocks, width = [], n_features
        for _ in range(cfg.layers):
            blocks += [nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = cfg.hidden
        self.body = nn.Sequential(*blocks, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


class _LSTM(nn.Module):
    def __init__(self, n_features: int, cfg: NeuralConfig) -> None:
        super().__init__()
        dropout = cfg.dropout if cfg.layers > 1 else 0.0
        self.rnn = nn.LSTM(n_features, cfg.hidden, cfg.layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(x)
        return self.head(output[:, -1]).squeeze(-1)


class _CausalBlock(nn.Module):
    """Dilated causal convolution with a residual connection (left padding only)."""

    def __init__(self, channels_in: int, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.pad = 2 * dilation  # kernel 3
        self.conv = nn.Conv1d(channels_in, channels, kernel_size=3, dilation=dilation)
        self.skip = nn.Conv1d(channels_in, channels, 1) if channels_in != channels else None
        self.out = nn.Sequential(nn.ReLU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(self.conv(nn.functional.pad(x, (self.pad, 0))))
        return y + (x if self.skip is None else self.skip(x))


class _TCN(nn.Module):
    def __init__(self, n_features: int, cfg: NeuralConfig) -> None:
        super().__init__()
        widths = [n_features] + [cfg.hidden] * cfg.layers
        self.blocks = nn.Sequential(
            *(_CausalBlock(widths[i], widths[i + 1], 2**i, cfg.dropout) for i in range(cfg.layers))
        )
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(x.transpose(1, 2))  # (batch, channels, time)
        return self.head(y[:, :, -1]).squeeze(-1)


class _Transformer(nn.Module):
    def __init__(self, n_features: int, cfg: NeuralConfig) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, cfg.hidden)
        position = torch.arange(cfg.lookback, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, cfg.hidden, 2) * (-math.log(10_000.0) / cfg.hidden))
        encoding = torch.zeros(cfg.lookback, cfg.hidden)
        encoding[:, 0::2] = torch.sin(position * freq)
        encoding[:, 1::2] = torch.cos(position * freq[: cfg.hidden // 2])
        self.register_buffer("position", encoding)
        layer = nn.TransformerEncoderLayer(
            cfg.hidden, cfg.heads, 2 * cfg.hidden, cfg.dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.encoder(self.embed(x) + self.position)
        return self.head(y[:, -1]).squeeze(-1)


NETWORKS = {"mlp": _MLP, "lstm": _LSTM, "tcn": _TCN, "transformer": _Transformer}


class NeuralModel:
    """A PyTorch network following the :class:`AlphaModel` protocol."""

    def __init__(self, config: NeuralConfig | None = None) -> None:
        self.config = config or NeuralConfig()
        self.network: nn.Module | None = None
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.epochs_trained = 0
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu")
            if self.config.device == "auto"
            else self.config.device
        )

    @property
    def history_rows(self) -> int:
        """Rows of a symbol up to a sample that its score reads (its window, or the row)."""
        return self.config.lookback if self.config.sequential else 1

    def _inputs(self, panel: Panel, index: np.ndarray) -> torch.Tensor:
        cfg = self.config
        raw = panel.windows(index, cfg.lookback) if cfg.sequential else panel.rows(index)
        x = np.nan_to_num((raw - self.mean) / self.scale)  # unknown steps become the mean
        return torch.from_numpy(x.astype(np.float32)).to(self.device)

    def _batches(self, n: int, order: np.ndarray | None = None):
        """Slices of positions ``0..n-1`` (in ``order`` if given), one batch each."""
        positions = np.arange(n) if order is None else order
        for start in range(0, n, self.config.batch_size):
            yield positions[start : start + self.config.batch_size]

    def _loss(self, panel: Panel, index: np.ndarray, target: np.ndarray) -> float:
        targets = torch.from_numpy(target.astype(np.float32)).to(self.device)
        total = 0.0
        with torch.no_grad():
            for batch in self._batches(index.size):
                prediction = self.network(self._inputs(panel, index[batch]))
                loss = nn.functional.mse_loss(prediction, targets[batch], reduction="sum")
                total += float(loss)
        return total / index.size

    def fit(
        self, panel: Panel, index: np.ndarray, target: np.ndarray, valid: Validation | None = None
    ) -> Self:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        mean, scale = panel.standardization(index)
        self.mean, self.scale = mean.astype(np.float32), scale.astype(np.float32)
        self.network = NETWORKS[cfg.architecture](panel.n_features, cfg).to(self.device)
        optimizer = torch.optim.AdamW(
            self.network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        targets = torch.from_numpy(target.astype(np.float32)).to(self.device)
        best, best_state, stale = math.inf, None, 0
        for epoch in range(cfg.epochs):
            self.network.train()
            for batch in self._batches(index.size, rng.permutation(index.size)):
                optimizer.zero_grad()
                prediction = self.network(self._inputs(panel, index[batch]))
                nn.functional.mse_loss(prediction, targets[batch]).backward()
                optimizer.step()
            self.epochs_trained = epoch + 1
            if valid is None:
                continue
            self.network.eval()
            loss = self._loss(panel, *valid)
            if loss < best - 1e-9:
                best, best_state, stale = loss, copy.deepcopy(self.network.state_dict()), 0
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        if best_state is not None:
            self.network.load_state_dict(best_state)
        self.network.eval()
        return self

    def predict(self, panel: Panel, index: np.ndarray) -> np.ndarray:
        if self.network is None:
            raise RuntimeError("NeuralModel.predict called before fit")
        self.network.eval()
        with torch.no_grad():
            parts = [
                self.network(self._inputs(panel, index[batch])).cpu().numpy()
                for batch in self._batches(index.size)
            ]
        return np.concatenate(parts).astype(float) if parts else np.empty(0)
