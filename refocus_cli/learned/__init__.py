"""The learned refocus engine: a diffusers model conditioned on the disparity difference to the new focal plane
and the blur level, its pipeline, the stacking constraint as a loss, and the training loop."""
