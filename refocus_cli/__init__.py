"""refocus: batch photo and video refocusing with thin-lens optics and occlusion-aware bokeh."""

__version__ = "0.1.0"
