"""Loss-curve PNGs of a training run from its JSON-lines logs (called by scripts/install-demo-model.mjs).

  /usr/bin/python3 scripts/plot-loss-curves.py OUT_DIR NAME=LOG.jsonl [NAME=LOG.jsonl …]

Per log: OUT_DIR/loss-NAME.png — the training loss per logged step (thin) with a moving average (thick), and the
validation PSNR events on a second axis. matplotlib (Debian's python3-matplotlib) with the Agg backend, no display.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def moving_average(v, n):
    out, s = [], 0.0
    for i, x in enumerate(v):
        s += x
        if i >= n:
            s -= v[i - n]
        out.append(s / min(i + 1, n))
    return out


def plot(name, recs, path):
    train = [r for r in recs if "loss" in r and "event" not in r]
    val = [r for r in recs if r.get("event") == "validation" and "val_psnr" in r]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    if train:
        x, y = [r["step"] for r in train], [r["loss"] for r in train]
        ax.plot(x, y, lw=0.6, alpha=0.45, color="tab:blue", label="loss")
        ax.plot(x, moving_average(y, max(1, len(y) // 20)), lw=1.8, color="tab:blue", label="loss (moving average)")
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if val:
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in val], [r["val_psnr"] for r in val], "o-", color="tab:red", label="validation PSNR (dB)")
        ax2.set_ylabel("validation PSNR (dB)")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper right", fontsize=8)
    ax.set_title(f"{name}: {len(train)} logged steps" + (f", last validation {val[-1]['val_psnr']:.2f} dB" if val else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv):
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    for spec in argv[1:]:
        name, log = spec.split("=", 1)
        plot(name, read(log), os.path.join(out, f"loss-{name}.png"))
        print(os.path.join(out, f"loss-{name}.png"))


if __name__ == "__main__":
    main(sys.argv[1:])
