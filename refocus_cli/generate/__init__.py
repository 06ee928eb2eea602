"""`refocus generate`: a text-to-image diffusion model makes an all-in-focus scene, a depth model measures it,
and the thin-lens model blurs it for the camera settings asked for (the EXIF lens-blur paper's system)."""
