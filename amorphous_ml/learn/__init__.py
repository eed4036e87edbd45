"""Learn stage: the ML core every generative model shares.

* :mod:`.graphs` - batched periodic radius graphs for triclinic cells (vesin-torch), differentiable;
* :mod:`.data` - glasses from extxyz with per-structure labels, split by structure;
* :mod:`.train` - seeded, resumable, config-driven training loop; models saved as state_dict + JSON;
* :mod:`.models` - the networks (``dm2``: NequIP-style e3nn denoiser);
* :mod:`.denoise` - DM2's denoising objective and the train-on-glasses entry point.
"""
