"""Golden values for src/kernel/fit/smooth.ts (Butterworth design, lfilter_zi, filtfilt).

Regenerate (from the repository root, Debian's numpy/scipy):
    /usr/bin/python3 test/fit/golden/smooth.py > test/fit/fixtures/smooth.json
"""
import json
import numpy as np
from scipy import signal

rng = np.random.default_rng(7)
out = {"scipy": __import__("scipy").__version__, "butter": [], "filtfilt": []}
for wn in [0.05, 0.25, 1 / 3, 0.5, 0.8]:
    b, a = signal.butter(2, wn)
    out["butter"].append({"wn": wn, "b": b.tolist(), "a": a.tolist(), "zi": signal.lfilter_zi(b, a).tolist()})
for n, wn in [(60, 0.25), (220, 4 / 12), (12, 0.3), (5, 0.4)]:
    t = np.arange(n)
    x = np.sin(t / 7.0) + 0.3 * rng.standard_normal(n) + 0.01 * t
    b, a = signal.butter(2, wn)
    padlen = min(3 * max(len(a), len(b)), n - 1)
    y = signal.filtfilt(b, a, x, padlen=padlen)
    out["filtfilt"].append({"wn": wn, "x": x.tolist(), "y": y.tolist()})
print(json.dumps(out))
