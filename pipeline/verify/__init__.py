"""Deciding: dependency-gated scoring of verification plans, the LLM yes/no judge and its calibration, the
task-fidelity gate, reasoning-trace quality, IFEval-format evaluation, tripwires, the RL reward functions,
judge-injection probes, the hack detectors of the publish screen and the held-out overlap check (an allowed
constraint that behaves like a held-out one)."""
