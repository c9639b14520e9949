"""Audio input: reading and writing clips, perturbations, speech synthesis for hints."""
