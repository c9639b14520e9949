"""What the model reads and writes: prompts, protocols, CoT sentences, answer parsing, rewrites."""
