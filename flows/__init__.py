"""Command-line flows: `python -m flows.build`, `python -m flows.simulate`."""
