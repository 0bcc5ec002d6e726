"""PNG charts: accuracy by group with 95% interval bars, reliability diagram, ablation grouped bars."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _finish(fig, ax, path: Path, title: str, ylabel: str, legend: bool = True) -> Path:
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def accuracy_chart(groups: dict[str, dict], path: Path, title: str) -> Path:
    names = [g for g, m in groups.items() if m.get("n")]
    acc = [groups[g]["accuracy"] for g in names]
    lo = [max(0.0, a - groups[g]["ci95"][0]) for a, g in zip(acc, names)]  # float error at 0 and 1
    hi = [max(0.0, groups[g]["ci95"][1] - a) for a, g in zip(acc, names)]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 3.5))
    ax.bar(names, acc, yerr=[lo, hi], capsize=5, color="#4C72B0")
    for i, g in enumerate(names):
        ch = groups[g].get("chance")
        if ch is not None:
            ax.hlines(ch, i - 0.4, i + 0.4, colors="red", linestyles="dashed", label="chance" if i == 0 else None)
        ax.text(i, 0.02, f"n={groups[g]['n']}", ha="center", fontsize=8, color="white")
    return _finish(fig, ax, path, title, "accuracy (95% Wilson)", legend=bool(names))


def reliability_chart(bins: list[dict], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    xs = [b["confidence"] for b in bins if b["n"]]
    ys = [b["accuracy"] for b in bins if b["n"]]
    ns = [b["n"] for b in bins if b["n"]]
    ax.scatter(xs, ys, s=[20 + 4 * n for n in ns], color="#DD8452", label="bins (size = n)")
    ax.plot(xs, ys, color="#DD8452", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence (max probability)")
    return _finish(fig, ax, path, title, "accuracy")


def grouped_bars(table: dict[str, dict[str, float]], groups: list[str], path: Path, title: str) -> Path:
    """``table[variant][group]`` accuracies → grouped bars (one colour per group)."""
    import numpy as np

    variants = list(table)
    x = np.arange(len(variants))
    w = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(variants) + 2), 4))
    for j, g in enumerate(groups):
        vals = [table[v].get(g) or 0.0 for v in variants]
        ax.bar(x + (j - (len(groups) - 1) / 2) * w, vals, w, label=g)
    ax.set_xticks(x)
    ax.set_xticklabels(variants, rotation=30, ha="right", fontsize=8)
    return _finish(fig, ax, path, title, "accuracy")
