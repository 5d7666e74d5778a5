"""l2lab: the training dynamics of deep networks with L2 regularization, in JAX.

Companion library of the l2lab book (Lewkowycz & Gur-Ari, NeurIPS 2020). Submodules:

* ``l2lab.theory``  -- Eqs. (1)-(3): kernel decay and the exact per-mode gradient-flow solutions.
* ``l2lab.kernels`` -- neural-tangents kernels of the paper's architectures.
* ``l2lab.data``    -- the embedded MNIST-5k subset and loaders for MNIST/Fashion-MNIST/CIFAR-10.
* ``l2lab.models``, ``l2lab.train``, ``l2lab.sweep``, ``l2lab.measure`` -- experiments.
* ``l2lab.plots``   -- plotly figures with static frame sliders.

Submodules are imported on demand (``import l2lab.theory``) so that ``import l2lab`` stays cheap.
"""
__version__ = "0.1.0"
