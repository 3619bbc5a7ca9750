"""PNG figure of per-category rates of several result folders, with their 95% intervals as error bars."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.bench.report import estimate_of


def category_png(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> bytes:
    """Grouped bars as PNG: all-pass rate (top) and DRFR (bottom) per category and overall, one bar per report."""
    import matplotlib

    matplotlib.use(
        "Agg"
    )  # must precede pyplot: files only, no display (as pipeline.publish.dataset draws its figures)
    import matplotlib.pyplot as plt

    names: list[str] = []
    for report in reports:
        names += [r["name"] for r in report["categories"] if r["name"] not in names]
    names.append("overall")
    x = np.arange(len(names))
    width = 0.8 / max(1, len(reports))
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, 0.9 * len(names) + 2), 7), sharex=True)
    for ax, (metric, title) in zip(axes, (("all_pass", "all-pass rate"), ("drfr", "DRFR")), strict=True):
        for k, (report, label) in enumerate(zip(reports, labels, strict=True)):
            rows = {r["name"]: r for r in [*report["categories"], report["overall"]]}
            values, lower, upper = [], [], []
            for name in names:
                if name in rows:
                    e = estimate_of(rows[name], metric)
                    values.append(100 * e.value)
                    lower.append(100 * (e.value - e.low))
                    upper.append(100 * (e.high - e.value))
                else:
                    values.append(np.nan)
                    lower.append(0.0)
                    upper.append(0.0)
            ax.bar(
                x + (k - (len(reports) - 1) / 2) * width, values, width, yerr=[lower, upper], capsize=2, label=label
            )
        ax.set_ylabel(f"{title} (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title("Per-category rates with 95% bootstrap intervals")
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(x, names, rotation=35, ha="right")
    fig.tight_layout()
    sink = io.BytesIO()
    try:
        fig.savefig(sink, format="png", dpi=110)
    finally:
        plt.close(fig)
    return sink.getvalue()
