"""Generate stage: samplers that turn trained models into structures (:mod:`.dm2`: DDPM-style denoising)."""
