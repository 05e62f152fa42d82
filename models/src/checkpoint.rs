//! Checkpoint files (safetensors + metadata): written by the checkpoint helper.
