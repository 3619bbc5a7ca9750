"""Publishing a run as a Hugging Face dataset: the configs (sft, rl, preference, tripwires, sft_reasoning,
contrast, siblings, gym), the hack screen of the rows they teach, the dataset card and its figures, the publish
folder that never loses a file it did not write, and the upload."""
