"""Focal stacks: a focus sweep rendered from one photo, the stacking constraint, and fusing a captured stack."""
