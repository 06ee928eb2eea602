"""Depth providers: where the depth of a photo comes from (a file, metadata embedded in the photo, ...)."""
