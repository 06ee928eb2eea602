"""Readers and writers: still images (sRGB files <-> linear-light tensors), depth files, atomic output."""
