"""`refocus bench`: speed, fidelity and real-photo refocusing of the engines, each figure beside its baseline.

    report = run_bench(BenchRequest(quick=True))      # refocus_cli.bench.run
    print(json.dumps(report.to_record()))

One module per part: `report` (request and result types), `plan` (what a quick and a full run measure),
`engines` (the renderers compared, and where a learned engine's checkpoint is looked for), `speed` and
`speed_case` (each timing in a fresh child process, for its peak memory), `video_speed`, `fidelity` (renderers
against the exact reference), `restore_gain`, `fusion`, `flicker`, `real` and `real_stacks` (captured focal
stacks refocused frame to frame, scored against the real frames), `clips` and `inputs` (the bench's own test
material), `process` (a child's wall time and peak memory), `run` (the sections in order) and `table` (rich
tables). Nothing heavy is imported here: the CLI imports this package lazily.
"""
