"""Focus stacking as an algorithm on tensors: align the frames of a captured stack (robust similarity fit) and
fuse them into one sharp image and a depth from focus. The `refocus stack --fuse` job reads and writes the files."""
