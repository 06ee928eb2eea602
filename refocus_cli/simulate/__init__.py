"""`refocus simulate`: training data for refocus models (DiffCamera's simulation pipeline).

For each scene (a procedural layered scene, or a photo with its depth) it renders pairs of the same scene at
different focus planes, blur levels and aperture shapes, and a stacking group (the scene at several focus
planes covering its depth range, each frame's in-focus mask and their all-in-focus composite), and writes
them with a manifest row per sample. `pipeline.simulate` is the library entry point.
"""
