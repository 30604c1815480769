"""The BoTorch GP-BO engine (``engine``) and its Optuna sampler (``sampler``)."""
