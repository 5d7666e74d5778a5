"""Layout of the data wing: what ``l2lab.data`` exports, that importing it stays cheap (no
jax). The size and private-name rules of every module are tests/test_layout.py's."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import l2lab.data

DATA_DIR = pathlib.Path(l2lab.data.__file__).parent

# Names of l2lab.data used by the engine, the bench modules, the book and the tests.
USED = ("Dataset", "ChecksumError", "DATASET_NAMES", "DATASET_TITLES", "FASHION_MNIST_DEBIAN_DIR", "OFFLINE_DEFAULT",
        "default_data_dir", "mnist5k", "load_idx", "load_mnist", "load_fashion_mnist",
        "load_cifar10", "load_dataset", "download_dataset", "train_test_split", "paper_split",
        "pad_to", "downsample", "flatten", "standardize", "one_hot", "even_odd_labels",
        "random_flip", "random_crop", "mixup", "augment")


def test_exports_every_used_name():
    assert set(USED) <= set(l2lab.data.__all__)
    for name in l2lab.data.__all__:
        assert getattr(l2lab.data, name) is not None, name
    assert l2lab.data.augment.__module__ == "l2lab.data.augmentation"
    assert set(l2lab.data.DATASET_TITLES) == set(l2lab.data.DATASET_NAMES)


def test_import_does_not_import_jax():
    code = ("import sys, l2lab.data as d; assert 'jax' not in sys.modules, 'jax imported'; "
            "d.paper_split(n_train=20, n_test=10); assert 'jax' not in sys.modules; "
            "d.augment; assert 'jax' in sys.modules")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
