"""Judge backends. Each one imports its heavy dependency (litellm, vllm) only when used."""
