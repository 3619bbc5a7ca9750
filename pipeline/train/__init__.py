"""The trainers' side of a published folder: TRL smoke runs and a `verifiers` environment, in the training environment.

The wing above publishing: it reads what `publish` wrote (with `datasets`, as a trainer would) and scores with
the reward functions of `pipeline.verify.reward`. `launch` runs in the pipeline environment and starts
`smoke` in `.venv-train`, where TRL and verifiers are installed; `verifiers_env` is the environment `vf-eval`
and `verifiers.load_environment` load by its module name."""
