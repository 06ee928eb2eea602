"""Bokeh renderers: the fast layered renderer, the exact reference for layered scenes, and a naive baseline."""
