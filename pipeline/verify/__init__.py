"""Deciding: dependency-gated scoring of verification plans, the LLM yes/no judge and its calibration, the
task-fidelity gate, reasoning-trace quality, IFEval-format evaluation, tripwires and the RL reward functions."""
