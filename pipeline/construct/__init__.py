"""What an instruction is and how it is drawn: the constraint taxonomy as a graph, composition trees
(Single / And / Chain / Selection), their rendering into prompts, verification plans compiled from them,
Selection conditions, feasibility and seed-tag rules, counterfactual siblings and hardened children.

Pure and deterministic: a seed, a category and a random seed give the same instruction on any machine."""
