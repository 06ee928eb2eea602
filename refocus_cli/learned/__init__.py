"""The learned refocus engine: a diffusers model conditioned on the disparity difference to the new focal plane
and the blur level, its pipeline and prior; the stacking constraint as a loss and the training loop are the
`refocus train` job (`refocus_cli.learned.train`)."""
