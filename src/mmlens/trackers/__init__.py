"""Optional trackers: Weights & Biases (``wandb``) and the Hugging Face Hub (``huggingface_hub``),
both in the ``trackers`` extra. Each logs a finished run: its results (metrics with CIs,
provenance) and its samples."""
