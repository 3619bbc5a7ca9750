"""Seed selection: load seed tasks from files or Hugging Face datasets, clean and deduplicate them, drop
near duplicates, select a diverse subset and decontaminate against benchmark prompts."""
