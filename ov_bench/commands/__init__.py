"""One module per ``ov-bench`` subcommand (see ov_bench/cli.py for the contract)."""
