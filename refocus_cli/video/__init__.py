"""Video: streaming frames through windowed models, steady depth in time, and the refocusing loop."""
