"""One module per subcommand: options -> request objects -> library calls, and progress. No heavy imports at
module level: `refocus --help` and shell completion must stay fast."""
