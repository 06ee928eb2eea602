"""Batches of any job (image, video, stack): one task per input, run here, in local worker processes or on a Ray
cluster, with the inputs whose outputs are already there skipped. Above the jobs, which it runs; below the
commands, which describe the tasks and report the outcomes."""
