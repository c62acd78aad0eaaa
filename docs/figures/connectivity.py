"""Draws docs/figures/connectivity.png: the named dataflows and a NAAS connectivity as points of one description.

Each panel is a PE array: the loop dimensions its rows and columns unroll, the operand its PEs hold, and how the
other operands move, all derived from yoso.hw.dataflow (run: python docs/figures/connectivity.py).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from yoso.hw.dataflow import NAMED, Unrolling, unrollings  # noqa: E402

NAMES = {"W": "weights", "I": "inputs", "O": "psums"}


def movement(u: Unrolling, op: str) -> str:
    """How ``op`` moves on the array: held, forwarded along the rows or columns, broadcast, reduced or unicast."""
    if op in u.stationary:
        return "held in the RF"
    if u.array == "pixels2d" and op == "I":
        return "hop between neighbouring PEs"
    moved = "multicast" if u.array == "tree" else "forwarded"
    in_rows, in_cols = u.relevant(op)
    if op == "O":
        axes = [a for a, rel in (("down the rows", in_rows), ("along the cols", in_cols)) if not rel]
        return "reduced " + " and ".join(axes) if axes else "one per PE per step"
    if in_rows and not in_cols:
        return f"{moved} along each row"
    if in_cols and not in_rows:
        return f"{moved} down each column"
    return "broadcast to all PEs" if not (in_rows or in_cols) else "one word per PE per step"


def panel(ax, title: str, u: Unrolling) -> None:
    n = 4
    for i in range(n):
        for j in range(n):
            held = u.stationary or "-"
            ax.add_patch(plt.Rectangle((j, n - 1 - i), 0.8, 0.8, fc="#dde8f5", ec="#335"))
            ax.text(j + 0.4, n - 0.6 - i, held, ha="center", va="center", fontsize=7, color="#335")
    ax.annotate("", xy=(n + 0.1, -0.35), xytext=(-0.1, -0.35), arrowprops={"arrowstyle": "->"})
    ax.text(n / 2, -0.75, f"cols: {u.cols}", ha="center", fontsize=9)
    ax.annotate("", xy=(-0.35, -0.1), xytext=(-0.35, n + 0.1), arrowprops={"arrowstyle": "->"})
    ax.text(-0.7, n / 2, f"rows: {u.rows}", rotation=90, va="center", fontsize=9)
    lines = [f"{NAMES[op]}: {movement(u, op)}" for op in ("W", "I", "O")]
    if u.array != "systolic":
        lines.append(f"({u.array} array model)")
    ax.text(n / 2, -1.3, "\n".join(lines), ha="center", va="top", fontsize=7.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-1, n + 0.5)
    ax.set_ylim(-3.2, n + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")


def main() -> None:
    points = [
        (f"{name}" + (f" ({u.array})" if len(NAMED[name]) > 1 else ""), u) for name, us in NAMED.items() for u in us
    ]
    points += [(f"NAAS K-C, loop order {o}", unrollings("K-C", o)[0]) for o in ("KCP", "KPC")]
    fig, axes = plt.subplots(2, 4, figsize=(14, 8.5))
    for ax, (title, u) in zip(axes.ravel(), points):
        panel(ax, title, u)
    for ax in axes.ravel()[len(points) :]:
        ax.axis("off")
    fig.suptitle(
        "Spatial dataflows as points of one description: dimensions on rows x columns, the operand held", fontsize=12
    )
    fig.tight_layout()
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
