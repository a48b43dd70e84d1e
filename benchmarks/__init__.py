"""swinpose benchmarks: latency/FPS per backend, precision and batch, and AP parity against PyTorch."""
