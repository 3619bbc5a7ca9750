"""Training smoke runs: a few TRL steps over a published folder, in the training environment.

The wing above publishing: it reads what `publish` wrote (with `datasets`, as a trainer would) and scores with
the reward functions of `pipeline.verify.reward`. `launch` runs in the pipeline environment and starts
`smoke` in `.venv-train`, the only place TRL is installed."""
