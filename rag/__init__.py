"""Questions in, answers out: data layer, router, prompts, LLM backends, scoring, prediction."""
