"""Supervised fine-tuning (QLoRA) on the question format with answer-only loss and choice shuffling, and
adapter merging (linear, TIES, DARE). Beside ``rag``: the same prompt builder, loader and scorer."""
