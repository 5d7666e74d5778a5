"""A small synthetic classification problem shared by the engine and sweep tests."""
import numpy as np

from l2lab.data import Dataset


def toy(n=96, d=10, k=3, seed=0):
    """(train, test) Datasets: 64 training and n - 64 test points in d dimensions, k classes given
    by a random linear map."""
    r = np.random.RandomState(seed)
    x = r.randn(n, d).astype(np.float32)
    y = np.argmax(x @ r.randn(d, k), 1).astype(np.int32)
    return Dataset(x[:64], y[:64], "toy-train", k), Dataset(x[64:], y[64:], "toy-test", k)
