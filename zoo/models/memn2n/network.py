"""The End-To-End Memory Network (Sukhbaatar, Szlam, Weston, Fergus 2015) over 0-padded int64 word ids.

Padding never changes an answer, in every runtime: a pad word has a zero embedding and is masked, the
position encoding uses each sentence's own word count, an empty sentence is masked out of the memory
softmax, and the temporal encoding counts a memory's age back from the story's *last non-empty*
sentence (age 0 = most recent, as in the paper), so appending empty sentences or pad words is a no-op.
Everything is computed in the graph from ``ids != 0`` with one-hot matrices (Equal/MatMul), with no
data-dependent shapes.
"""

from __future__ import annotations

import torch
from torch import nn

NEG = -1e9  # logit of an empty memory


def position_weights(ids: torch.Tensor, dim: int) -> torch.Tensor:
    """The paper's l_kj = (1 - j/J) - (k/d)(1 - 2j/J) for ids (..., W) -> (..., W, d), J = the sentence's word count."""
    mask = (ids != 0).float()
    length = mask.sum(dim=-1, keepdim=True).clamp(min=1.0)[..., None]  # (..., 1, 1)
    # arange from 0 then + 1 on the tensor: a Range up to a runtime limit (W + 1 would be shape arithmetic)
    j = (torch.arange(ids.shape[-1], device=ids.device, dtype=torch.float32) + 1.0)[:, None]  # (W, 1)
    k = torch.arange(1, dim + 1, device=ids.device, dtype=torch.float32)[None, :] / dim  # (1, d)
    return (1 - j / length) - k * (1 - 2 * j / length)


class MemN2NNet(nn.Module):
    """forward(story (B, S, W), query (B, Wq)) int64 -> answer probabilities over the vocabulary (B, V)."""

    def __init__(self, vocab_size: int, dim: int, hops: int, memory_size: int, encoding: str = "position",
                 temporal: bool = True, tying: str = "adjacent") -> None:
        super().__init__()
        self.dim, self.hops, self.memory_size = dim, hops, memory_size
        self.position = encoding == "position"
        self.tying = tying
        tables = hops + 1 if tying == "adjacent" else 3  # adjacent: E_0..E_K; layer-wise: A, C, B
        self.embeddings = nn.ModuleList(nn.Embedding(vocab_size, dim, padding_idx=0) for _ in range(tables))
        for table in self.embeddings:
            nn.init.normal_(table.weight, std=0.1)
            with torch.no_grad():
                table.weight[0].zero_()
        times = (hops + 1 if tying == "adjacent" else 2) if temporal else 0
        self.temporal = nn.ParameterList(nn.Parameter(torch.randn(memory_size, dim) * 0.1) for _ in range(times))
        if tying == "layer-wise":
            self.H = nn.Linear(dim, dim, bias=False)
            self.W = nn.Linear(dim, vocab_size, bias=False)
            nn.init.normal_(self.H.weight, std=0.1)
            nn.init.normal_(self.W.weight, std=0.1)
        self.linear = False  # linear start (training only): no softmax over memories

    def _parts(self, k: int) -> tuple[nn.Embedding, nn.Embedding, torch.Tensor | None, torch.Tensor | None]:
        """(A, C, T_A, T_C) of hop k (0-based)."""
        if self.tying == "adjacent":
            a, c = self.embeddings[k], self.embeddings[k + 1]
            ta, tc = (self.temporal[k], self.temporal[k + 1]) if len(self.temporal) else (None, None)
        else:
            a, c = self.embeddings[0], self.embeddings[1]
            ta, tc = (self.temporal[0], self.temporal[1]) if len(self.temporal) else (None, None)
        return a, c, ta, tc

    def embed(self, table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        """Sentence vectors: (..., W) ids -> (..., d), the (position-weighted) sum of the word embeddings."""
        x = table(ids) * (ids != 0).float()[..., None]
        if self.position:
            x = x * position_weights(ids, self.dim)
        return x.sum(dim=-2)

    def logits(self, story: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        real = (story != 0).any(dim=-1)  # (B, S): non-empty sentences
        positions = torch.arange(story.shape[1], device=story.device)[None, :]
        last = (torch.where(real, positions + 1, torch.zeros_like(positions))).amax(dim=1, keepdim=True)  # (B, 1)
        age = last - 1 - positions  # 0 = the most recent sentence; negative after the last one
        slots = torch.arange(self.memory_size, device=story.device)
        age_onehot = (age[:, :, None] == slots[None, None, :]).float()  # (B, S, M); zero rows beyond M
        u = self.embed(self.embeddings[0] if self.tying == "adjacent" else self.embeddings[2], query)
        for k in range(self.hops):
            a, c, ta, tc = self._parts(k)
            m, cm = self.embed(a, story), self.embed(c, story)
            if ta is not None and tc is not None:
                m = m + age_onehot @ ta
                cm = cm + age_onehot @ tc
            scores = (m @ u[:, :, None])[..., 0]  # (B, S)
            if self.linear:
                p = scores * real.float()
            else:
                p = torch.softmax(torch.where(real, scores, torch.full_like(scores, NEG)), dim=-1)
            o = (p[:, None, :] @ cm)[:, 0, :]
            u = (u if self.tying == "adjacent" else self.H(u)) + o
        if self.tying == "adjacent":
            return u @ self.embeddings[-1].weight.t()
        return self.W(u)

    def forward(self, story: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(story, query), dim=-1)
