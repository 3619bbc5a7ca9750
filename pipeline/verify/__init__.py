"""Deciding: dependency-gated scoring of verification plans, the LLM yes/no judge and its calibration, the
task-fidelity gate, reasoning-trace quality, IFEval-format evaluation, tripwires, the RL reward functions,
judge-injection probes and the hack detectors of the publish screen."""
