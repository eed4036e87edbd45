"""Generate stage: samplers that turn trained models into structures (:mod:`.dm2`: DDPM-style denoising) and
the generation driver every model kind shares (:mod:`.batch`)."""
